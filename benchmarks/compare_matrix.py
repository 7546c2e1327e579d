"""The deployment matrix of issue 15 on this machine, fitted into a time budget (default 60 minutes): ``trtbench
compare`` over Clay base, the UNet and every registered zoo model (listed from the registry when it runs, so
models registered later join) x the CPU backends x every precision (bf16 where the CPU has it) x batch 1 and 8
at 224 px, then the table.

**How it fits.** Before the matrix, a *probe* runs the very same comparison on one small model (``clay_tiny``)
with the leanest timing settings of :data:`LADDER` (its cost counts against the budget), and is timed. Its rows give, per backend, precision and
batch, the latency per GFLOP of this machine; its wall time minus its timing gives the rest (exports, INT8
calibration, parity and accuracy). Each model's cost is then predicted from its GFLOPs at 224 px
(``trtbench/models/gflops.json``, scaled from the model's input size by pixel count; counted now if missing):
the rest scaled by its GFLOPs ratio to the probe (never below the probe's), and its timing from the predicted
latencies and the settings. The richest settings of the ladder whose prediction fits the budget (less the
probe's own time and a margin) are chosen; the estimate, per model and in total, is printed before starting and
the elapsed time at the end. If even the leanest settings do not fit, it says so, names the models that cost
most, and stops (``--over-budget`` runs anyway). The prediction is an estimate on a shared machine, not a
promise: the closing line prints the measured time beside it.

The evaluation set is one 224 x 224 window of the real Sen1Floods11 chip with its hand label
(``../shared/data``, or ``TRTBENCH_SHARED_DATA``), written as a labelled chip folder into the output folder:
one tile per model keeps the accuracy phase short; parity is measured on its 50 176 pixels. Weights are seeded
random ones (speed, memory, GFLOPs and parity do not depend on them; the task metrics of random heads are not
meaningful, and the table's assumptions say so). Test-sized variants are left out, and of models registered
under several names (``clay_v1`` = ``clay_base``) the first is kept. The comparison resumes: run it again with
the same ``--out`` and only missing or failed cells are done (the estimate then overstates the rest).

    python benchmarks/compare_matrix.py --estimate         # the probe, the cells and the estimate; no matrix
    python benchmarks/compare_matrix.py                    # the real matrix (run it on a quiet machine)
    python benchmarks/compare_matrix.py --drop-to-fit      # leave the costliest models out until it fits
    python benchmarks/compare_matrix.py --quick --out /tmp/cmp_quick   # two tiny models at 64 px, to check it
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import rasterio
from rasterio.windows import Window

from trtbench.cli import cli

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("TRTBENCH_SHARED_DATA", REPO.parent / "shared" / "data"))
FLOODS = SHARED_DATA / "sen1floods11"
BACKENDS = ("torch", "onnxruntime", "openvino")
PRECISIONS = ("fp32", "fp16", "int8", "bf16")   # bf16 cells say why where the CPU lacks AMX/AVX512-BF16
BATCHES = (1, 8)
SIZE = 224
QUICK_MODELS = ("clay_tiny", "unet_small")
PROBE_MODEL = "clay_tiny"
TEST_VARIANTS = ("tiny", "small", "vit_tiny", "resnet_tiny", "tiny_tl")   # test-sized variants
REQUIRED = ("clay_base", "unet")   # issue 15 names them: never left out to fit
MARGIN = 0.9   # plan for 90% of what is left of the budget: the machine is shared, estimates drift


@dataclass(frozen=True)
class Timing:
    """One rung of the ladder: ``trtbench compare``'s timing options."""

    rounds: int
    warmup: int
    min_iters: int
    min_time: float

    def args(self) -> list[str]:
        return ["--rounds", str(self.rounds), "--warmup", str(self.warmup), "--min-iters", str(self.min_iters),
                "--min-time", str(self.min_time)]

    def seconds(self, latency_s: float) -> float:
        """Time one cell's timing takes at ``latency_s`` per batch: every round's warm-up and timed runs, plus
        the one untimed run that samples peak memory."""
        return latency_s + self.rounds * (self.warmup * latency_s + max(self.min_iters * latency_s, self.min_time))


# Richest first. Three interleaved rounds are what compare_backends.py uses; one round cannot show drift. The
# leanest rung has no warm-up run of its own: the untimed run that samples peak memory precedes the timing.
LADDER = (Timing(3, 1, 5, 0.5), Timing(2, 1, 3, 0.2), Timing(2, 1, 2, 0.0), Timing(1, 1, 1, 0.0),
          Timing(1, 0, 1, 0.0))


