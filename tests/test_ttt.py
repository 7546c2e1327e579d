"""TTT-MMR (MMEarth-Bench test-time training with multimodal reconstruction): joint training with an S1
reconstruction decoder, per-batch adaptation that restores the trained weights, K = 0 = plain eval, geographic
batching, and the deployment view (export says what a static file loses, bench times both).

Data: the real Sen1Floods11 chip (S2 input, S1 reconstructed). The acceptance test cuts a quarter of it into
64x64 tiles written in the release's layout, whole 128-px blocks assigned to train/val/test as in
``test_data_tiles``, so the test split is spatially disjoint from training.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from affine import Affine
from cli_helpers import run_cli
from rasterio.crs import CRS
from test_data_tiles import BLOCK, TEST_BLOCKS, VAL_BLOCKS

from trtbench.adapt.batching import chip_location, geographic_batches, sequential_batches
from trtbench.adapt.command import static_export_note
from trtbench.adapt.reconstruction import build_decoders, load_joint
from trtbench.adapt.ttt import TestTimeTrainer, TTTConfig
from trtbench.errors import InputError
from trtbench.models import create_model
from trtbench.sensors import get_sensor

EDGE = 32   # unit tests: 32x32 crops of the real chip, a tiny Clay (4x4 patches)


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> object:
    """One intra-op thread: these models are tiny, and on a shared 2-core runner a second OpenMP thread spins
    waiting for a core (measured here: a 64x192 linear 1.3 ms on one thread, 60 ms on two under load)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def write_floods_release(data_dir: Path, root: Path, tile: int = 64, extent: int = 256) -> dict[str, list[str]]:
    """The chip's top-left ``extent`` pixels cut into ``tile`` tiles in Sen1Floods11's published layout (S1Hand,
    S2Hand, LabelHand, the hand-labelled split CSVs); whole 128-px blocks go to one split (at 256: one block
    each to val and test, two to train). Returns the chip names per split."""
    base = root / "v1.1"
    hand = base / "data" / "flood_events" / "HandLabeled"
    splits: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
    for kind in ("S1Hand", "S2Hand", "LabelHand"):
        (hand / kind).mkdir(parents=True, exist_ok=True)
        with rasterio.open(data_dir / "sen1floods11" / f"Spain_7370579_{kind}.tif") as src:
            pixels, profile = src.read(), src.profile
            for row in range(0, extent, tile):
                for col in range(0, extent, tile):
                    name = f"Spain_r{row:03d}c{col:03d}"
                    window = {**profile, "height": tile, "width": tile, "tiled": False,
                              "transform": src.transform @ Affine.translation(col, row)}
                    for key in ("blockxsize", "blockysize"):
                        window.pop(key, None)
                    with rasterio.open(hand / kind / f"{name}_{kind}.tif", "w", **window) as dst:
                        dst.write(pixels[:, row:row + tile, col:col + tile])
                    if kind == "LabelHand":
                        block = (row // BLOCK, col // BLOCK)
                        split = "test" if block in TEST_BLOCKS else "valid" if block in VAL_BLOCKS else "train"
                        splits[split].append(name)
    folder = base / "splits" / "flood_handlabeled"
    folder.mkdir(parents=True, exist_ok=True)
    for split, names in splits.items():
        (folder / f"flood_{split}_data.csv").write_text(
            "".join(f"{n}_S1Hand.tif,{n}_LabelHand.tif\n" for n in names))
    return splits


@pytest.fixture(scope="module")
def stacks(data_dir: Path) -> torch.Tensor:
    """Eight 32x32 crops of the real chip: 13 S2 bands then VV, VH, each normalised with its own sensor table."""
    folder = data_dir / "sen1floods11"
    parts = []
    for name, sensor in (("S2Hand", "sentinel-2-l1c"), ("S1Hand", "sentinel-1-rtc")):
        with rasterio.open(folder / f"Spain_7370579_{name}.tif") as src:
            table = get_sensor(sensor)
            pixels = src.read(window=((0, 64), (0, 4 * 64))).astype(np.float32)
            parts.append((pixels - np.array(table.mean)[:, None, None]) / np.array(table.std)[:, None, None])
    stack = np.nan_to_num(np.concatenate(parts))
    crops = [stack[:, r:r + EDGE, c:c + EDGE] for r in (0, 32) for c in range(0, 4 * 64, 64)]
    return torch.from_numpy(np.stack(crops).astype(np.float32))


@pytest.fixture()
def trainer() -> TestTimeTrainer:
    """A tiny Clay with a 2-class head and an S1 decoder (seeded random weights: the mechanics do not depend on
    training), reading the 13 S2 channels and reconstructing channels 13-14."""
    model = create_model("clay_tiny", sensor="sentinel-2-l1c", task="segmentation", head="fcn", num_classes=2,
                         seed=0, input_size=EDGE)
    torch.manual_seed(1)
    decoders = build_decoders(model, {"s1": 2})
    return TestTimeTrainer(model, decoders, 13, {"s1": [13, 14]})


def test_k0_is_the_static_model_exactly_also_after_adapting(trainer: TestTimeTrainer, stacks: torch.Tensor) -> None:
    with torch.no_grad():
        plain = trainer.model(stacks[:4, :13])[0]
    assert torch.equal(trainer.predict(stacks[:4], TTTConfig(0)), plain)
    adapted = trainer.predict(stacks[:4], TTTConfig(3, 1e-2))
    assert not torch.allclose(adapted, plain)            # the steps did change the encoder for that batch ...
    assert torch.equal(trainer.predict(stacks[:4], TTTConfig(0)), plain)   # ... and it was restored after it


def test_results_do_not_depend_on_batch_order(trainer: TestTimeTrainer, stacks: torch.Tensor) -> None:
    config = TTTConfig(2, 1e-3, "adamw")   # AdamW keeps moments: any state leaking across batches shows
    trained = {k: v.clone() for k, v in trainer.model.encoder.state_dict().items()}
    first, second = stacks[:4], stacks[4:]
    a1, b1 = trainer.predict(first, config), trainer.predict(second, config)
    b2, a2 = trainer.predict(second, config), trainer.predict(first, config)
    assert torch.equal(a1, a2) and torch.equal(b1, b2)
    assert all(torch.equal(v, trained[k]) for k, v in trainer.model.encoder.state_dict().items())


def test_each_batch_gets_a_fresh_optimiser(trainer: TestTimeTrainer, stacks: torch.Tensor) -> None:
    config = TTTConfig(3, 1e-3, "adamw")
    trainer.predict(stacks[:4], config)
    first = trainer.optimizer
    trainer.predict(stacks[4:], config)
    second = trainer.optimizer
    assert second is not None and second is not first
    steps = {int(state["step"]) for state in second.state.values()}
    assert steps == {3}   # K steps of this batch only, not 2K


def test_only_the_encoder_adapts(trainer: TestTimeTrainer, stacks: torch.Tensor) -> None:
    head = {k: v.clone() for k, v in trainer.model.head.state_dict().items()}
    decoders = {k: v.clone() for k, v in trainer.decoders.state_dict().items()}
    encoder = trainer.model.encoder
    seen: list[torch.Tensor] = []
    hook = trainer.model.head.register_forward_hook(lambda module, args, out: seen.append(   # once per pass
        next(encoder.parameters()).detach().clone()))
    try:
        trainer.predict(stacks[:4], TTTConfig(2, 1e-1))
    finally:
        hook.remove()
    assert len(seen) == 3 and not torch.equal(seen[0], seen[-1])   # 2 steps + the prediction; the encoder moved
    assert all(torch.equal(v, head[k]) for k, v in trainer.model.head.state_dict().items())
    assert all(torch.equal(v, decoders[k]) for k, v in trainer.decoders.state_dict().items())


def _chip(path: Path, crs: str, x: float, y: float, pixel: float) -> Path:
    profile = {"driver": "GTiff", "width": 4, "height": 4, "count": 1, "dtype": "uint8", "crs": CRS.from_string(crs),
               "transform": Affine(pixel, 0, x, 0, -pixel, y)}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.zeros((1, 4, 4), np.uint8))
    return path


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")   # the chip made without one
def test_geographic_batches_group_chips_by_location(tmp_path: Path) -> None:
    # Three places, two chips each, listed interleaved and in different CRSs: Valencia (lon/lat), Copenhagen
    # (UTM 32N metres) and Boston (lon/lat).
    places = [("valencia", "EPSG:4326", -0.75, 38.10, 1e-4), ("copenhagen", "EPSG:32632", 724000, 6176000, 10),
              ("boston", "EPSG:4326", -71.06, 42.36, 1e-4)]
    paths, truth = [], []
    for k in range(2):
        for name, crs, x, y, pixel in places:
            shift = k * 50 * pixel
            paths.append(_chip(tmp_path / f"{name}{k}.tif", crs, x + shift, y + shift, pixel))
            truth.append(name)
    lonlat = [chip_location(p) for p in paths]
    assert lonlat[1] == pytest.approx((12.6, 55.7), abs=0.05)   # the UTM chip lands in Copenhagen
    batches = geographic_batches(lonlat, 2)
    assert sorted(len(b) for b in batches) == [2, 2, 2]
    assert all(len({truth[i] for i in batch}) == 1 for batch in batches)
    assert sorted(i for b in batches for i in b) == list(range(6))
    assert sequential_batches(6, 2) == [[0, 1], [2, 3], [4, 5]]   # without --ttt-geo: dataset order
    with pytest.raises(InputError, match="no georeferencing"):
        with rasterio.open(tmp_path / "plain.tif", "w", driver="GTiff", width=2, height=2, count=1,
                           dtype="uint8") as dst:
            dst.write(np.zeros((1, 2, 2), np.uint8))
        chip_location(tmp_path / "plain.tif")


