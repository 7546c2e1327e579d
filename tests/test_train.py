"""Training regimes, seeds, LR search, the hand-off to export and the leaderboard outputs, on real
Sen1Floods11 tiles (S1 + S2 stacked, 15 bands). Runs are one or two epochs on a few 64x64 tiles: these
tests pin behaviour, the slow acceptance test pins accuracy."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import onnx
import pytest
import rasterio
import torch
from cli_helpers import exit_code as cli
from test_data import biomassters_root  # noqa: F401  (fixture: BioMassters layout from the real chips)
from test_data_tiles import BANDS, SENSOR, write_floods_tiles

from trtbench.compare.cells import ROW_FIELDS
from trtbench.compare.tables import write_tables
from trtbench.data import DataBundle, DataOptions, few_shot, load_data, majority_class
from trtbench.export.onnx_proto import write_metadata
from trtbench.fileio import file_sha256
from trtbench.metadata import read_onnx_metadata
from trtbench.models import model_from_checkpoint, save_model
from trtbench.models.checkpoint import read_checkpoint
from trtbench.train import TrainConfig, fit, run_experiment
from trtbench.train.leaderboard import check_geobench_csv, find_experiments, geobench_rows
from trtbench.train.run import build_model
from trtbench.train.search import LR_RANGE

QUICK = {"epochs": 1, "batch_size": 4, "crop": 32, "progress": False, "warmup_epochs": 0}


@pytest.fixture(scope="module")
def tiles(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("floods_tiles")
    write_floods_tiles(data_dir, root, tile=64)
    return root


@pytest.fixture(scope="module")
def bundle(tiles: Path) -> DataBundle:
    return load_data(DataOptions("chips", tiles, sensor=SENSOR, class_names=["land", "water"]))


@pytest.fixture(scope="module")
def small(bundle: DataBundle) -> DataBundle:
    """8 training, 2 validation and 4 test tiles: enough to exercise every code path quickly."""
    sizes = {"train": 8, "val": 2, "test": 4}
    return replace(bundle, splits={s: d.view(range(sizes[s])) for s, d in bundle.splits.items()})


@pytest.fixture(scope="module")
def five_seeds(small: DataBundle, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A GEO-Bench style experiment: 2 Optuna LR trials, then the best LR over 5 seeds."""
    folder = tmp_path_factory.mktemp("runs") / "floods_unet"
    sizes = {"train": 4, "val": 1, "test": 2}
    tiny = replace(small, splits={s: d.view(range(sizes[s])) for s, d in small.splits.items()})
    run_experiment(TrainConfig("unet_small", seeds=(0, 1, 2, 3, 4), lr_search=2, **QUICK), tiny, folder)
    return folder


def test_frozen_regime_trains_the_head_and_leaves_the_encoder_untouched(small: DataBundle, tmp_path: Path) -> None:
    config = TrainConfig("clay_tiny", regime="frozen", lr=1e-3, **QUICK)
    model = build_model(config, small, seed=0)
    assert model.metadata.head == "upernet"  # the literature's frozen-encoder probe
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    fit(config, small, seed=0, lr=config.lr, folder=tmp_path)
    trained = read_checkpoint(tmp_path / "best.ckpt")["state_dict"]
    encoder = [k for k in initial if k.startswith("encoder.")]
    head = [k for k in initial if k.startswith("head.") and initial[k].is_floating_point()]
    assert encoder and all(torch.equal(initial[k], trained[k]) for k in encoder)
    assert any(not torch.equal(initial[k], trained[k]) for k in head)