def real_models() -> list[str]:
    """Clay base, the UNet, then every other registered model once, without the test-sized variants."""
    from trtbench.models import list_models
    from trtbench.models.registry import get_spec

    seen, names = set(), []
    for name in ["clay_base", "unet", *list_models()]:
        spec = get_spec(name)
        if spec.facts.variant in TEST_VARIANTS or (spec.family, spec.facts.variant) in seen:
            continue
        seen.add((spec.family, spec.facts.variant))
        names.append(name)
    return names


def gflops_at(name: str, size: int) -> float:
    """The model's GFLOPs per image at ``size``: its count at its input size (the models table's cache, or
    counted now), scaled by pixel count (exact for convolutions, a slight underestimate for attention)."""
    from trtbench.models.command import cached_gflops, count_gflops, gflops_key
    from trtbench.models.registry import get_spec

    counted = cached_gflops().get(gflops_key(name))
    if counted is None:
        print(f"  {name}: GFLOPs not in the models table's cache, counting now", flush=True)
        counted = count_gflops(name)
    return counted["gflops"] * (size / get_spec(name).facts.input_size) ** 2


def write_chip_folder(root: Path, size: int) -> Path:
    """images/spain.tif and masks/spain.tif: a ``size`` window of the real flood chip and of its hand label."""
    for sub, name in (("images", "Spain_7370579_S2Hand.tif"), ("masks", "Spain_7370579_LabelHand.tif")):
        (root / sub).mkdir(parents=True, exist_ok=True)
        with rasterio.open(FLOODS / name) as ds:
            window = Window(192, 192, size, size)
            profile = ds.profile | {"width": size, "height": size, "transform": ds.window_transform(window),
                                    "tiled": False}
            profile.pop("blockxsize", None), profile.pop("blockysize", None)
            with rasterio.open(root / sub / "spain.tif", "w", **profile) as out:
                out.write(ds.read(window=window))
                out.descriptions = ds.descriptions
    return root


def compare(models: list[str], chips: Path, size: int, batches: tuple[int, ...], timing: Timing, out: Path,
            scheduler: str | None = None) -> int:
    """``trtbench compare`` in this process; its exit status."""
    argv = ["compare", "--models", ",".join(models), "--data", str(chips), "--sensor", "sentinel-2-l1c",
            "--backends", ",".join(BACKENDS), "--precisions", ",".join(PRECISIONS),
            "--batch", ",".join(map(str, batches)), "--input-size", str(size), *timing.args(), "-o", str(out)]
    if scheduler:
        argv += ["--scheduler", scheduler]
    print("trtbench " + " ".join(argv), flush=True)
    from trtbench.errors import TrtbenchError

    try:
        code = cli.main(argv, standalone_mode=False)
    except TrtbenchError as exc:
        print(f"error: {exc.problem}\n  fix: {exc.fix}", file=sys.stderr)
        return 2
    return int(code or 0)


@dataclass
class Probe:
    """What the probe measured: per (backend, precision, batch) seconds per batch per GFLOP, and the rest."""

    gflops: float
    per_gflop: dict[tuple[str, str, int], float]
    rest_s: float
    wall_s: float


def run_probe(chips: Path, out: Path, timing: Timing) -> Probe:
    start = time.perf_counter()
    code = compare([PROBE_MODEL], chips, SIZE, BATCHES, timing, out)
    wall = time.perf_counter() - start
    if code == 2:
        raise SystemExit("the probe was refused (exit 2): see above; the matrix would be too")
    rows = json.loads((out / "results.json").read_text())
    gflops = gflops_at(PROBE_MODEL, SIZE)
    timed = [r for r in rows if r["status"] == "ok"]
    if not timed:
        raise SystemExit(f"the probe timed no cell ({out / 'results.md'}): nothing to estimate from")
    per_gflop = {(r["backend"], r["precision"], r["batch"]): r["latency_p50_ms"] / 1e3 / gflops for r in timed}
    timing_s = sum(timing.seconds(r["latency_p50_ms"] / 1e3) for r in timed)
    return Probe(gflops, per_gflop, max(wall - timing_s, 0.0), wall)


def estimate(probe: Probe, gflops: dict[str, float], timing: Timing) -> dict[str, float]:
    """Predicted seconds per model: the probe's rest scaled by GFLOPs (at least the probe's), plus the timing
    of every cell the probe timed, at the model's predicted latencies."""
    return {name: probe.rest_s * max(g / probe.gflops, 1.0)
            + sum(timing.seconds(k * g) for k in probe.per_gflop.values()) for name, g in gflops.items()}


def plan(probe: Probe, gflops: dict[str, float], budget_s: float) -> tuple[Timing, dict[str, float], bool]:
    """The richest rung whose estimate fits ``budget_s``, its estimate per model, and whether it fits."""
    for timing in LADDER:
        costs = estimate(probe, gflops, timing)
        if sum(costs.values()) <= budget_s:
            return timing, costs, True
    return LADDER[-1], estimate(probe, gflops, LADDER[-1]), False