def test_sen1floods11_joint_training_then_ttt_k015_on_held_out_tiles(data_dir: Path, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture) -> None:
    root = tmp_path / "sen1floods11"
    splits = write_floods_release(data_dir, root)
    run = tmp_path / "run"
    result = run_cli(capsys, "train", "clay", "--variant", "tiny", "--random-init", "--dataset", "sen1floods11",
                     "--data-root", root, "--modalities", "s2", "--aux-modalities", "s1", "--head", "fcn",
                     "--epochs", "1", "--batch-size", "4", "--input-size", "64", "--quiet", "-o", run)
    assert result.code == 0, result.err
    trained = json.loads((run / "experiment.json").read_text())

    model, decoders, record = load_joint(run / "best.ckpt")   # both parts load strictly
    assert model.metadata.bands == get_sensor("sentinel-2-l1c").band_names   # the encoder reads S2 only
    assert record["aux"] == ["s1"] and record["aux_bands"] == {"s1": ["VV", "VH"]}
    assert record["aux_channels"] == {"s1": [13, 14]} and set(decoders) == {"s1"}
    assert record["mean"][13:] == pytest.approx(get_sensor("sentinel-1-rtc").mean)   # S1 targets: S1's own statistics

    out = tmp_path / "ttt.json"
    result = run_cli(capsys, "eval", "--engine", run / "best.ckpt", "--data", root, "--ttt-steps", "0,1,5",
                     "--batch-size", "4", "--json", out)
    assert result.code == 0, result.err
    report = json.loads(out.read_text())
    print("\n" + result.out)
    assert [r["steps"] for r in report["runs"]] == [0, 1, 5]
    assert sorted(n for b in report["batches"] for n in b) == sorted(splits["test"])
    assert all(0 <= r["metrics"]["miou"] <= 1 and r["time_vs_k0"] > 0 for r in report["runs"])
    assert report["runs"][0]["time_vs_k0"] == 1.0
    # K = 0 is plain eval: the trainer's own test mIoU on the same chips, exactly.
    assert report["runs"][0]["metrics"]["miou"] == trained["runs"][0]["test"]["miou"]
    assert "K" in result.out and "time vs K=0" in result.out

    # The deployment view: an export keeps the static model and says what it loses (the ONNX export itself is
    # tested elsewhere: 45 s for this model here); an exported file cannot adapt.
    note = static_export_note(model.metadata, str(run / "best.ckpt"))
    assert note is not None and "cannot be a static artifact" in note and "Lost: the per-batch adaptation" in note
    assert static_export_note(create_model("clay_tiny", seed=0).metadata, "x.ckpt") is None
    result = run_cli(capsys, "eval", "--engine", tmp_path / "static.onnx", "--data", root, "--ttt-steps", "1")
    assert result.code == 2 and "static" in result.err and "fix:" in result.err


