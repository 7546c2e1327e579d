"""``trtbench data check``: is a downloaded dataset what the loader expects, before hours are spent training on it?

It loads the dataset as training would, stats every file the splits name, and reads a sample of
chips per split: per band the raw value range, the no-data fraction and the mean/std after
normalisation; the label values found against the classes expected; the share of labelled pixels
lost because a kept band is no-data. Each problem comes with its fix. Errors are what would make
training wrong (a band whose normalised mean is outside ±3 or whose normalised spread is near zero,
which is what statistics in the wrong units produce; labels outside the classes; missing files;
most labelled pixels lost); warnings are what a person should know (skipped chips, empty bands).
``trtbench train`` runs the same check on a smaller sample at start.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import TrtbenchError
from .catalog import DataBundle, DataOptions, load_data
from .chips import ChipDataset

MEAN_LIMIT = 3.0      # |normalised mean| beyond this: the statistics do not fit the files
STD_FLOOR = 0.01      # normalised std below this (raw data not constant): statistics in the wrong units
LOST_LIMIT = 0.5      # share of labelled pixels dropped because a kept band is no-data
SAMPLE = 8            # chips read per split by `trtbench data check`
TRAIN_SAMPLE = 3      # ... and by `trtbench train` at start


@dataclass
class Finding:
    level: str        # error (training would be wrong) | warning
    problem: str
    fix: str


@dataclass
class BandStats:
    band: str
    raw_min: float | None
    raw_max: float | None
    nodata_fraction: float
    norm_mean: float | None
    norm_std: float | None
    table_mean: float
    table_std: float


@dataclass
class CheckReport:
    dataset: str
    root: str
    split: str
    units: str
    counts: dict[str, int] = field(default_factory=dict)
    sampled: dict[str, int] = field(default_factory=dict)
    bands: list[BandStats] = field(default_factory=list)
    labels: dict[str, Any] = field(default_factory=dict)
    missing_files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": not self.errors}

    def raise_if_wrong(self) -> None:
        """A :class:`TrtbenchError` naming the first problem (and how many there are) when training would be wrong."""
        if self.errors:
            first = self.errors[0]
            more = f" (and {len(self.errors) - 1} more problem(s))" if len(self.errors) > 1 else ""
            raise TrtbenchError(f"{self.dataset} at {self.root}: {first.problem}{more}", first.fix)


def check_data(options: DataOptions, sample: int = SAMPLE) -> CheckReport:
    """Load the dataset described by ``options`` and check it; a layout that does not load is an error finding."""
    try:
        bundle = load_data(options)
    except TrtbenchError as exc:
        report = CheckReport(options.dataset, str(options.root), options.split, "")
        report.findings.append(Finding("error", exc.problem, exc.fix or "check the layout in trtbench.data.published"))
        return report
    return check_bundle(bundle, sample)


def check_bundle(bundle: DataBundle, sample: int = SAMPLE) -> CheckReport:
    """Check a loaded dataset: files of every split, and ``sample`` chips per split read and measured."""
    report = CheckReport(bundle.name, bundle.root, bundle.split_note, bundle.sensor.units, notes=list(bundle.notes))
    report.findings += [Finding("warning", note, "see trtbench.data.published for why") for note in bundle.notes]
    report.counts = {s: len(d) for s, d in bundle.splits.items()}
    for split, data in bundle.splits.items():
        for record in data.records:
            paths = [p for group in record.images for p in group] + [record.label]
            report.missing_files += [f"{split}: {p}" for p in paths if not Path(p).is_file()]
    if report.missing_files:
        report.findings.append(Finding("error", f"{len(report.missing_files)} file(s) the splits name are missing, "
                                                f"e.g. {report.missing_files[0]}",
                                       "finish the download or re-extract the archive"))
    acc = _Accumulator(bundle)
    for split, data in bundle.splits.items():
        chosen = _spread(len(data), sample)
        report.sampled[split] = len(chosen)
        for index in chosen:
            acc.add(data, index)
    report.bands, report.labels = acc.bands(), acc.labels()
    report.findings += acc.findings()
    return report


def _spread(count: int, sample: int) -> list[int]:
    """Up to ``sample`` indices spread evenly over ``count`` items (deterministic: the same chips every time)."""
    return sorted({int(i) for i in np.linspace(0, count - 1, min(sample, count))}) if count else []


class _Accumulator:
    """Running per-band sums over the sampled chips, label values and lost labelled pixels."""

    def __init__(self, bundle: DataBundle):
        self.bundle = bundle
        n = len(bundle.sensor.bands)
        self.mean = np.asarray(bundle.sensor.mean, np.float64)
        self.std = np.asarray(bundle.sensor.std, np.float64)
        self.sums = np.zeros((3, n))          # count, sum, sum of squares of normalised valid values
        self.total = np.zeros(n)              # pixels seen per band
        self.lo = np.full(n, np.inf)
        self.hi = np.full(n, -np.inf)
        self.values: set[int] = set()
        self.labelled = self.lost = 0
        self.unreadable: list[str] = []  # includes labels outside the classes: the loader refuses those

    def add(self, data: ChipDataset, index: int) -> None:
        """Read one chip's label and pixels and add them to the sums (a chip that does not read is recorded)."""
        record = data.records[index]
        try:
            target = data.read_label(index)
            pixels = data.read_pixels(index, target.shape if target.ndim == 2 else None)
        except TrtbenchError as exc:
            self.unreadable.append(f"{record.name}: {exc.problem}")
            return
        flat = pixels.reshape(pixels.shape[0], -1).astype(np.float64)
        valid = ~np.isnan(flat)
        self.total += flat.shape[1]
        norm = (flat - self.mean[:, None]) / self.std[:, None]
        for b in range(flat.shape[0]):
            v, z = flat[b, valid[b]], norm[b, valid[b]]
            if v.size:
                self.lo[b], self.hi[b] = min(self.lo[b], v.min()), max(self.hi[b], v.max())
                self.sums[:, b] += (z.size, z.sum(), (z**2).sum())
        if target.ndim == 2:
            self._labels(target, valid.all(0).reshape(target.shape))

    def _labels(self, target: np.ndarray, complete: np.ndarray) -> None:
        if self.bundle.task == "regression":
            labelled = np.isfinite(target)
        else:
            labelled = target != self.bundle.ignore_index
            self.values |= {int(v) for v in np.unique(target[labelled])}
        self.labelled += int(labelled.sum())
        self.lost += int((labelled & ~complete).sum())

    def bands(self) -> list[BandStats]:
        out = []
        for b, band in enumerate(self.bundle.sensor.bands):
            n, s, ss = self.sums[:, b]
            mean = s / n if n else None
            std = float(np.sqrt(max(ss / n - mean**2, 0.0))) if n else None
            out.append(BandStats(band.name, float(self.lo[b]) if n else None, float(self.hi[b]) if n else None,
                                 float(1 - n / self.total[b]) if self.total[b] else 1.0,
                                 None if mean is None else float(mean), std, band.mean, band.std))
        return out

    def labels(self) -> dict[str, Any]:
        out: dict[str, Any] = {"labelled_pixels": self.labelled,
                               "lost_to_nodata": self.lost / self.labelled if self.labelled else 0.0}
        if self.bundle.task != "regression":
            out |= {"classes": self.bundle.class_names, "ignore_index": self.bundle.ignore_index,
                    "values_found": sorted(self.values)}
        return out

    def findings(self) -> list[Finding]:
        out = [Finding("error", f"chip {u}", "fix or replace that chip's files (training would stop there)")
               for u in self.unreadable]
        units = self.bundle.sensor.units or "the table's units"
        for stats in self.bands():
            if stats.norm_mean is None:
                out.append(Finding("warning", f"band {stats.band} is no-data on every sampled chip",
                                   "drop it with --bands, or check the files' no-data value"))
                continue
            where = (f"band {stats.band}: raw values {stats.raw_min:.4g}..{stats.raw_max:.4g}, normalised with "
                     f"mean {stats.table_mean:.4g} / std {stats.table_std:.4g} ({units})")
            fix = ("the normalisation statistics do not fit the files: check the files' scale (e.g. reflectance "
                   "0-1 versus x 10000) against the dataset's documented units")
            if abs(stats.norm_mean) > MEAN_LIMIT:
                out.append(Finding("error", f"{where} gives mean {stats.norm_mean:.3g} (outside ±{MEAN_LIMIT:g})", fix))
            elif stats.norm_std < STD_FLOOR and stats.raw_max > stats.raw_min:
                out.append(Finding("error", f"{where} gives std {stats.norm_std:.3g} (near 0: inputs carry almost "
                                            "no signal)", fix))
        if self.labelled == 0:
            out.append(Finding("warning", "no labelled pixel in the sampled chips", "check the masks (all no-data?)"))
        elif self.lost / self.labelled > LOST_LIMIT:
            worst = max(self.bands(), key=lambda s: s.nodata_fraction)
            out.append(Finding("error", f"{self.lost / self.labelled:.0%} of labelled pixels would be dropped because "
                                        f"a kept band is no-data (worst: {worst.band}, {worst.nodata_fraction:.0%} "
                                        "no-data)", f"drop band {worst.band} with --bands"))
        return out