def cells_of(models: list[str]) -> int:
    return len(models) * len(BACKENDS) * len(PRECISIONS) * len(BATCHES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Two tiny models at 64 px, batch 1 and 2, one round.")
    parser.add_argument("--estimate", action="store_true", help="Run the probe, print the cells and the estimate, "
                                                                "and stop before the matrix.")
    parser.add_argument("--out", type=Path, default=Path("compare_matrix_out"), help="Output folder (resumable).")
    parser.add_argument("--models", help="Comma-separated registry names instead of the matrix's models.")
    parser.add_argument("--budget-min", type=float, default=60.0, help="Minutes the whole run may take [60].")
    parser.add_argument("--over-budget", action="store_true", help="Run even when the estimate exceeds the budget.")
    parser.add_argument("--drop-to-fit", action="store_true", help="When the estimate exceeds the budget, leave out "
                        "the costliest models (never Clay base or the UNet) until it fits, and say which.")
    parser.add_argument("--scheduler", help="Dask scheduler address for the exports and accuracy cells.")
    args = parser.parse_args()
    start = time.perf_counter()
    if args.quick:
        chips = write_chip_folder(args.out / "chips-64", 128)
        raise SystemExit(compare(list(QUICK_MODELS), chips, 64, (1, 2), LADDER[-1], args.out / "cmp-quick"))
    chips = write_chip_folder(args.out / "chips", SIZE)
    models = args.models.split(",") if args.models else real_models()
    print(f"matrix: {len(models)} models x {len(BACKENDS)} backends x {len(PRECISIONS)} precisions x batch "
          f"{','.join(map(str, BATCHES))} at {SIZE} px = {cells_of(models)} cells", flush=True)
    print("models: " + ", ".join(models), flush=True)
    gflops = {name: gflops_at(name, SIZE) for name in models}
    print(f"probe: {PROBE_MODEL}, the same comparison with the leanest timing settings", flush=True)
    probe = run_probe(chips, args.out / "probe", LADDER[-1])
    left = args.budget_min * 60 - (time.perf_counter() - start)
    timing, costs, fits = plan(probe, gflops, left * MARGIN)
    print(f"\nprobe: {probe.wall_s:.0f} s ({probe.rest_s:.0f} s exports/parity/accuracy, {probe.gflops:.1f} GFLOPs)")
    print(f"estimate with rounds={timing.rounds} warmup={timing.warmup} min_iters={timing.min_iters} "
          f"min_time={timing.min_time} s, one 224 px evaluation tile per model:")
    for name in sorted(costs, key=costs.get, reverse=True):
        print(f"  {name:<24} {gflops[name]:8.1f} GFLOPs  ~{costs[name] / 60:5.1f} min")
    total = sum(costs.values())
    print(f"  total ~{total / 60:.0f} min for {cells_of(models)} cells; budget left {left / 60:.0f} min "
          f"({'fits' if fits else 'does NOT fit'})", flush=True)
    dropped = []
    while not fits and args.drop_to_fit and len(costs) > len(REQUIRED):
        dropped.append(max((m for m in costs if m not in REQUIRED), key=costs.get))
        timing, costs, fits = plan(probe, {m: g for m, g in gflops.items() if m in costs and m != dropped[-1]},
                                   left * MARGIN)
    if dropped:
        models = [m for m in models if m in costs]
        total = sum(costs.values())
        print(f"left out to fit the budget: {', '.join(dropped)}; running {', '.join(models)} "
              f"(~{total / 60:.0f} min, rounds={timing.rounds} warmup={timing.warmup} min_iters={timing.min_iters})",
              flush=True)
    if not fits:
        heavy = sorted(costs, key=costs.get, reverse=True)[:3]
        print(f"even the leanest settings exceed the budget; the costliest models are {', '.join(heavy)} "
              "(--drop-to-fit leaves the costliest out, --models chooses, --over-budget runs anyway)", file=sys.stderr)
        if not args.over_budget:
            raise SystemExit(2)
    if args.estimate:
        return
    code = compare(models, chips, SIZE, BATCHES, timing, args.out / "cmp", args.scheduler)
    elapsed = time.perf_counter() - start
    print(f"\nelapsed {elapsed / 60:.1f} min (estimated {(total + probe.wall_s) / 60:.1f} min, budget "
          f"{args.budget_min:.0f} min); table: {args.out / 'cmp' / 'results.md'}, report: "
          f"{args.out / 'cmp' / 'report.html'}")
    raise SystemExit(code)


if __name__ == "__main__":
    main()