def test_aux_modalities_mistakes_exit_2_before_training(data_dir: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    root = tmp_path / "sen1floods11"
    base = ["train", "clay", "--variant", "tiny", "--random-init", "--data-root", root, "-o", tmp_path / "run"]
    root.mkdir()
    for extra, problem in ((["--dataset", "sen1floods11", "--aux-modalities", "dem"], "has the modalities s1, s2"),
                           (["--dataset", "chips", "--aux-modalities", "s1"], "several modalities"),
                           (["--dataset", "sen1floods11", "--aux-modalities", "s1", "--aux-weights", "1,2"],
                            "aux-weights")):
        result = run_cli(capsys, *base, *extra)
        assert result.code == 2 and problem in result.err and "fix:" in result.err and "Traceback" not in result.err
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def joint_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A joint checkpoint as `train --aux-modalities s1` writes it (seeded weights: timing does not need training)."""
    from trtbench.adapt.reconstruction import save_joint

    model = create_model("clay_tiny", sensor="sentinel-2-l1c", task="segmentation", head="fcn", num_classes=2,
                         seed=0, input_size=EDGE)
    record = {"aux": ["s1"], "aux_channels": {"s1": [13, 14]}, "input_channels": 13, "mean": [0.0] * 15,
              "std": [1.0] * 15}
    path = tmp_path_factory.mktemp("joint") / "best.ckpt"
    return save_joint(model, build_decoders(model, {"s1": 2}), model.metadata.with_(training={"ttt": record}), path)


def test_bench_times_ttt_beside_the_static_model(joint_checkpoint: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "bench.json"
    result = run_cli(capsys, "bench", joint_checkpoint, "--ttt-steps", "2", "--batch", "2", "--size", str(EDGE),
                     "--warmup", "0", "--min-iters", "2", "--min-time", "0", "--json", out)
    assert result.code == 0, result.err
    row = json.loads(out.read_text())["rows"][0]
    assert row["latency_ratio"] == pytest.approx(row["ttt_ms"] / row["static_ms"])
    assert row["ttt_ms"] > row["static_ms"]   # two forward+backward passes and a forward cannot beat one forward
    assert "ratio" in result.out


def test_compare_ttt_column_measures_the_torch_cell_and_flags_static_ones(joint_checkpoint: Path,
                                                                         tmp_path: Path) -> None:
    from trtbench.adapt.compare_column import ttt_column
    from trtbench.bench.timing import TimingConfig
    from trtbench.models import save_model

    quick = TimingConfig(warmup=0, min_iters=1, min_time=0)
    measured = ttt_column(str(joint_checkpoint), "torch", 1, EDGE, quick, steps=1)
    assert measured is not None and measured.startswith("K=1: p50 ") and measured.endswith("x static")
    assert "static only" in ttt_column(str(joint_checkpoint), "onnxruntime", 1, EDGE, quick)
    plain = create_model("clay_tiny", sensor="sentinel-2-l1c", task="segmentation", head="fcn", num_classes=2, seed=0)
    assert ttt_column(str(save_model(plain, plain.metadata, tmp_path / "plain.ckpt")), "torch", 1, EDGE, quick) is None


def test_ttt_eval_and_bench_mistakes_exit_2(joint_checkpoint: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture) -> None:
    from trtbench.models import save_model

    plain = create_model("clay_tiny", sensor="sentinel-2-l1c", task="segmentation", head="fcn", num_classes=2, seed=0)
    plain_ckpt = save_model(plain, plain.metadata, tmp_path / "plain.ckpt")
    cases = [
        (["eval", "--engine", joint_checkpoint, "--data", tmp_path, "--ttt-steps", "0,x"], "--ttt-steps takes"),
        (["eval", "--engine", joint_checkpoint, "--data", tmp_path, "--ttt-steps", "1", "--labels", "l.tif"],
         "--labels do(es) not apply"),
        (["eval", "--engine", joint_checkpoint, "--data", tmp_path / "nope", "--ttt-steps", "1"], "one folder"),
        (["eval", "--engine", plain_ckpt, "--data", tmp_path, "--ttt-steps", "1"], "not trained with reconstruction"),
        (["bench", joint_checkpoint, "--ttt-steps", "0"], "--ttt-steps"),
        (["bench", plain_ckpt, "--ttt-steps", "1", "--batch", "1"], "not trained with reconstruction"),
    ]
    for args, problem in cases:
        result = run_cli(capsys, *args)
        assert result.code == 2, args
        assert problem in result.err and "fix:" in result.err and "Traceback" not in result.err, result.err
