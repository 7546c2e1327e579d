"""``trtbench compare``: the deployment matrix end to end on the real flood chip, resume, failures, bad inputs.

The tiny matrix of issue 15: clay_tiny (the session's water artifact, listed as an existing .onnx) and the small
UNet (a registry name, exported by the comparison) x torch/onnxruntime/openvino (+ tensorrt, which cannot
run here and must say why) x fp32/fp16/int8 x batch 1, 2 at 64 px, evaluated on a 128 x 128 window of the
real Sen1Floods11 chip and its hand label. It runs once per module; the resume and failure tests rerun it
into copies of its output folder, so they time only the cells they remove.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from browser_helpers import assert_report_sound, chromium, load_report  # noqa: F401  (chromium: a fixture)
from cli_helpers import exit_code, run_cli
from rasterio.windows import Window

from trtbench.cli_options import EXIT_USER_MISTAKE
from trtbench.compare.cells import ROW_FIELDS

MODELS = ("clay_tiny_water", "unet_small")   # the session's clay_tiny water artifact, and a registry name
BACKENDS = ("torch", "onnxruntime", "openvino", "tensorrt")
PRECISIONS = ("fp32", "fp16", "int8")
BATCHES = (1, 2)
FAST = ("--input-size", "64", "--rounds", "2", "--min-iters", "1", "--min-time", "0", "--warmup", "0", "--quiet")
S2_GSD_M = 10.0   # Sentinel-2 L1C table's GSD: the km²/s figure's ground size per pixel


def tiny_matrix_args(chips: Path, out: Path) -> list[str]:
    return ["compare", "--models", f"{chips.parent / 'clay_tiny_water.onnx'},unet_small", "--data", str(chips), "--backends", ",".join(BACKENDS),
            "--precisions", ",".join(PRECISIONS), "--batch", ",".join(map(str, BATCHES)), *FAST, "-o", str(out)]


def write_flood_window(s2_chip: Path, label: Path, root: Path, size: int = 128) -> Path:
    """A labelled chip folder holding one window of the real flood chip and of its hand label."""
    for sub, src in (("images", s2_chip), ("masks", label)):
        (root / sub).mkdir(parents=True)
        with rasterio.open(src) as ds:
            window = Window(192, 192, size, size)
            profile = ds.profile | {"width": size, "height": size, "transform": ds.window_transform(window),
                                    "tiled": False}
            profile.pop("blockxsize", None), profile.pop("blockysize", None)
            with rasterio.open(root / sub / "spain.tif", "w", **profile) as out:
                out.write(ds.read(window=window))
                out.descriptions = ds.descriptions
    return root


@pytest.fixture(scope="module")
def chips(s2_chip, water_label, tiny_water_onnx, tmp_path_factory) -> Path:
    """The flood window, beside the clay_tiny water artifact (an existing artifact, as a user may list one)."""
    folder = tmp_path_factory.mktemp("chips")
    shutil.copy(tiny_water_onnx, folder / "clay_tiny_water.onnx")
    return write_flood_window(s2_chip, water_label, folder / "flood")


@pytest.fixture(scope="module")
def done(chips, tmp_path_factory) -> Path:
    """The tiny matrix, run once."""
    out = tmp_path_factory.mktemp("compare") / "cmp"
    assert exit_code(*tiny_matrix_args(chips, out)) == 0
    return out


def rows_of(out: Path) -> list[dict]:
    return json.loads((out / "results.json").read_text())


def by_id(out: Path) -> dict[str, dict]:
    return {r["cell_id"]: r for r in rows_of(out)}


def cell_files(out: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*.json")}


def copy_run(done: Path, tmp_path: Path) -> Path:
    out = tmp_path / "cmp"
    shutil.copytree(done, out)
    return out


def test_tiny_matrix_measures_every_cell_or_says_why(done, chips):
    rows = rows_of(done)
    assert len(rows) == len(MODELS) * len(BACKENDS) * len(PRECISIONS) * len(BATCHES)
    assert all(list(r) == list(ROW_FIELDS) for r in rows)
    assert len({r["cell_id"] for r in rows}) == len(rows)
    with open(done / "results.csv", newline="") as fh:
        assert [r["cell_id"] for r in csv.DictReader(fh)] == [r["cell_id"] for r in rows]
    markdown = (done / "results.md").read_text()
    assert all(r["status"] in ("ok", "skipped", "error", "parity-failed") for r in rows)
    for r in rows:
        if r["status"] != "ok":
            assert r["reason"] and f"`{r['cell_id']}` {r['status']}: " in markdown, r
        if r["backend"] == "tensorrt":
            assert r["status"] == "skipped" and "TensorRT" in r["reason"]
        elif r["backend"] == "torch" and r["precision"] != "fp32":
            assert r["status"] == "skipped" and "fp32" in r["reason"]
        elif r["precision"] in ("fp32", "fp16"):
            assert r["status"] == "ok", r
        else:   # int8: measured, or refused by eval's int8 tolerance and then never timed
            assert r["status"] in ("ok", "parity-failed"), r
    ran = [r for r in rows if r["status"] in ("ok", "parity-failed")]
    assert {(r["model"], r["backend"], r["precision"]) for r in ran if r["status"] == "ok"} >= {
        (m, b, p) for m in MODELS for b in ("onnxruntime", "openvino") for p in ("fp32", "fp16")}
    for r in ran:
        assert r["task"] == "segmentation" and r["metric_name"] == "miou" and r["params"] > 0 and r["gflops"] > 0
        assert r["metric_delta"] == pytest.approx(r["metric"] - r["metric_reference"], abs=1e-6)
        assert Path(r["artifact"]).stat().st_size == r["artifact_bytes"] and len(r["artifact_sha256"]) == 64
        tolerance = {"fp32": 1e-4, "fp16": 1e-2, "int8": 1e-1}[r["precision"]]
        assert (r["parity_rel"] <= tolerance) == (r["status"] == "ok"), r
        if r["status"] == "parity-failed":
            assert r["latency_p50_ms"] is None and "tolerance" in r["reason"]
    for model in MODELS:
        mine = [r for r in ran if r["model"] == model]
        # one model, one size: one GFLOP count and one PyTorch fp32 reference accuracy, whatever the backend
        assert len({r["gflops"] for r in mine}) == 1 and len({r["metric_reference"] for r in mine}) == 1
        assert len({r["artifact_sha256"] for r in mine if r["precision"] == "fp16"}) == 1   # one export, shared
    for r in (r for r in rows if r["status"] == "ok"):
        assert 0 < r["latency_p50_ms"] <= r["latency_p90_ms"] <= r["latency_p99_ms"]
        assert r["throughput_img_s"] == pytest.approx(r["batch"] * 1e3 / r["latency_p50_ms"])
        assert r["throughput_km2_s"] == pytest.approx(r["throughput_img_s"] * 64 * 64 * S2_GSD_M**2 / 1e6)
        assert r["latency_spread"] >= 0 and isinstance(r["spread_flag"], bool) and r["peak_memory_mb"] is not None
        assert r["device"] == "cpu"
    torch_fp32 = [r for r in rows if r["backend"] == "torch" and r["precision"] == "fp32"]
    assert all(r["parity_max_abs"] == 0 and r["metric_delta"] == 0 for r in torch_fp32)
    assert sorted(p.name for p in chips.parent.iterdir()) == ["clay_tiny_water.onnx", "flood"]   # inputs untouched
    env = json.loads((done / "environment.json").read_text())
    assert {"cpu", "cpu_isa", "torch", "onnxruntime", "openvino", "tensorrt"} <= set(env)
    assert (done / "report.html").is_file()


def test_reference_accuracy_is_what_trtbench_eval_reports(done, chips):
    """The matrix's PyTorch fp32 mIoU is eval's own, on the same chips and tiles (an independent run)."""
    from trtbench.evaluate import evaluate

    row = next(r for r in rows_of(done) if r["model"] == "unet_small" and r["backend"] == "onnxruntime"
               and r["precision"] == "fp32")
    result = evaluate(row["artifact"], [chips / "images"], labels=[chips / "masks"], tile=64, progress=False)
    assert row["metric_reference"] == pytest.approx(result.task["reference"]["miou"])
    assert row["metric"] == pytest.approx(result.task["artifact"]["miou"])


def test_rerun_reuses_finished_cells_and_retries_the_others(done, chips, tmp_path, capsys):
    out = copy_run(done, tmp_path)
    before = cell_files(out)
    ok = {r["cell_id"] for r in rows_of(out) if r["status"] == "ok"}
    result = run_cli(capsys, *tiny_matrix_args(chips, out))
    assert result.code == 0, result.err
    assert f"reused {len(ok)} finished cell(s)" in result.err
    after = cell_files(out)
    assert {n: after[n] for n in before if n[:-5] in ok} == {n: before[n] for n in before if n[:-5] in ok}
    retried = [n for n in before if n[:-5] not in ok]
    assert retried and all(after[n] != before[n] for n in retried)


def test_interrupted_run_resumes_with_only_the_missing_cells(done, chips, tmp_path, monkeypatch):
    import trtbench.compare.run as compare_run

    out = copy_run(done, tmp_path)
    for path in (out / "cells").glob("unet_small-*-fp32-*"):
        path.unlink()
    artifacts = {p: p.stat().st_mtime_ns for p in (out / "artifacts").iterdir()}
    real_write, written = compare_run.write_cell, []

    def write_then_die(out_dir, row):
        if row["status"] == "ok" and sum(r["status"] == "ok" for r in written) == 2:
            raise KeyboardInterrupt   # Ctrl-C between two cells
        written.append(row)
        return real_write(out_dir, row)

    monkeypatch.setattr(compare_run, "write_cell", write_then_die)
    args = tiny_matrix_args(chips, out)
    assert exit_code(*args) == 130
    kept = cell_files(out)
    assert all(json.loads((out / "cells" / f"{r['cell_id']}.json").read_text()) == r for r in written)
    finished = [n for n in kept if json.loads((out / "cells" / n).read_text())["status"] == "ok"]
    assert len(finished) == sum(r["status"] == "ok" for r in rows_of(done)) - 6 + 2   # 6 removed, 2 redone
    monkeypatch.setattr(compare_run, "write_cell", real_write)
    assert exit_code(*args) == 0
    resumed = cell_files(out)
    assert len(resumed) == len(rows_of(done)) == len(rows_of(out))
    ok_before = {f"{r['cell_id']}.json" for r in written if r["status"] == "ok"}
    assert {n: resumed[n] for n in ok_before} == {n: kept[n] for n in ok_before}   # finished cells not redone
    assert {p: p.stat().st_mtime_ns for p in (out / "artifacts").iterdir()} == artifacts   # exports cached


def test_a_failing_cell_is_reported_and_the_others_complete(done, chips, tmp_path, monkeypatch, capsys):
    """Every other cell is finished and tabled, the failed ones are listed with their reasons, and the exit
    status is 1: a comparison with a failed cell never passes for a complete one."""
    import trtbench.evaluate as evaluate_module

    out = copy_run(done, tmp_path)
    for folder in ("cells", "accuracy"):
        for path in (out / folder).glob("unet_small-openvino-fp16-*"):
            path.unlink()
    real_runner = evaluate_module.runner_for_artifact

    def broken_openvino_fp16(path, backend="onnxruntime", *args, **kwargs):
        if backend == "openvino" and "unet_small-fp16" in Path(path).name:
            raise RuntimeError("Unsupported operation in this OpenVINO build")
        return real_runner(path, backend, *args, **kwargs)

    monkeypatch.setattr(evaluate_module, "runner_for_artifact", broken_openvino_fp16)
    args = tiny_matrix_args(chips, out)
    result = run_cli(capsys, *args)
    assert result.code == 1, result.err
    assert "Traceback" not in result.err + result.out
    rows = rows_of(out)
    failed = [r for r in rows if r["status"] == "error"]
    assert {(r["model"], r["backend"], r["precision"]) for r in failed} == {("unet_small", "openvino", "fp16")}
    assert all("Unsupported operation" in r["reason"] for r in failed)
    listed = result.err[result.err.index(f"failed: {len(failed)} of {len(rows)} cells"):]
    assert all(f"  {r['cell_id']}: {r['reason']}" in listed for r in failed)
    assert (out / "report.html").is_file() and json.loads((out / "results.json").read_text()) == rows
    assert "Unsupported operation" in (out / "results.md").read_text()
    assert [r["status"] for r in rows if r not in failed] == [r["status"] for r in rows_of(done) if
                                                              (r["model"], r["backend"], r["precision"]) !=
                                                              ("unet_small", "openvino", "fp16")]
    monkeypatch.setattr(evaluate_module, "runner_for_artifact", real_runner)
    assert exit_code(*args) == 0   # the next run retries the failed cells
    assert {r["status"] for r in rows_of(out) if r["cell_id"] in {f["cell_id"] for f in failed}} == {"ok"}


def test_accuracy_cells_run_on_a_dask_scheduler(done, chips, tmp_path):
    distributed = pytest.importorskip("distributed", reason="Dask distributed is not installed")
    out = copy_run(done, tmp_path)
    for folder in ("cells", "accuracy"):
        for path in (out / folder).glob("unet_small-onnxruntime-fp32-*"):
            path.unlink()
    args = tiny_matrix_args(chips, out)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        assert exit_code(*args, "--scheduler", cluster.scheduler_address) == 0
    redone = [r for r in rows_of(out) if r["model"] == "unet_small" and r["backend"] == "onnxruntime"
              and r["precision"] == "fp32"]
    assert [r["status"] for r in redone] == ["ok", "ok"]
    assert all(r["metric"] == by_id(done)[r["cell_id"]]["metric"] for r in redone)


def test_bf16_runs_where_the_cpu_has_it_and_says_why_elsewhere(done, chips, tmp_path):
    from trtbench.errors import TrtbenchError
    from trtbench.hardware import require_precision

    try:
        require_precision("bf16")
        bf16_here = None
    except TrtbenchError as exc:
        bf16_here = exc.problem
    out = copy_run(done, tmp_path)
    args = ["compare", "--models", "unet_small", "--data", str(chips), "--backends", "onnxruntime,openvino",
            "--precisions", "bf16", "--batch", "1", *FAST, "-o", str(out)]
    assert exit_code(*args) == 0
    ort, openvino = rows_of(out)
    assert ort["status"] == "skipped" and "onnxruntime backend does not run bf16" in ort["reason"]
    if bf16_here:
        assert openvino["status"] == "skipped" and bf16_here in openvino["reason"]
    else:   # the fp32 artifact, run in bf16, held to bf16's tolerance
        assert openvino["status"] in ("ok", "parity-failed") and openvino["artifact"].endswith(".onnx")
        assert "-fp32-" in Path(openvino["artifact"]).name


def test_a_matrix_file_gives_the_same_cells_as_the_options(done, chips, tmp_path, capsys):
    (tmp_path / "matrix.toml").write_text(f'''
models = ["unet_small"]
backends = ["onnxruntime"]
precisions = ["fp32"]
batch = [1, 2]
input_size = [64]
[data]
path = "{chips}"
[timing]
rounds = 1
min_iters = 2
min_time = 0
warmup = 0
''')
    out = copy_run(done, tmp_path)
    result = run_cli(capsys, "compare", str(tmp_path / "matrix.toml"), "-o", str(out), "--quiet")
    assert result.code == 0, result.err
    assert "reused 2 finished cell(s) of 2" in result.err
    assert [r["cell_id"] for r in rows_of(out)] == [r["cell_id"] for r in rows_of(done) if r["model"] == "unet_small"
                                                    and r["backend"] == "onnxruntime" and r["precision"] == "fp32"]


BAD_MATRICES = {
    "not-toml": ("models = [unet", "not a valid TOML file"),
    "unknown-key": ('models = ["unet_small"]\nbackend = ["torch"]\n[data]\npath = "{chips}"', "unknown key(s) backend"),
    "no-data": ('models = ["unet_small"]', "no [data] table"),
    "batch-0": ('models = ["unet_small"]\nbatch = [0]\n[data]\npath = "{chips}"', "batch must be positive"),
    "unknown-model": ('models = ["clay_huge"]\n[data]\npath = "{chips}"', "unknown model 'clay_huge'"),
}


@pytest.mark.parametrize("case", BAD_MATRICES, ids=list(BAD_MATRICES))
def test_bad_matrix_file_is_refused_before_any_work(case, chips, tmp_path, capsys):
    text, problem = BAD_MATRICES[case]
    (tmp_path / "m.toml").write_text(text.format(chips=chips))
    result = run_cli(capsys, "compare", str(tmp_path / "m.toml"), "-o", str(tmp_path / "out"))
    assert_refused(result, problem, tmp_path / "out")


BAD_OPTIONS = {
    "unknown-backend": (("--backends", "onnxruntime,tensorflow"), "unknown backend(s): tensorflow"),
    "unknown-precision": (("--precisions", "fp8"), "unknown precision(s): fp8"),
    "unknown-model": (("--models", "unet,resnet9000"), "unknown model 'resnet9000'"),
    "size-off-the-patch-grid": (("--input-size", "68"), "not multiples of unet_small's patch size 8"),
    "size-larger-than-the-chips": (("--input-size", "256"), "larger than the smallest chip"),
    "batch-0": (("--batch", "0"), "--batch takes positive integers"),
    "missing-data": (("--data", "{tmp}/nowhere"), "data folder not found"),
    "data-without-masks": (("--data", "{tmp}/nomasks"), "no mask for spain.tif"),
    "too-few-classes": (("--num-classes", "1"), "num_classes is 1"),
    "no-models": (("--models", ""), "nothing to compare"),
}


@pytest.mark.parametrize("case", BAD_OPTIONS, ids=list(BAD_OPTIONS))
def test_bad_option_is_refused_before_any_work(case, chips, tmp_path, capsys):
    (tmp_path / "nomasks" / "images").mkdir(parents=True)
    shutil.copy(chips / "images" / "spain.tif", tmp_path / "nomasks" / "images")
    extra, problem = BAD_OPTIONS[case]
    args = {"--models": "unet_small", "--data": str(chips), "--input-size": "64"}
    for option, value in zip(extra[::2], extra[1::2]):
        args[option] = value.format(tmp=tmp_path)
    result = run_cli(capsys, "compare", *[x for kv in args.items() for x in kv], "-o", str(tmp_path / "out"))
    assert_refused(result, problem, tmp_path / "out")


def assert_refused(result, problem: str, out: Path) -> None:
    assert result.code == EXIT_USER_MISTAKE, result.err
    assert "Traceback" not in result.err + result.out
    error = next(line for line in result.err.splitlines() if line.startswith("error: "))
    assert problem in error, result.err
    assert any(line.startswith("  fix: ") for line in result.err.splitlines())
    assert not out.exists()


def test_cell_ids_are_stable_and_depend_on_what_decides_the_result():
    from trtbench.compare.cells import Cell
    from trtbench.compare.matrix import ModelEntry

    cell = Cell(ModelEntry("unet_small", "unet_small"), "onnxruntime", "fp16", 2, 64)
    assert cell.cell_id("m", "d") == Cell(ModelEntry("unet_small", "unet_small"), "onnxruntime", "fp16", 2, 64).cell_id("m", "d")
    assert cell.cell_id("m", "d").startswith("unet_small-onnxruntime-fp16-b2-s64-")
    others = {cell.cell_id("m2", "d"), cell.cell_id("m", "d2"),
              Cell(ModelEntry("unet_small", "unet_small"), "onnxruntime", "fp16", 1, 64).cell_id("m", "d")}
    assert cell.cell_id("m", "d") not in others and len(others) == 3


def test_timing_interleaves_backends_round_by_round_and_pools_the_rounds(done, chips, monkeypatch):
    import trtbench.compare.run as compare_run
    from trtbench.compare.cells import Cell
    from trtbench.compare.matrix import TimingSpec, matrix_from_options

    backends = ["torch", "onnxruntime", "openvino"]
    matrix = matrix_from_options(["unet_small"], str(chips), backends=backends, precisions=["fp32"], batches=[1, 2],
                                 input_sizes=[64], timing=TimingSpec(rounds=3))
    artifact = next(r["artifact"] for r in rows_of(done) if r["model"] == "unet_small" and r["precision"] == "fp32"
                    and r["backend"] == "onnxruntime")
    calls = []

    def one_activation(path, backend, precision, feeds, config, threads):   # latency = activation number
        calls.append(backend)
        for feed in feeds:
            yield next(iter(feed.values())).shape[0], [float(len(calls))], 1.0

    monkeypatch.setattr(compare_run, "timed_runs", one_activation)
    cells = [Cell(matrix.models[0], b, "fp32", n, 64) for b in backends for n in (1, 2)]
    finished = {}
    compare_run.time_group(cells, {c: {} for c in cells}, {("unet_small", b, "fp32", 64): {"artifact": artifact}
                                                          for b in backends}, matrix, finished.__setitem__)
    assert calls == backends * 3   # A, B, C, A, B, C, ...: never all rounds of one backend in a row
    assert [finished[c]["latency_p50_ms"] for c in cells] == [4.0, 4.0, 5.0, 5.0, 6.0, 6.0]   # rounds pooled


def test_latency_spread_is_the_relative_iqr_and_is_flagged_when_wide():
    from trtbench.compare.run import latency_fields

    steady = latency_fields([10.0, 10.0, 10.0, 10.0], 2, 0.5, spread_limit=0.25)
    assert steady["latency_spread"] == 0 and not steady["spread_flag"]
    assert steady["throughput_img_s"] == pytest.approx(200) and steady["throughput_km2_s"] == pytest.approx(100)
    noisy = latency_fields(list(np.linspace(5, 15, 11)), 1, 0.5, spread_limit=0.25)
    assert noisy["latency_spread"] == pytest.approx(0.5) and noisy["spread_flag"]


def test_the_tiny_matrix_report_renders_in_chromium(done, chromium, tmp_path):  # noqa: F811
    assert_report_sound(load_report(chromium, done / "report.html"), rows=len(rows_of(done)),
                        screenshot=tmp_path / "report.png")


def write_floods_layout(data_dir: Path, root: Path, size: int = 128) -> Path:
    """The Sen1Floods11 v1.1 hand-labelled layout (as tests/test_data.py builds it) holding a window of the real
    chip, its S1 twin and its hand label under the name of every split."""
    base = root / "v1.1"
    folder = base / "data" / "flood_events" / "HandLabeled"
    for kind in ("S1Hand", "S2Hand", "LabelHand"):
        (folder / kind).mkdir(parents=True)
        with rasterio.open(data_dir / "sen1floods11" / f"Spain_7370579_{kind}.tif") as ds:
            window = Window(192, 192, size, size)
            profile = ds.profile | {"width": size, "height": size, "transform": ds.window_transform(window),
                                    "tiled": False}
            profile.pop("blockxsize", None), profile.pop("blockysize", None)
            for split in ("train", "valid", "test"):
                with rasterio.open(folder / kind / f"{split}_{kind}.tif", "w", **profile) as out:
                    out.write(ds.read(window=window))
                    out.descriptions = ds.descriptions
    (base / "splits" / "flood_handlabeled").mkdir(parents=True)
    for split in ("train", "valid", "test"):
        (base / "splits" / "flood_handlabeled" / f"flood_{split}_data.csv").write_text(
            f"{split}_S1Hand.tif,{split}_LabelHand.tif\n")
    return root


DATASET_CELL = ("--models", "unet_small", "--backends", "onnxruntime", "--precisions", "fp32", "--batch", "1", *FAST)


def test_a_dataset_layout_is_the_evaluation_set(done, data_dir, tmp_path, capsys):
    """--dataset sen1floods11 --data-root: the test split, scored exactly as eval scores the release's own files;
    the same [data] in a matrix file gives the same cells."""
    from trtbench.evaluate import evaluate

    root = write_floods_layout(data_dir, tmp_path / "sen1floods11")
    out = copy_run(done, tmp_path)   # its unet_small export (same model, bands and classes) is reused
    result = run_cli(capsys, "compare", "--dataset", "sen1floods11", "--data-root", str(root), *DATASET_CELL,
                     "-o", str(out), "--no-report")
    assert result.code == 0, result.err
    assert list((out / "data").iterdir())[0].name.startswith("sen1floods11-test-")
    (row,) = rows_of(out)
    assert row["status"] == "ok" and row["metric_name"] == "miou", row
    assert "sen1floods11 test split (1 chips, sentinel-2-l1c)" in json.loads((out / "matrix.json").read_text())["data"]["source"]
    labels = root / "v1.1" / "data" / "flood_events" / "HandLabeled"
    direct = evaluate(row["artifact"], [labels / "S2Hand" / "test_S2Hand.tif"],
                      labels=[labels / "LabelHand" / "test_LabelHand.tif"], tile=64, progress=False)
    assert row["metric_reference"] == pytest.approx(direct.task["reference"]["miou"], abs=1e-9)
    assert row["metric"] == pytest.approx(direct.task["artifact"]["miou"], abs=1e-9)
    (tmp_path / "m.toml").write_text('''models = ["unet_small"]
backends = ["onnxruntime"]
precisions = ["fp32"]
input_size = [64]
[data]
dataset = "sen1floods11"
root = "sen1floods11"
split = "test"
[timing]
rounds = 1
min_iters = 1
min_time = 0
warmup = 0
''')
    again = run_cli(capsys, "compare", str(tmp_path / "m.toml"), "-o", str(out), "--quiet", "--no-report")
    assert again.code == 0, again.err
    assert "reused 1 finished cell(s) of 1" in again.err and [r["cell_id"] for r in rows_of(out)] == [row["cell_id"]]


BAD_DATASETS = {
    "missing-root": (("--dataset", "sen1floods11", "--data-root", "{tmp}/nowhere"), "dataset folder not found"),
    "no-root": (("--dataset", "sen1floods11"), "dataset sen1floods11 has no root"),
    "unknown-dataset": (("--dataset", "eurosat9000", "--data-root", "{tmp}"), "unknown dataset 'eurosat9000'"),
    "dataset-and-data": (("--dataset", "sen1floods11", "--data-root", "{tmp}", "--data", "{tmp}"),
                         "--dataset names the evaluation set"),
    "unknown-modality": (("--dataset", "sen1floods11", "--data-root", "{root}", "--modalities", "s3"),
                         "has no modality"),
    "own-statistics": (("--dataset", "hls_burn_scars", "--data-root", "{burn}"),
                       "hls_burn_scars is normalised with its own band table"),
}


def write_burn_layout(data_dir: Path, root: Path) -> Path:
    """The HLS Burn Scars release's file names (the real mask stands in for the image: never read, as the
    dataset is refused for its band table first)."""
    mask = data_dir / "hls_burn_scars_mask" / "subsetted_512x512_HLS.S30.T10TGS.2018285.v1.4.mask.tif"
    for split, scenes in (("training", 10), ("validation", 1)):   # enough scenes for the official 90/10 split
        (root / split).mkdir(parents=True)
        for scene in range(scenes):
            for suffix in ("_merged.tif", ".mask.tif"):
                shutil.copy(mask, root / split / f"subsetted_512x512_HLS.S30.T10TGS.2018{scene:03d}.v1.4{suffix}")
    return root


@pytest.mark.parametrize("case", BAD_DATASETS, ids=list(BAD_DATASETS))
def test_bad_dataset_is_refused_before_any_work(case, data_dir, tmp_path, capsys):
    extra, problem = BAD_DATASETS[case]
    root = write_floods_layout(data_dir, tmp_path / "floods") if "{root}" in extra else None
    burn = write_burn_layout(data_dir, tmp_path / "burn") if "{burn}" in extra else None
    args = [v.format(tmp=tmp_path, root=root, burn=burn) for v in extra]
    result = run_cli(capsys, "compare", *args, *DATASET_CELL, "-o", str(tmp_path / "out"))
    assert_refused(result, problem, tmp_path / "out")


def free_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_scheduler_is_refused_before_any_work(chips, tmp_path, capsys):
    address = f"tcp://127.0.0.1:{free_port()}"
    result = run_cli(capsys, "compare", "--models", "unet_small", "--data", str(chips), "--input-size", "64",
                     "--scheduler", address, "-o", str(tmp_path / "out"))
    assert_refused(result, f"cannot reach the Dask scheduler at {address}", tmp_path / "out")
