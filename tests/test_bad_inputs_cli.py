"""Every command answers every bad input the same way (the acceptance test of issue 12).

A table: each command against the catalogue of bad files (``bad_inputs.py``: zero-byte, truncated, junk,
text and foreign GeoTIFFs, labels, ONNX files, engines, sidecars and checkpoints), against outputs it
cannot write (a folder that refuses new files, an existing folder where a file goes, a missing folder, a
format it cannot write) and against out-of-range options. Each case must:

- exit with code 2 (a user mistake),
- print no Python traceback,
- print ``error: <problem>`` naming the input (the file, or the option) and a line ``  fix: <fix>``,
- leave nothing behind: the case's folder holds exactly what it held before the command ran.

Outputs that no user can write even as root: ``/proc`` refuses new files whatever the permission bits.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from bad_inputs import BadFile, catalogue
from cli_helpers import run_cli
from test_data_tiles import SENSOR, write_floods_tiles

from trtbench.cli_options import EXIT_USER_MISTAKE

UNWRITABLE = "/proc/trtbench-cannot-write-here"
BENCH_FAST = ("--backends", "onnxruntime", "--batch-sizes", "1", "--warmup", "0", "--min-iters", "1",
              "--min-time", "0")


@dataclass(frozen=True)
class Inputs:
    """Valid inputs of every kind; a case damages a copy or points one option at a bad file."""

    onnx: Path        # clay_tiny water segmentation, 13 Sentinel-2 L1C bands, input 128, patch 8
    ckpt: Path        # the same model as a trtbench checkpoint
    chip: Path        # real Sentinel-2 L1C chip (13 named bands)
    label: Path       # its hand label
    runs: Path        # a folder holding one experiment.json, for `report`
    chips: Path       # a `chips` dataset (real Sen1Floods11 tiles, S1 + S2 bands), for `train`

    def good(self, kind: str) -> Path:
        return {"geotiff": self.chip, "label": self.label, "onnx": self.onnx, "engine": self.onnx,
                "sidecar": self.onnx, "checkpoint": self.ckpt}[kind]


# A command line for a bad file: {bad} is the bad file, {case} the case's folder, the rest are Inputs fields.
BAD_FILE_COMMANDS: dict[str, dict[str, tuple[str, ...]]] = {
    "geotiff": {
        "eval": ("eval", "--engine", "{onnx}", "--data", "{bad}"),
        "predict": ("predict", "{onnx}", "{bad}", "-o", "{case}/out", "--quiet"),
        "bench": ("bench", "{onnx}", "--data", "{bad}", *BENCH_FAST),
        "export-int8": ("export", "{onnx}", "--precision", "int8", "--calib-data", "{bad}", "--calib-samples", "2",
                        "-o", "{case}/int8.onnx"),
    },
    "label": {
        "eval": ("eval", "--engine", "{onnx}", "--data", "{chip}", "--labels", "{bad}"),
    },
    "onnx": {
        "eval": ("eval", "--engine", "{bad}", "--data", "{chip}"),
        "bench": ("bench", "{bad}", *BENCH_FAST),
        "flops": ("flops", "{bad}"),
        "check": ("check", "{bad}"),
        "export": ("export", "{bad}", "--precision", "fp16", "-o", "{case}/fp16.onnx"),
        "predict": ("predict", "{bad}", "{chip}", "-o", "{case}/out", "--quiet"),
        "stac": ("stac", "{bad}", "-o", "{case}/item.json"),
        "triton": ("triton", "{bad}", "-o", "{case}/repo"),
        "compare": ("compare", "--models", "{bad}", "--data", "{chips}", "--sensor", SENSOR, "--input-size", "64",
                    "-o", "{case}/cmp"),
    },
    "engine": {
        "eval": ("eval", "--engine", "{bad}", "--data", "{chip}"),
        "predict": ("predict", "{bad}", "{chip}", "-o", "{case}/out", "--quiet"),
    },
    "checkpoint": {
        "export": ("export", "{bad}", "-o", "{case}/model.onnx"),
        "eval-reference": ("eval", "--engine", "{onnx}", "--data", "{chip}", "--reference", "{bad}"),
        "flops": ("flops", "{bad}"),
        "bench": ("bench", "{bad}", *BENCH_FAST),
        "compare": ("compare", "--models", "{bad}", "--data", "{chips}", "--sensor", SENSOR, "--input-size", "64",
                    "-o", "{case}/cmp"),
        "train": ("train", "clay", "--variant", "tiny", "--checkpoint", "{bad}", "--dataset", "chips", "--data-root",
                  "{chips}", "--sensor", SENSOR, "--epochs", "1", "--input-size", "32", "--quiet", "-o", "{case}/run"),
    },
}
BAD_FILE_COMMANDS["sidecar"] = BAD_FILE_COMMANDS["engine"]
# Commands that read a `chips` dataset: the bad image (or mask) joins good chips in {case}/chips, named to sort first.
CHIPS_COMMANDS = {
    "data-check": ("data", "check", "--dataset", "chips", "--data-root", "{case}/chips", "--sensor", SENSOR),
    "train": ("train", "unet", "--variant", "small", "--dataset", "chips", "--data-root", "{case}/chips",
              "--num-classes", "2", "--epochs", "1", "--input-size", "32", "--quiet", "-o", "{case}/run"),
    "compare": ("compare", "--models", "unet_small", "--data", "{case}/chips", "--sensor", SENSOR, "--input-size", "64",
                "-o", "{case}/cmp"),
}
for _kind in ("geotiff", "label"):
    BAD_FILE_COMMANDS[_kind] |= CHIPS_COMMANDS


@dataclass(frozen=True)
class Case:
    """One command line that must be refused; ``names`` is the text the error must contain (the input)."""

    args: tuple[str, ...]
    names: str
    make: Callable[[Path, Inputs], Path] | None = None   # writes the bad file into the case folder
    prepare: Callable[[Path], None] | None = None         # creates what else the case needs (folders, files)


# `check` audits any ONNX graph for TensorRT, trtbench's or not: a well-formed graph whose trtbench metadata
# is missing or damaged is a valid input there (test_check_audits_any_well_formed_onnx_graph).
CHECK_AUDITS_ANY_GRAPH = {("check", f"onnx-{d}") for d in ("foreign", "bad-metadata-json", "metadata-not-a-record")}


def _bad_file_cases() -> list:
    cases = []
    for bad in catalogue():
        for command, args in BAD_FILE_COMMANDS[bad.kind].items():
            if (command, bad.id) in CHECK_AUDITS_ANY_GRAPH:
                continue
            chips = command in CHIPS_COMMANDS
            case = Case(args, "{bad_name}", make=_chips_maker(bad) if chips else _maker(bad))
            cases.append(pytest.param(case, id=f"{command}-{bad.id}"))
    return cases


def _maker(bad: BadFile) -> Callable[[Path, Inputs], Path]:
    return lambda folder, inputs: bad.make(folder, inputs.good(bad.kind))


def _chips_maker(bad: BadFile) -> Callable[[Path, Inputs], Path]:
    """Four good chips (image + mask) and the bad file as images/ or masks/ of a fifth, whose name sorts first."""
    def make(folder: Path, inputs: Inputs) -> Path:
        root = folder / "chips"
        for sub in ("images", "masks"):
            (root / sub).mkdir(parents=True)
            for good in sorted((inputs.chips / sub).glob("*.tif"))[:4]:
                shutil.copy(good, root / sub / good.name)
        where, other = ("masks", "images") if bad.kind == "label" else ("images", "masks")
        path = bad.make(root / where, inputs.good(bad.kind)).rename(root / where / f"0_{bad.id}.tif")
        shutil.copy(next((inputs.chips / other).glob("*.tif")), root / other / path.name)
        return path
    return make


def _mkdir(name: str) -> Callable[[Path], None]:
    """An existing folder where the command wants a file."""
    return lambda case: (case / name).mkdir()


def _touch(name: str) -> Callable[[Path], None]:
    """An existing file where the command wants a folder."""
    def prepare(case: Path) -> None:
        (case / name).write_text("already here\n")
    return prepare


OUTPUT_CASES = {
    # export -o
    "export-o-existing-folder": Case(("export", "clay", "--variant", "tiny", "--random-init", "-o", "{case}/taken"),
                                     "-o {case}/taken", prepare=_mkdir("taken")),
    "export-o-unwritable": Case(("export", "clay", "--variant", "tiny", "--random-init", "-o", f"{UNWRITABLE}.onnx"),
                                UNWRITABLE),
    "export-o-missing-folder": Case(("export", "clay", "--variant", "tiny", "--random-init", "-o",
                                     "{case}/missing/m.onnx"), "{case}/missing"),
    "export-o-wrong-suffix": Case(("export", "clay", "--variant", "tiny", "--random-init", "-o", "{case}/m.txt"),
                                  "{case}/m.txt"),
    "export-engine-o-unwritable": Case(("export", "{onnx}", "--format", "engine", "-o", f"{UNWRITABLE}.engine"),
                                       UNWRITABLE),
    # eval --json / --markdown: refused before the run, and the JSON is not left behind when the Markdown fails
    "eval-json-unwritable": Case(("eval", "--engine", "{onnx}", "--data", "{chip}", "--json", f"{UNWRITABLE}.json"),
                                 "--json"),
    "eval-json-existing-folder": Case(("eval", "--engine", "{onnx}", "--data", "{chip}", "--json", "{case}/taken"),
                                      "{case}/taken", prepare=_mkdir("taken")),
    "eval-markdown-unwritable": Case(("eval", "--engine", "{onnx}", "--data", "{chip}", "--json", "{case}/eval.json",
                                      "--markdown", f"{UNWRITABLE}.md"), "--markdown"),
    # bench --json / --plot / --csv / --markdown
    "bench-plot-unknown-format": Case(("bench", "{onnx}", *BENCH_FAST, "--json", "{case}/b.json", "--plot",
                                       "{case}/plot.xyz"), "plot.xyz"),
    "bench-json-unwritable": Case(("bench", "{onnx}", *BENCH_FAST, "--json", f"{UNWRITABLE}.json"), "--json"),
    "bench-csv-existing-folder": Case(("bench", "{onnx}", *BENCH_FAST, "--csv", "{case}/taken"), "{case}/taken",
                                      prepare=_mkdir("taken")),
    "bench-markdown-missing-folder": Case(("bench", "{onnx}", *BENCH_FAST, "--markdown", "{case}/no/b.md"),
                                          "{case}/no"),
    # flops, check, doctor --json
    "flops-json-unwritable": Case(("flops", "{onnx}", "--json", f"{UNWRITABLE}.json"), "--json"),
    "flops-json-existing-folder": Case(("flops", "{onnx}", "--json", "{case}/taken"), "{case}/taken",
                                       prepare=_mkdir("taken")),
    "check-json-unwritable": Case(("check", "{onnx}", "--json", f"{UNWRITABLE}.json"), "--json"),
    "doctor-json-unwritable": Case(("doctor", "--json", f"{UNWRITABLE}.json"), "--json"),
    # report --geobench (the other leaderboard files go beside it)
    "report-geobench-unwritable": Case(("report", "{runs}", "--geobench", f"{UNWRITABLE}.csv"), "--geobench"),
    "report-geobench-existing-folder": Case(("report", "{runs}", "--geobench", "{case}/taken"), "{case}/taken",
                                            prepare=_mkdir("taken")),
    "report-geobench-not-csv": Case(("report", "{runs}", "--geobench", "{case}/results.xlsx"), "results.xlsx"),
    # train -o (checked before the data is read)
    "train-o-unwritable": Case(("train", "unet", "--dataset", "chips", "--data-root", "{case}", "-o", UNWRITABLE),
                               UNWRITABLE),
    "train-o-is-a-file": Case(("train", "unet", "--dataset", "chips", "--data-root", "{case}", "-o", "{case}/a_file"),
                              "{case}/a_file", prepare=_touch("a_file")),
    # predict -o: a folder
    "predict-o-unwritable": Case(("predict", "{onnx}", "{chip}", "-o", UNWRITABLE, "--quiet"), UNWRITABLE),
    "predict-o-is-a-file": Case(("predict", "{onnx}", "{chip}", "-o", "{case}/a_file", "--quiet"), "{case}/a_file",
                                prepare=_touch("a_file")),
    "predict-json-unwritable": Case(("predict", "{onnx}", "{chip}", "-o", "{case}/out", "--quiet", "--json",
                                     f"{UNWRITABLE}.json"), "--json"),
    # data check, models --json
    "data-check-json-unwritable": Case(("data", "check", "--dataset", "chips", "--data-root", "{case}", "--json",
                                        f"{UNWRITABLE}.json"), "--json"),
    "models-json-unwritable": Case(("models", "--json", f"{UNWRITABLE}.json"), "--json"),
    # compare -o: a folder
    "compare-o-unwritable": Case(("compare", "--models", "unet_small", "--data", "{chips}", "--sensor", SENSOR,
                                  "--input-size", "64", "-o", UNWRITABLE), UNWRITABLE),
    "compare-o-is-a-file": Case(("compare", "--models", "unet_small", "--data", "{chips}", "--sensor", SENSOR,
                                 "--input-size", "64", "-o", "{case}/a_file"), "{case}/a_file", prepare=_touch("a_file")),
}

EVAL = ("eval", "--engine", "{onnx}", "--data", "{chip}")
EXPORT = ("export", "clay", "--variant", "tiny", "--random-init", "-o", "{case}/m.onnx")
BENCH = ("bench", "{onnx}", *BENCH_FAST)
PREDICT = ("predict", "{onnx}", "{chip}", "-o", "{case}/out", "--quiet")
TRAIN = ("train", "unet", "--dataset", "chips", "--data-root", "{case}", "-o", "{case}/run")
OPTION_CASES = {
    "eval-batch-size-0": Case((*EVAL, "--batch-size", "0"), "--batch-size"),
    "eval-tile-0": Case((*EVAL, "--tile", "0"), "--tile"),
    "eval-tile-off-the-patch-grid": Case((*EVAL, "--tile", "100"), "100"),
    "eval-negative-tolerance": Case((*EVAL, "--tolerance", "-1"), "--tolerance"),
    "export-input-size-off-the-patch-grid": Case((*EXPORT, "--input-size", "100"), "--input-size 100"),
    "export-input-size-0": Case((*EXPORT, "--input-size", "0"), "--input-size"),
    "export-opt-level-9": Case((*EXPORT, "--opt-level", "9"), "--opt-level"),
    "export-calib-samples-0": Case(("export", "{onnx}", "--precision", "int8", "--calib-data", "{chip}",
                                    "--calib-samples", "0", "-o", "{case}/q.onnx"), "--calib-samples"),
    "bench-batch-size-0": Case((*BENCH, "--batch-sizes", "0,1"), "--batch"),   # the last of a repeated option wins
    "bench-size-0": Case((*BENCH, "--size", "0"), "--size"),
    "bench-min-iters-0": Case((*BENCH, "--min-iters", "0"), "--min-iters"),
    "bench-negative-warmup": Case((*BENCH, "--warmup", "-1"), "--warmup"),
    "bench-threads-0": Case((*BENCH, "--threads", "0"), "--threads"),
    "flops-size-0": Case(("flops", "{onnx}", "--size", "0"), "--size"),
    "flops-size-off-the-patch-grid": Case(("flops", "{onnx}", "--size", "100"), "--size 100"),
    "bench-size-off-the-patch-grid": Case((*BENCH, "--size", "100"), "--size 100"),
    "predict-tile-0": Case((*PREDICT, "--tile", "0"), "--tile"),
    "predict-batch-0": Case((*PREDICT, "--batch", "0"), "--batch"),
    "predict-workers-0": Case((*PREDICT, "--workers", "0"), "--workers"),
    "predict-threads-0": Case((*PREDICT, "--threads", "0"), "--threads"),
    "predict-overlap-as-large-as-the-tile": Case((*PREDICT, "--tile", "64", "--overlap", "64"), "64"),
    "train-epochs-0": Case((*TRAIN, "--epochs", "0"), "--epochs"),
    "train-batch-size-0": Case((*TRAIN, "--batch-size", "0"), "--batch-size"),
    "train-fraction-0": Case((*TRAIN, "--fraction", "0"), "--fraction"),
    "train-lr-0": Case((*TRAIN, "--lr", "0"), "--lr"),
    "data-check-sample-0": Case(("data", "check", "--dataset", "chips", "--data-root", "{case}", "--sample", "0"),
                                "--sample"),
}


@pytest.fixture(scope="module")
def inputs(tiny_water_onnx, s2_chip, water_label, data_dir, tmp_path_factory) -> Inputs:
    from trtbench.models import create_model, save_model

    folder = tmp_path_factory.mktemp("good")
    model = create_model("clay_tiny", sensor="sentinel-2-l1c", task="segmentation", head="fcn", num_classes=2,
                         seed=0, input_size=128)
    ckpt = save_model(model, model.metadata, folder / "water.ckpt")
    runs = folder / "runs" / "floods"
    runs.mkdir(parents=True)
    (runs / "experiment.json").write_text(json.dumps({"name": "floods", "runs": []}))
    write_floods_tiles(data_dir, folder / "chips", tile=128)
    return Inputs(tiny_water_onnx, ckpt, s2_chip, water_label, runs.parent, folder / "chips")


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _refused(capsys, case: Case, folder: Path, inputs: Inputs) -> None:
    bad = case.make(folder, inputs) if case.make else None
    if case.prepare:
        case.prepare(folder)
    fields = {"case": folder, "bad": bad, "bad_name": bad.name if bad else None,
              **{k: getattr(inputs, k) for k in ("onnx", "ckpt", "chip", "label", "runs", "chips")}}
    args = [a.format(**fields) for a in case.args]
    before = _listing(folder)
    result = run_cli(capsys, *args)
    err = result.err
    assert result.code == EXIT_USER_MISTAKE, f"exit {result.code}\n{err}"
    assert "Traceback" not in err + result.out, err
    lines = err.splitlines()
    problem = next((line for line in lines if line.startswith("error: ")), None)
    assert problem is not None, err
    assert any(line.startswith("  fix: ") and len(line) > len("  fix: ") for line in lines), err
    assert case.names.format(**fields) in problem, f"the error does not name {case.names.format(**fields)}:\n{err}"
    assert _listing(folder) == before, "the command left files behind"


@pytest.mark.parametrize("case", _bad_file_cases())
def test_bad_file_is_refused(capsys, tmp_path, inputs, case):
    _refused(capsys, case, tmp_path, inputs)


@pytest.mark.parametrize("case", [pytest.param(c, id=i) for i, c in OUTPUT_CASES.items()])
def test_output_that_cannot_be_written_is_refused_before_any_work(capsys, tmp_path, inputs, case):
    _refused(capsys, case, tmp_path, inputs)


@pytest.mark.parametrize("case", [pytest.param(c, id=i) for i, c in OPTION_CASES.items()])
def test_out_of_range_option_is_refused(capsys, tmp_path, inputs, case):
    _refused(capsys, case, tmp_path, inputs)


def test_the_table_covers_every_command_and_every_kind_of_bad_file():
    """A new command (or a new kind in the catalogue) must join the table."""
    from trtbench.cli import cli

    cases: Sequence[Case] = [*OUTPUT_CASES.values(), *OPTION_CASES.values()]
    covered = {c.args[0] for c in cases} | {args[0] for cmds in BAD_FILE_COMMANDS.values() for args in cmds.values()}
    assert set(cli.list_commands(None)) <= covered
    assert {b.kind for b in catalogue()} <= set(BAD_FILE_COMMANDS)


def test_report_refuses_a_damaged_experiment_record(capsys, tmp_path, inputs):
    runs = tmp_path / "runs"
    shutil.copytree(inputs.runs, runs)
    record = runs / "floods" / "experiment.json"
    record.write_text(record.read_text()[:10])   # an interrupted copy
    case = Case(("report", str(runs), "--geobench", "{case}/results.csv"), "experiment.json")
    _refused(capsys, case, tmp_path, inputs)


@pytest.mark.parametrize("defect", sorted(d for _, d in CHECK_AUDITS_ANY_GRAPH))
def test_check_audits_any_well_formed_onnx_graph(capsys, tmp_path, inputs, defect):
    bad = next(b for b in catalogue("onnx") if b.id == defect)
    result = run_cli(capsys, "check", bad.make(tmp_path, inputs.onnx))
    assert result.code == 0 and "READY for TensorRT" in result.out, result.out + result.err


def test_json_dash_writes_the_result_to_standard_output(capsys, tmp_path, inputs):
    """`--json -` (or a bare `--json`) is standard output in every command; the human table goes to stderr."""
    result = run_cli(capsys, "check", inputs.onnx, "--json", "-")
    assert json.loads(result.out)["passed"] is True
    result = run_cli(capsys, "doctor", "--json")
    assert "python" in json.loads(result.out)
    result = run_cli(capsys, "flops", inputs.onnx, "--no-cross-check", "--json", str(tmp_path / "f.json"))
    assert result.code == 0 and json.loads((tmp_path / "f.json").read_text())["macs"] > 0
    result = run_cli(capsys, "eval", "--engine", inputs.onnx, "--data", inputs.chip, "--json", "-")
    assert result.code == 0 and json.loads(result.out)["tiles"] > 0 and "PARITY OK" in result.err
