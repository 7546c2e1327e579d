"""``trtbench train --regime lora``: low-rank adapters on the encoder's block linears, trained for one epoch on
real Sen1Floods11 tiles (S1 + S2, 15 bands), merged into the weights at export.

What is pinned: only the adapters and the head train, and their count is reported (console, experiment.json,
checkpoint); merging is exact (float64); the merged ONNX is the plain graph (same operators, same counts) and
matches the unmerged PyTorch model within eval's fp32 bound on the real chip; a LoRA checkpoint's adapter keys
are checked like any key; bad options exit 2 before any work. Tiny Clay through the CLI, tiny DOFA (the other
family) through the Python API.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from cli_helpers import exit_code, run_cli
from test_data_tiles import SENSOR, write_floods_tiles
from torch import nn

from trtbench.data import DataOptions, load_data
from trtbench.errors import CheckpointError, TrtbenchError
from trtbench.evaluate import normalised_tiles
from trtbench.export import export_onnx
from trtbench.metadata import read_onnx_metadata
from trtbench.models import MODELS, create_model, model_from_checkpoint
from trtbench.models.checkpoint import read_checkpoint
from trtbench.models.lora import LoraConfig, LoraLinear, add_adapters, merged_copy
from trtbench.models.registry import ENCODER
from trtbench.parity import ParityAccumulator, tolerance_for
from trtbench.train import TrainConfig, fit

RANK, ALPHA = 4, 8.0
CLAY_LINEARS = ["0.to_qkv", "0.to_out", "1.net.1", "1.net.3"]   # Clay's block: [Attention, FeedForward]
VIT_LINEARS = ["attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2"]   # timm's ViT block (DOFA)


@pytest.fixture(scope="module")
def tiles(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real chip as 16 tiles of 128 px: 10 train, 2 val, 4 test, spatially disjoint."""
    root = tmp_path_factory.mktemp("lora_tiles")
    write_floods_tiles(data_dir, root, tile=128)
    return root


def split_files(tiles: Path, split: str) -> list[Path]:
    return [tiles / "images" / f"{n}.tif" for n in (tiles / "splits" / f"{split}.txt").read_text().split()]