def format_report(report: CheckReport) -> list[str]:
    """Human-readable lines of a report (the command prints them; the JSON holds the same facts)."""
    lines = [f"{report.dataset} at {report.root}", f"  splits: {report.split}"]
    if report.counts:
        lines.append("  chips: " + ", ".join(f"{s} {n} (sampled {report.sampled.get(s, 0)})"
                                             for s, n in report.counts.items()))
    if report.bands:
        lines.append(f"  {'band':<10}{'raw min':>12}{'raw max':>12}{'no-data':>9}{'norm mean':>11}{'norm std':>10}")
    def num(x: float | None) -> str:
        return "-" if x is None else f"{x:.4g}"

    for b in report.bands:
        lines.append(f"  {b.band:<10}{num(b.raw_min):>12}{num(b.raw_max):>12}{b.nodata_fraction:>9.1%}"
                     f"{num(b.norm_mean):>11}{num(b.norm_std):>10}")
    if "values_found" in report.labels:
        lines.append(f"  label values found: {report.labels['values_found']} (classes {report.labels['classes']}, "
                     f"ignore {report.labels['ignore_index']})")
    if report.labels:
        lines.append(f"  labelled pixels lost to no-data: {report.labels['lost_to_nodata']:.1%}")
    for finding in report.findings:
        lines += [f"  [{finding.level}] {finding.problem}", f"    fix: {finding.fix}"]
    lines.append("ok: training can start" if not report.errors else f"{len(report.errors)} problem(s): training "
                                                                     "would be wrong")
    return lines