def test_the_same_seed_reproduces_the_metrics_on_cpu(small: DataBundle, tmp_path: Path) -> None:
    config = TrainConfig("unet_small", lr=1e-3, **QUICK)
    first = fit(config, small, seed=7, lr=config.lr, folder=tmp_path / "a")
    second = fit(config, small, seed=7, lr=config.lr, folder=tmp_path / "b")
    assert first.test == second.test and first.best_val == second.best_val
    a, b = (read_checkpoint(tmp_path / run / "best.ckpt")["state_dict"] for run in ("a", "b"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_few_shot_trains_on_the_stated_fraction_stratified_by_majority_class(bundle: DataBundle,
                                                                             tmp_path: Path) -> None:
    config = TrainConfig("unet_small", regime="fewshot", fraction=0.25, **QUICK)
    train = bundle.splits["train"]
    strata = [majority_class(train.read_label(i), bundle.ignore_index) for i in range(len(train))]
    result = fit(config, replace(bundle, splits={**bundle.splits, "val": bundle.splits["val"].view(range(2)),
                                                 "test": bundle.splits["test"].view(range(2))}),
                 seed=0, lr=1e-3, folder=tmp_path)
    assert result.train_chips == len(few_shot(len(train), 0.25, 0, strata.__getitem__))
    assert abs(result.train_chips - 0.25 * len(train)) <= len(set(strata))
    with pytest.raises(Exception, match="fraction"):
        TrainConfig("unet_small", regime="fewshot", fraction=1.0).validate()


def test_pixel_regression_trains_on_valid_pixels_and_reports_mae_rmse(biomassters_root: Path,  # noqa: F811
                                                                       tmp_path: Path) -> None:
    bundle = load_data(DataOptions("biomassters", biomassters_root, modalities=["s1", "s2"]))
    result = fit(TrainConfig("unet_small", **QUICK), bundle, seed=0, lr=1e-3, folder=tmp_path)
    assert result.monitor == "rmse" and 0 < result.test["mae"] <= result.test["rmse"]
    meta = model_from_checkpoint(tmp_path / "best.ckpt").metadata
    assert (meta.task, meta.num_bands, meta.training["dataset"]) == ("regression", 12, "biomassters")  # 2 S1 + 10 S2


def test_image_classification_from_a_labels_table(data_dir: Path, tmp_path: Path) -> None:
    """Each real tile labelled with its majority class (land/water) in labels.csv instead of masks/."""
    root = tmp_path / "scenes"
    write_floods_tiles(data_dir, root, tile=64)
    rows = []
    for mask in sorted((root / "masks").glob("*.tif")):
        with rasterio.open(mask) as src:
            rows.append(f"{mask.stem},{['land', 'water'][majority_class(src.read(1).astype('int64'), -1)]}")
        mask.unlink()
    (root / "masks").rmdir()
    (root / "labels.csv").write_text("name,label\n" + "\n".join(rows) + "\n")
    bundle = load_data(DataOptions("chips", root, sensor=SENSOR, class_names=["land", "water"]))
    assert bundle.task == "classification" and bundle.splits["test"][0][1].ndim == 0
    result = fit(TrainConfig("clay_tiny", **QUICK), bundle, seed=0, lr=1e-3, folder=tmp_path / "run")
    assert result.monitor == "accuracy" and 0 <= result.test["accuracy"] <= 1
    assert cli("export", str(tmp_path / "run" / "best.ckpt"), "-o", str(tmp_path / "scenes.onnx")) == 0
    meta = read_onnx_metadata(tmp_path / "scenes.onnx")
    assert (meta.task, meta.head, meta.class_names) == ("classification", "linear", ["land", "water"])


def test_lr_search_picks_the_lr_that_every_seed_then_uses(five_seeds: Path) -> None:
    record = json.loads((five_seeds / "experiment.json").read_text())
    search = record["lr_search"]
    assert search["n_trials"] == 2 and LR_RANGE[0] <= search["best_lr"] <= LR_RANGE[1]
    assert search["best_value"] == max(t["value"] for t in search["trials"] if t["value"] is not None)
    assert [r["lr"] for r in record["runs"]] == [search["best_lr"]] * 5
    assert (five_seeds / "lr_search" / "trial_001" / "metrics.csv").is_file()


def test_trained_checkpoint_exports_with_everything_it_needs(five_seeds: Path, tmp_path: Path) -> None:
    assert cli("export", str(five_seeds / "best.ckpt"), "-o", str(tmp_path / "floods.onnx")) == 0
    meta = read_onnx_metadata(tmp_path / "floods.onnx")
    assert (meta.model, meta.task, meta.head, meta.class_names) == ("unet_small", "segmentation", "unet",
                                                                    ["land", "water"])
    assert meta.bands == BANDS and len(meta.mean) == len(meta.std) == len(meta.wavelengths) == 15
    assert meta.training["dataset"] == "chips" and meta.training["test"]["miou"] > 0
    with open(five_seeds / "seed_0" / "metrics.csv") as fh:
        assert "val/miou" in next(csv.reader(fh))


# The GEO-Bench-2 leaderboard's reference (its repository's examples/results_and_parameters.csv and
# examples/additional_info.json; the README: the JSON "MUST have the same file name and contain the same keys").
REFERENCE_COLUMNS = ["dataset", "Metric", "experiment_name", "partition name", "backbone", "decoder",
                     "batch_size_selection", "early_stop_patience", "n_trials", "Seed", "data_percentages",
                     "batch_size", "weight_decay", "lr", "test metric"]
REFERENCE_INFO_KEYS = ["Paper Link", "Code Repository Link ", "License", "Number of HPO trials",
                       "Additional information about submission", "Comments on new models in submission",
                       "New model info"]
REFERENCE_MODEL_KEYS = ["model_display_name", "model_size", "unique_backbone_key"]


def test_report_writes_the_leaderboard_files_exactly_as_the_reference(five_seeds: Path, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "leaderboard" / "results_and_parameters.csv"
    out.parent.mkdir()
    assert cli("report", str(five_seeds.parent), "--geobench", str(out)) == 0
    assert "fill in 'Code Repository Link '" in capsys.readouterr().err  # what only the submitter knows
    text = out.read_text()
    assert check_geobench_csv(text) == []
    assert next(csv.reader(text.splitlines())) == REFERENCE_COLUMNS
    rows = list(csv.DictReader(text.splitlines()))
    assert sorted(int(r["Seed"]) for r in rows) == [0, 1, 2, 3, 4]
    assert {(r["partition name"], r["data_percentages"], r["decoder"]) for r in rows} == {("1.00x train", "100%", "unet")}
    experiment = json.loads((five_seeds / "experiment.json").read_text())
    assert [float(r["test metric"]) for r in rows] == [r["test"]["miou"] for r in experiment["runs"]]
    info = json.loads((out.parent / "additional_info.json").read_text())
    assert list(info) == REFERENCE_INFO_KEYS and info["Number of HPO trials"] == 2
    assert [list(m) for m in info["New model info"]] == [REFERENCE_MODEL_KEYS]
    assert "full regime" in info["Additional information about submission"]
    assert "split: splits/{train,val,test}.txt" in info["Additional information about submission"]
    ours = json.loads((out.parent / "trtbench_details.json").read_text())["experiments"]["floods_unet"]
    assert ours["gflops_per_image"] > 0 and ours["regime"] == "full"
    assert "| land | water | mIoU |" in (out.parent / "per_class.md").read_text()
    assert (out.parent / "accuracy_vs_gflops.png").stat().st_size > 0


def test_schema_check_names_missing_extra_and_misordered_columns_and_too_few_seeds(five_seeds: Path) -> None:
    rows = geobench_rows(find_experiments(five_seeds))

    def table(header: list[str], count: int = 5) -> str:
        return ",".join(header) + "\n" + "\n".join(",".join(str(r.get(c, "x")) for c in header) for r in rows[:count])

    problems = check_geobench_csv(table([c for c in REFERENCE_COLUMNS if c != "n_trials"], count=3))
    assert any("n_trials" in p for p in problems) and any("3 seed(s)" in p for p in problems)
    assert any("frozen_or_full_ft" in p for p in check_geobench_csv(table([*REFERENCE_COLUMNS, "frozen_or_full_ft"])))
    assert any("order" in p for p in check_geobench_csv(table(REFERENCE_COLUMNS[::-1])))
    assert check_geobench_csv(table(REFERENCE_COLUMNS)) == []


def test_report_adds_backend_precision_and_artifact_hash_from_compare_cells(
        five_seeds: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--compare`: the comparison cells measured on an experiment's best.ckpt, as itself or as an artifact
    exported from it, are found by content and listed per experiment; the GEO-Bench CSV is untouched. The
    artifact is a one-node ONNX file carrying the metadata `trtbench export` records (what attribution reads;
    a real export would add seconds and nothing to check here)."""
    best = five_seeds / "best.ckpt"
    cmp = tmp_path / "cmp"
    (cmp / "artifacts").mkdir(parents=True)
    onnx_path = cmp / "artifacts" / "floods.onnx"
    proto = onnx.helper.make_model(onnx.helper.make_graph(
        [onnx.helper.make_node("Identity", ["pixels"], ["logits"])], "stub",
        [onnx.helper.make_tensor_value_info("pixels", onnx.TensorProto.FLOAT, [1])],
        [onnx.helper.make_tensor_value_info("logits", onnx.TensorProto.FLOAT, [1])]))
    write_metadata(proto, model_from_checkpoint(best).metadata)
    onnx.save(proto, onnx_path)
    blank = dict.fromkeys(ROW_FIELDS) | {"status": "ok", "batch": 1, "input_size": 64}
    cells = [blank | {"cell_id": "t", "backend": "torch", "precision": "fp32", "artifact": str(best),
                      "artifact_sha256": file_sha256(best), "metric": 0.5},
             blank | {"cell_id": "o", "backend": "onnxruntime", "precision": "fp16", "artifact": "artifacts/floods.onnx",
                      "artifact_sha256": file_sha256(onnx_path), "metric": 0.49},
             blank | {"cell_id": "x", "backend": "onnxruntime", "precision": "fp32", "artifact": None,
                      "artifact_sha256": "0" * 64, "model": "another model"}]
    write_tables(cells, {}, [], cmp)   # what `trtbench compare` writes when it finishes
    out = tmp_path / "board" / "results_and_parameters.csv"
    out.parent.mkdir()
    assert cli("report", str(five_seeds.parent), "--geobench", str(out), "--compare", str(cmp), "--no-plot") == 0
    assert next(csv.reader(out.read_text().splitlines())) == REFERENCE_COLUMNS    # the reference, unchanged
    assert check_geobench_csv(out.read_text()) == []
    rows = list(csv.DictReader((out.parent / "results_and_parameters_deployment.csv").read_text().splitlines()))
    best_seed = json.loads((five_seeds / "experiment.json").read_text())["best_seed"]
    assert [(r["cell_id"], r["backend"], r["precision"], r["artifact_sha256"]) for r in rows] == [
        ("o", "onnxruntime", "fp16", file_sha256(onnx_path)), ("t", "torch", "fp32", file_sha256(best))]
    assert {(r["experiment_name"], r["Seed"], r["dataset"]) for r in rows} == {("floods_unet", str(best_seed), "chips")}
    ours = json.loads((out.parent / "trtbench_details.json").read_text())["experiments"]["floods_unet"]
    assert [c["cell_id"] for c in ours["deployment"]] == ["o", "t"]
    capsys.readouterr()
    # A folder that holds no finished comparison is the user's mistake: exit 2 before any output is written.
    assert cli("report", str(five_seeds.parent), "--geobench", str(tmp_path / "r.csv"), "--compare",
               str(tmp_path / "board")) == 2
    assert "error: --compare" in capsys.readouterr().err and not (tmp_path / "r.csv").exists()


def test_train_command_writes_a_checkpoint_ready_for_export(tiles: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "floods"
    code = cli("train", "unet", "--variant", "small", "--dataset", "chips", "--data-root", str(tiles), "--sensor",
               SENSOR, "--class-names", "land,water", "--class-weights", "auto", "--regime", "fewshot", "--fraction",
               "0.2", "--epochs", "1", "--input-size", "32", "--quiet", "-o", str(out))
    printed = capsys.readouterr().out
    assert code == 0 and "test miou" in printed and f"trtbench export {out / 'best.ckpt'}" in printed
    record = json.loads((out / "experiment.json").read_text())
    weights = record["config"]["class_weights"]
    assert len(weights) == 2 and weights[1] > weights[0]  # water is the rarer class, so it weighs more
    training = model_from_checkpoint(out / "best.ckpt").metadata.training
    assert training["regime"] == "fewshot"
    assert record["split"] and training["split"] == record["split"]   # scores say which split they are on


def test_bad_input_exits_2_with_a_fix_and_leaves_nothing_behind(data_dir: Path, tiles: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    base = ["train", "unet_small", "--dataset", "chips", "--sensor", SENSOR, "--epochs", "1", "--input-size", "32",
            "--quiet"]
    out = tmp_path / "run"
    assert cli(*base, "--data-root", str(tmp_path / "missing"), "-o", str(out)) == 2
    assert "dataset folder not found" in capsys.readouterr().err
    (tmp_path / "flat" / "images").mkdir(parents=True)
    assert cli(*base, "--data-root", str(tmp_path / "flat"), "-o", str(out)) == 2
    assert "masks folder (or labels.csv) not found" in capsys.readouterr().err

    other = build_model(TrainConfig("unet_small"), load_data(DataOptions("chips", tiles, sensor=SENSOR)), 0)
    foreign = save_model(other, other.metadata, tmp_path / "unet.ckpt")
    assert cli("train", "clay", "--variant", "tiny", "--checkpoint", str(foreign), *base[2:], "--data-root",
               str(tiles), "-o", str(out)) == 2
    assert "'unet_small' checkpoint, not 'clay_tiny'" in capsys.readouterr().err

    bad = tmp_path / "bad_labels"
    write_floods_tiles(data_dir, bad, tile=128)
    with rasterio.open(bad / "masks" / "r000_c000.tif", "r+") as dst:
        dst.write(dst.read() * 0 + 3)
    assert cli(*base, "--num-classes", "2", "--data-root", str(bad), "-o", str(out)) == 2
    assert "unexpected value(s) [3]" in capsys.readouterr().err
    assert not out.exists()