@pytest.fixture(scope="module")
def clay_run(tiles: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """`trtbench train clay --variant tiny --regime lora` for one epoch; the run folder and what it printed."""
    out = tmp_path_factory.mktemp("lora_runs") / "clay"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = exit_code("train", "clay", "--variant", "tiny", "--random-init", "--dataset", "chips", "--data-root",
                         str(tiles), "--sensor", SENSOR, "--class-names", "land,water", "--head", "fcn",
                         "--regime", "lora", "--lora-rank", str(RANK), "--lora-alpha", str(ALPHA), "--lora-dropout",
                         "0.1", "--lora-targets", "to_qkv,to_out,net.1,net.3", "--epochs", "1", "--batch-size", "5",
                         "--input-size", "32", "--lr", "1e-3", "--warmup-epochs", "0", "--quiet", "-o", str(out))
    assert code == 0, printed.getvalue()
    return out, printed.getvalue()


@pytest.fixture(scope="module")
def dofa_run(tiles: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny DOFA, LoRA at its defaults (every block linear, rank 8), one epoch: the run folder."""
    folder = tmp_path_factory.mktemp("lora_runs") / "dofa"
    bundle = load_data(DataOptions("chips", tiles, sensor=SENSOR, class_names=["land", "water"]))
    config = TrainConfig("dofa_tiny", head="fcn", regime="lora", epochs=1, batch_size=5, crop=32, lr=1e-3,
                         warmup_epochs=0, progress=False)
    fit(config, bundle, seed=0, lr=config.lr, folder=folder)
    return folder


def adapter_size(blocks: nn.Module, rank: int) -> int:
    """r * (in + out) for every linear of the blocks: what LoRA adds, counted from the plain model."""
    return sum(rank * (m.in_features + m.out_features) for m in blocks.modules() if isinstance(m, nn.Linear))


def test_lora_trains_only_the_adapters_and_the_head_and_reports_their_share(clay_run: tuple[Path, str]) -> None:
    out, printed = clay_run
    plain = create_model("clay_tiny", sensor=SENSOR, task="segmentation", head="fcn", num_classes=2,
                         class_names=["land", "water"], seed=0, input_size=32)   # the run's initial weights
    encoder_size = sum(p.numel() for p in plain.encoder.parameters())
    expected = adapter_size(plain.encoder.transformer.layers, RANK)
    record = json.loads((out / "experiment.json").read_text())
    count = record["trainable_parameters"]
    assert count["encoder_trainable"] == expected and count["encoder_parameters"] == encoder_size
    assert count["encoder_fraction"] == pytest.approx(expected / encoder_size) and count["encoder_fraction"] < 0.02
    assert count["head_trainable"] == sum(p.numel() for p in plain.head.parameters())
    assert f"encoder {expected:,} of {encoder_size:,}" in printed and "LoRA rank 4" in printed
    assert record["config"]["regime"] == "lora"
    assert record["lora"] == {"rank": RANK, "alpha": ALPHA, "dropout": 0.1, "targets": CLAY_LINEARS,
                              "adapted_linears": 4 * 6, "merged": False}

    ckpt = read_checkpoint(out / "best.ckpt")
    training = json.loads(ckpt["trtbench_metadata"])["training"]
    assert training["lora"] == record["lora"] and training["trainable_parameters"] == count
    state, initial = ckpt["state_dict"], plain.state_dict()
    adapters = [k for k in state if ".lora_" in k]
    assert len(adapters) == 2 * 4 * 6 and set(state) - set(adapters) == set(initial)
    encoder = [k for k in initial if k.startswith("encoder.")]
    assert all(torch.equal(state[k], initial[k]) for k in encoder)   # the pretrained weights stay frozen
    assert all(state[k].abs().max() > 0 for k in adapters if k.endswith("lora_B"))   # B starts at 0: it trained
    head = [k for k in initial if k.startswith("head.") and k.endswith("weight")]
    assert head and all(not torch.equal(state[k], initial[k]) for k in head)   # every head layer trains


@pytest.mark.parametrize("name", ["clay_tiny", "dofa_tiny"])
def test_merging_is_exact_in_float64(name: str, s2_chip: Path) -> None:
    model = create_model(name, sensor="sentinel-2-l1c", task="segmentation", head="fcn", num_classes=2, seed=0)
    pixels = torch.from_numpy(next(normalised_tiles(model.metadata, [s2_chip], tile=64)))[None]
    with torch.no_grad():
        patches = model.patch_embed(pixels).double()   # the adapters sit after the patch embedding
    model = model.double()
    add_adapters(model, LoraConfig(rank=RANK, alpha=ALPHA))
    torch.manual_seed(1)
    for layer in model.modules():   # trained-looking adapters (B is zero at init, which would merge trivially)
        if isinstance(layer, LoraLinear):
            nn.init.normal_(layer.lora_B, std=0.05)
    with torch.no_grad():
        unmerged = model.from_patches(patches, model.metadata.gsd)[0]
        plain = create_model(name, sensor="sentinel-2-l1c", task="segmentation", head="fcn", num_classes=2,
                             seed=0).double().from_patches(patches, model.metadata.gsd)[0]
        merged_model = merged_copy(model)   # as export and create_model merge; the adapted model is kept
        merged = merged_model.from_patches(patches, model.metadata.gsd)[0]
    assert (unmerged - plain).abs().max() > 1e-3   # the adapters change the function ...
    assert (merged - unmerged).abs().max() <= 1e-10   # ... and the merged weights compute exactly it
    assert not any(isinstance(m, LoraLinear) for m in merged_model.modules())
    assert any(isinstance(m, LoraLinear) for m in model.modules())


def onnx_ops(path: Path) -> Counter:
    return Counter(node.op_type for node in onnx.load(str(path), load_external_data=False).graph.node)


def test_export_merges_the_adapters_so_the_onnx_is_the_plain_graph(clay_run: tuple[Path, str], tiles: Path,
                                                                   tiny_water_onnx: Path, tmp_path: Path) -> None:
    """Export is handed the model with its adapters as trained. The plain graph to match: conftest's clay_tiny +
    FCN export (other bands, same architecture: the folded patch embedding is one Conv whatever the band count)."""
    out, _ = clay_run
    unmerged = model_from_checkpoint(out / "best.ckpt", merge_lora=False)
    onnx_path = export_onnx(unmerged, tmp_path / "lora.onnx")
    assert onnx_ops(onnx_path) == onnx_ops(tiny_water_onnx)
    assert read_onnx_metadata(onnx_path).training["lora"]["merged"] is True   # set by the merge, recorded
    assert sum(isinstance(m, LoraLinear) for m in unmerged.modules()) == 4 * 6   # merged a copy, not the model

    # Parity against the UNMERGED PyTorch model on the real test tiles, with eval's inputs and bound.
    batch = np.stack(list(normalised_tiles(unmerged.metadata, split_files(tiles, "test")[:2])))
    with torch.no_grad():
        reference = unmerged(torch.from_numpy(batch))[0].numpy()
    actual = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"]).run(None, {"pixels": batch})[0]
    parity = ParityAccumulator("logits")
    parity.update(reference, actual)
    assert parity.result().rel_max <= tolerance_for("fp32")

    # What eval and bench rebuild as the PyTorch reference: the merged model.
    reference_model = create_model("clay_tiny", checkpoint=out / "best.ckpt")
    assert not any(isinstance(m, LoraLinear) for m in reference_model.modules())
    assert reference_model.metadata.training["lora"]["merged"] is True


def test_dofa_lora_run_merges_at_export_and_evals_within_the_fp32_bound(dofa_run: Path, tiles: Path,
                                                                        tmp_path: Path) -> None:
    plain = create_model("dofa_tiny", sensor=SENSOR, task="segmentation", head="fcn", num_classes=2, seed=0)
    training = training_record(dofa_run / "best.ckpt")
    assert training["lora"]["targets"] == VIT_LINEARS and training["lora"]["rank"] == LoraConfig().rank
    assert training["trainable_parameters"]["encoder_trainable"] == adapter_size(plain.encoder.blocks, 8)
    onnx_path = tmp_path / "dofa_lora.onnx"
    assert exit_code("export", str(dofa_run / "best.ckpt"), "-o", str(onnx_path)) == 0
    assert read_onnx_metadata(onnx_path).training["lora"]["merged"] is True
    result = tmp_path / "eval.json"   # eval's PyTorch reference: the checkpoint the ONNX records, merged on load
    test = split_files(tiles, "test")[:1]
    assert exit_code("eval", "--engine", str(onnx_path), *repeated("--data", test),
                     *repeated("--labels", [tiles / "masks" / p.name for p in test]), "--json", str(result)) == 0
    parity = json.loads(result.read_text())["parity"][0]
    assert parity["rel_max"] <= tolerance_for("fp32")


def repeated(option: str, paths: list[Path]) -> list[str]:
    return [arg for path in paths for arg in (option, str(path))]


def training_record(checkpoint: Path) -> dict:
    return json.loads(read_checkpoint(checkpoint)["trtbench_metadata"])["training"]


def test_adapter_keys_are_checked_like_any_checkpoint_key(clay_run: tuple[Path, str], tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    out, _ = clay_run
    ckpt = torch.load(out / "best.ckpt", weights_only=True)
    key = "encoder.transformer.layers.2.0.to_qkv.lora_A"
    lost = {**ckpt, "state_dict": {k: v for k, v in ckpt["state_dict"].items() if k != key}}
    torch.save(lost, tmp_path / "lost.ckpt")
    with pytest.raises(CheckpointError, match=rf"1 missing key\(s\): {key}"):
        model_from_checkpoint(tmp_path / "lost.ckpt")
    meta = json.loads(ckpt["trtbench_metadata"])
    del meta["training"]["lora"]   # adapter tensors without the record that says they are adapters
    torch.save({**ckpt, "trtbench_metadata": json.dumps(meta)}, tmp_path / "unrecorded.ckpt")
    result = run_cli(capsys, "export", str(tmp_path / "unrecorded.ckpt"), "-o", str(tmp_path / "x.onnx"))
    assert result.code == 2 and "48 unexpected key(s): encoder.transformer.layers.0.0.to_qkv.lora_A" in result.err
    assert not (tmp_path / "x.onnx").exists()


def test_bad_lora_options_exit_2_before_any_work(tiles: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    base = ["train", "clay", "--variant", "tiny", "--random-init", "--dataset", "chips", "--data-root", str(tiles),
            "--sensor", SENSOR, "--epochs", "1", "--input-size", "32", "--quiet", "-o", str(out)]
    result = run_cli(capsys, *base, "--regime", "lora", "--lora-targets", "qkv,fc1")
    assert result.code == 2 and "no linear 'qkv'" in result.err
    assert "0.to_qkv, 0.to_out, 1.net.1, 1.net.3" in result.err   # the valid names, to pick from
    result = run_cli(capsys, *base, "--lora-rank", "4")
    assert result.code == 2 and "apply to --regime lora" in result.err and "add --regime lora" in result.err
    result = run_cli(capsys, *base, "--regime", "lora", "--lora-rank", "200")
    assert result.code == 2 and "exceeds the smaller side" in result.err   # Clay tiny is 192 wide
    result = run_cli(capsys, *base, "--regime", "lora", "--lora-dropout", "1")
    assert result.code == 2 and "--lora-dropout" in result.err
    result = run_cli(capsys, "train", "unet", "--variant", "small", *base[4:], "--regime", "lora")
    assert result.code == 2 and "no pretrained encoder" in result.err
    assert all("Traceback" not in r for r in (result.out, result.err)) and not out.exists()
    with pytest.raises(TrtbenchError, match="apply to --regime lora"):
        TrainConfig("clay_tiny", regime="full", lora=LoraConfig()).validate()


@pytest.mark.parametrize("name", [n for n, s in MODELS.items() if s.facts.kind == ENCODER])
def test_every_registered_transformer_encoder_takes_adapters_on_every_block(name: str) -> None:
    """Generic over the registry (built on the meta device: no weights): each block's attention and MLP linears
    get adapters, a small share of the encoder; an encoder without transformer blocks (a CNN) is refused."""
    with torch.device("meta"):
        model = create_model(name)   # on the band table it was pretrained on
        size = sum(p.numel() for p in model.encoder.parameters())
        if "resnet" in name:
            with pytest.raises(TrtbenchError, match="no .*transformer blocks"):
                add_adapters(model, LoraConfig())
            return
        config = add_adapters(model, LoraConfig())
    layers = [m for m in model.modules() if isinstance(m, LoraLinear)]
    assert len(config.targets) >= 4 and len(layers) == len(config.targets) * MODELS[name].facts.depth
    added = sum(p.numel() for m in layers for p in (m.lora_A, m.lora_B))
    assert "tiny" in name or added / size < 0.05   # the tiny test sizes are too narrow to say
