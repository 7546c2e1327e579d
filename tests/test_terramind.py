"""TerraMind v1: the released layout's encoder loads strictly and computes TerraTorch's backbone (mean over
modalities) on any subset of its modalities; it exports with parity on the real Sen1Floods11 chip (S2 alone, S1
alone, S2 + S1 stacked), passes the TensorRT audit, and its FLOPs match the analytic count.

The S2 chip is Sentinel-2 **L1C** (top of atmosphere): it feeds TerraMind's S2L1C embedding (``sentinel-2-l1c``),
with the 12 bands PANGAEA gives TerraMind (B10 left out: a subset of S2L1C's pretrained bands). The S1 chip is
GRD in dB; trtbench has no GRD table yet, so it is read as ``sentinel-1-rtc`` (TerraMind's S1RTC embedding).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from cli_helpers import run_cli
from flood_training import export_check_eval, small_flood_tiles, train_one_epoch
from terramind_spec import (
    SIZES,
    encoder_layout,
    encoder_macs,
    official_sincos,
    official_state,
    reference_forward,
    write_official_checkpoint,
)
from test_dofa import S1, real_tiles, relative_error

from trtbench.bench.flops import count_flops
from trtbench.check import audit_onnx
from trtbench.errors import CheckpointError, TrtbenchError
from trtbench.metadata import read_onnx_metadata
from trtbench.models import MODELS, create_model
from trtbench.models.terramind import modality_inputs

S2_NO_B10 = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12"]
S2 = ("sentinel-2-l1c", S2_NO_B10, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12])   # file order B1..B12, B10 skipped
S2_CHANNELS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12]                          # S2L1C's pretrained order
STACK = "sentinel-2-l1c+sentinel-1-rtc"


@pytest.fixture(scope="module")
def tiny_state() -> dict[str, torch.Tensor]:
    return official_state("tiny", seed=7)


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory, tiny_state):
    path = tmp_path_factory.mktemp("terramind") / "TerraMind_v1_tiny.pt"
    torch.save(tiny_state, path)
    return path


def chips(s2_chip, s1_chip, which: str, size: int) -> tuple[np.ndarray, dict[str, tuple[torch.Tensor, list[int]]]]:
    """The real chip's tiles for ``which`` (s2, s1, s2+s1) as the model's input, and per modality for the reference."""
    parts = {"s2": (real_tiles(s2_chip, *S2, size=size), "untok_sen2l1c@224", S2_CHANNELS),
             "s1": (real_tiles(s1_chip, *S1, size=size), "untok_sen1rtc@224", [0, 1])}
    chosen = [parts[p] for p in which.split("+")]
    pixels = np.concatenate([x for x, _, _ in chosen], axis=1)
    return pixels, {key: (torch.from_numpy(x).double(), channels) for x, key, channels in chosen}


def build(which: str, **kwargs):
    sensor = {"s2": "sentinel-2-l1c", "s1": "sentinel-1-rtc", "s2+s1": STACK}[which]
    bands = {"s2": S2_NO_B10, "s1": None, "s2+s1": [*S2_NO_B10, "VV", "VH"]}[which]
    return create_model("terramind_v1_tiny", sensor=sensor, bands=bands, **kwargs)


# --- the released layout --------------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", ["tiny", "base", "large"])
def test_encoder_state_dict_has_exactly_the_official_key_layout(variant):
    with torch.device("meta"):
        encoder = MODELS[f"terramind_v1_{variant}"].build()
    assert {k: tuple(v.shape) for k, v in encoder.state_dict().items()} == encoder_layout(variant)


def test_position_tables_are_the_official_fixed_sin_cos():
    encoder = MODELS["terramind_v1_tiny"].build()
    for embedding in encoder.encoder_embeddings.values():
        assert torch.allclose(embedding.pos_emb.double(), official_sincos(64), atol=1e-6)


# 14 x 14 patches: the stored tables; 10 x 10: the tables resampled bicubically
@pytest.mark.parametrize("which,size", [("s2", 224), ("s1", 160), ("s2+s1", 224), ("s2+s1", 160)])
def test_official_layout_checkpoint_loads_strictly_and_computes_terratorchs_backbone(tiny_ckpt, tiny_state, s2_chip,
                                                                                     s1_chip, which, size):
    model = build(which, checkpoint=tiny_ckpt).double()
    pixels, inputs = chips(s2_chip, s1_chip, which, size)
    with torch.no_grad():
        tokens, taps = model.encoder(torch.from_numpy(pixels).double(), collect=(0, 1, 2, 3))
        features, cls = model(torch.from_numpy(pixels).double())
    layers = reference_forward(tiny_state, inputs, heads=SIZES["tiny"][2])
    grid = size // 16
    assert features.shape == (2, 64, grid, grid)
    assert relative_error(tokens[:, 1:].numpy(), layers[-1].numpy()) < 1e-10    # merged, after encoder_norm
    for tap, layer in zip(taps, layers):                                        # every block, merged alike
        assert relative_error(tap[:, 1:].numpy(), layer.numpy()) < 1e-10
    assert relative_error(cls.numpy(), layers[-1].mean(dim=1).numpy()) < 1e-10  # no CLS token: the patch mean
    assert model.metadata.checkpoint_sha256


def test_modalities_attend_to_each_other_rather_than_running_apart(tiny_ckpt, s2_chip, s1_chip):
    pixels, _ = chips(s2_chip, s1_chip, "s2+s1", 64)
    joint, alone = build("s2+s1", checkpoint=tiny_ckpt), build("s2", checkpoint=tiny_ckpt)
    with torch.no_grad():
        both = joint.encoder(torch.from_numpy(pixels))[0]
        apart = alone.encoder(torch.from_numpy(pixels[:, :12]))[0]
    assert relative_error(both.numpy(), apart.numpy()) > 1e-2


@pytest.mark.parametrize("damage,expected", [
    ({"drop": "encoder.2.mlp.fc3.weight"}, "1 missing key(s): encoder.2.mlp.fc3.weight"),
    ({"drop": "encoder_embeddings.untok_sen1rtc@224.pos_emb"},
     "1 missing key(s): encoder_embeddings.untok_sen1rtc@224.pos_emb"),
    ({"extra": "encoder.0.attn.q_norm.weight"}, "unexpected key(s): encoder.0.attn.q_norm.weight"),
    ({"reshape": "encoder_embeddings.untok_sen2l1c@224.proj.weight"},
     "encoder_embeddings.untok_sen2l1c@224.proj.weight: checkpoint (65, 3328) vs model (64, 3328)"),
])
def test_damaged_checkpoint_fails_naming_the_key(tmp_path, damage, expected):
    path = write_official_checkpoint(tmp_path / "bad.pt", "tiny", **damage)
    with pytest.raises(CheckpointError) as err:
        create_model("terramind_v1_tiny", checkpoint=path, sensor=STACK)
    assert expected in str(err.value)


def test_decoder_and_other_modalities_are_dropped_and_another_size_is_refused(tmp_path, tiny_state):
    adapter = MODELS["terramind_v1_base"].official_state    # what create_model applies to an official file
    kept = MODELS["terramind_v1_tiny"].official_state(tiny_state, "TerraMind_v1_tiny.pt", "tiny")
    assert set(kept) == set(encoder_layout("tiny"))
    assert {"mask_token", "decoder_norm.weight", "encoder_embeddings.caption.mod_emb"} <= set(tiny_state)
    with pytest.raises(CheckpointError, match="holds a TerraMind 'tiny' encoder") as err:
        adapter(tiny_state, "TerraMind_v1_tiny.pt", "base")
    assert "use --variant tiny" in str(err.value)
    dofa = tmp_path / "dofa.pth"
    torch.save({"cls_token": torch.zeros(1, 1, 64)}, dofa)
    with pytest.raises(CheckpointError, match="not a TerraMind checkpoint"):
        create_model("terramind_v1_tiny", checkpoint=dofa)


# --- modalities, bands and normalisation ------------------------------------------------------------------------

def test_sensor_tables_feed_their_modality_and_band_subsets_select_the_pretrained_channels():
    l2a = create_model("terramind_v1_tiny", sensor="sentinel-2-l2a+sentinel-1-rtc")
    assert l2a.encoder.inputs == [("untok_sen2l2a@224", [1, 2, 3, 4, 5, 6, 7, 8, 10, 11]),  # no B01, B09 in the table
                                  ("untok_sen1rtc@224", [0, 1])]
    grd = create_model("terramind_v1_tiny", sensor="sentinel-2-l1c+sentinel-1-grd", bands=["B04", "VV", "VH"])
    assert grd.encoder.inputs == [("untok_sen2l1c@224", [3]), ("untok_sen1grd@224", [0, 1])]   # GRD is not RTC
    assert grd.metadata.mean[1:] == [-12.599, -20.293] and grd.metadata.std[1:] == [5.195, 5.890]
    swapped = create_model("terramind_v1_tiny", sensor="sentinel-1-rtc", bands=["VH", "VV"])
    assert swapped.encoder.inputs == [("untok_sen1rtc@224", [1, 0])]
    with torch.no_grad():   # VH then VV through the swapped kernel = VV then VH through the pretrained one
        x = torch.randn(1, 2, 32, 32)
        assert torch.allclose(swapped(x.flip(1))[0], create_model("terramind_v1_tiny", sensor="sentinel-1-rtc")(x)[0],
                              atol=1e-5)


def test_a_sensor_or_band_terramind_was_not_pretrained_on_is_refused_naming_the_right_ones(capsys, tmp_path):
    out = tmp_path / "tm.onnx"
    result = run_cli(capsys, "export", "terramind", "--variant", "tiny", "--random-init", "--sensor", "landsat-c2l1",
                     "-o", out)
    assert result.code == 2 and "Traceback" not in result.err and not out.exists()
    assert "error: TerraMind has no patch embedding for sensor 'landsat-c2l1'" in result.err
    assert ("fix: use sentinel-2-l2a (S2L2A), sentinel-2-l1c (S2L1C), sentinel-1-grd (S1GRD), sentinel-1-rtc (S1RTC)"
            in result.err)
    tampered = create_model("terramind_v1_tiny", sensor="sentinel-1-rtc").metadata.with_(
        sensor="sentinel-2-l2a", bands=["B04", "B10"], modalities={"sentinel-2-l2a": ["B04", "B10"]})
    with pytest.raises(TrtbenchError, match="S2L2A was not pretrained on band.s. B10") as err:
        modality_inputs(tampered)
    assert "B01, B02, B03, B04, B05, B06, B07, B08, B8A, B09, B11, B12" in err.value.fix


def test_a_terramind_model_records_terramind_v1s_pretraining_statistics_per_modality():
    meta = create_model("terramind_v1_tiny", sensor=STACK, bands=["B01", "B10", "B12", "VV", "VH"]).metadata
    assert meta.mean == [2357.089, 506.07, 1838.929, -10.93, -17.329]   # v1_pretraining_mean: S2L1C, S1RTC (dB)
    assert meta.std == [1624.683, 442.165, 1160.419, 4.391, 4.459]
    meta = create_model("terramind_v1_tiny", sensor="sentinel-2-l2a", bands=["B02"]).metadata
    assert (meta.mean, meta.std) == ([1503.317], [2141.107])             # not the sensor table's statistics


def test_upernet_taps_the_official_blocks_and_returns_full_resolution_logits():
    assert MODELS["terramind_v1_base"].facts.upernet_layers == (3, 5, 7, 11)
    assert MODELS["terramind_v1_large"].facts.upernet_layers == (7, 11, 15, 23)
    model = create_model("terramind_v1_tiny", sensor=STACK, task="segmentation", head="upernet", num_classes=2)
    with torch.no_grad():
        assert model(torch.randn(1, 15, 96, 128))[0].shape == (1, 2, 96, 128)


# --- export and parity on the real chip ---------------------------------------------------------------------------

def test_cli_exports_s2_plus_s1_passes_the_audit_and_matches_pytorch_on_the_real_chip(capsys, tmp_path, tiny_ckpt,
                                                                                     s2_chip, s1_chip):
    path = tmp_path / "terramind_s2s1.onnx"
    exported = run_cli(capsys, "export", "terramind", "--variant", "tiny", "--checkpoint", tiny_ckpt, "--sensor",
                       STACK, "--bands", ",".join([*S2_NO_B10, "VV", "VH"]), "-o", path)
    assert exported.code == 0, exported.err
    meta = read_onnx_metadata(path)
    assert meta.modalities == {"sentinel-2-l1c": S2_NO_B10, "sentinel-1-rtc": ["VV", "VH"]}
    checked = run_cli(capsys, "check", path)
    assert checked.code == 0 and audit_onnx(path).passed(), checked.out + checked.err
    model = build("s2+s1", checkpoint=tiny_ckpt)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for size in (224, 160):
        pixels, _ = chips(s2_chip, s1_chip, "s2+s1", size)
        with torch.no_grad():
            expected = [t.numpy() for t in model(torch.from_numpy(pixels))]
        for got, ref in zip(session.run(None, {"pixels": pixels}), expected):
            assert got.shape == ref.shape and relative_error(got, ref) <= 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("which", ["s2", "s1"])
def test_single_modality_exports_match_pytorch_on_the_real_chip(tmp_path, tiny_ckpt, s2_chip, s1_chip, which):
    from trtbench.export import export_onnx

    model = build(which, checkpoint=tiny_ckpt)
    path = export_onnx(model, tmp_path / f"terramind_{which}.onnx")
    assert audit_onnx(path).passed()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    pixels, _ = chips(s2_chip, s1_chip, which, 192)
    with torch.no_grad():
        expected = [t.numpy() for t in model(torch.from_numpy(pixels))]
    for got, ref in zip(session.run(None, {"pixels": pixels}), expected):
        assert relative_error(got, ref) <= 1e-4


# --- FLOPs --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("height,width", [(224, 224), (160, 192)])
def test_macs_match_the_analytic_count_and_every_operator_is_counted(height, width):
    model = build("s2+s1")
    report = count_flops(model, (1, 14, height, width), cross_check=False)
    assert report.uncounted == {} and report.coverage == 1.0
    assert report.macs == pytest.approx(encoder_macs("tiny", [12, 2], height, width), rel=0.01)


# --- base and large (slow: one forward each) -----------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("variant", ["base", "large"])
def test_base_and_large_run_s2_plus_s1_on_the_real_chip_with_their_taps(variant, s2_chip, s1_chip):
    model = create_model(f"terramind_v1_{variant}", sensor=STACK, bands=[*S2_NO_B10, "VV", "VH"])
    pixels, _ = chips(s2_chip, s1_chip, "s2+s1", 112)   # 7 x 7 patches per modality: the tables resampled
    facts = MODELS[model.metadata.model].facts
    with torch.no_grad():
        tokens, taps = model.encoder(torch.from_numpy(pixels[:1]), collect=facts.upernet_layers)
    assert tokens.shape == (1, 1 + 7 * 7, facts.embed_dim) and len(taps) == 4 and torch.isfinite(tokens).all()


# --- an independent implementation (optional) ----------------------------------------------------------------------

@pytest.fixture
def terratorch_terramind():
    """TerraTorch's ``terramind_vit`` and ``tm_utils`` modules, imported from its files without running
    ``terratorch/__init__`` (which needs TerraTorch's full dependency set: the oracle venv installs it ``--no-deps``
    to keep torch); ``sys.modules`` is restored afterwards."""
    import importlib
    import importlib.util
    import sys
    import types

    spec = importlib.util.find_spec("terratorch")
    if spec is None:
        pytest.skip("TerraTorch is not installed in this venv (scripts/oracle_check.sh installs terratorch==1.2.13 "
                    "--no-deps into the oracle venv, beside torch 2.14.1 and torchvision)")
    pytest.importorskip("einops", reason="TerraTorch's TerraMind needs einops")
    before = dict(sys.modules)
    try:
        folder, package = Path(spec.submodule_search_locations[0]), "terratorch"
        for part in ("", "models", "backbones", "terramind", "model"):
            folder, package = (folder / part, f"{package}.{part}") if part else (folder, package)
            shell = types.ModuleType(package)
            shell.__path__ = [str(folder)]
            sys.modules[package] = shell
        yield (importlib.import_module(f"{package}.terramind_vit"), importlib.import_module(f"{package}.tm_utils"))
    finally:
        for name in set(sys.modules) - set(before):
            del sys.modules[name]
        sys.modules.update({k: v for k, v in before.items() if k.startswith("terratorch")})


@pytest.mark.oracle
def test_matches_terratorchs_terramind_backbone_in_float64_with_shared_weights(tiny_state, s2_chip, s1_chip,
                                                                               terratorch_terramind):
    vit, tm_utils = terratorch_terramind
    dim, depth, heads = SIZES["tiny"]
    oracle = vit.TerraMindViT(modalities=["S2L1C", "S1RTC"], dim=dim, encoder_depth=depth, num_heads=heads,
                              qkv_bias=False, proj_bias=False, mlp_bias=False, act_layer=torch.nn.SiLU,
                              gated_mlp=True, norm_layer=partial(tm_utils.LayerNorm, eps=1e-6, bias=False))
    oracle = oracle.double().eval()
    wanted = oracle.state_dict()
    oracle.load_state_dict({k: v for k, v in tiny_state.items() if k in wanted}, strict=True)
    model = create_model("terramind_v1_tiny", sensor=STACK, seed=0).double()
    model.encoder.load_state_dict(MODELS["terramind_v1_tiny"].official_state(tiny_state, "tiny.pt", "tiny"))
    for size in (224, 160):   # the stored 14 x 14 tables, and TerraTorch's bicubic interpolate_pos_encoding
        s2 = torch.from_numpy(real_tiles(s2_chip, "sentinel-2-l1c", None, list(range(13)), size=size)).double()
        s1 = torch.from_numpy(real_tiles(s1_chip, *S1, size=size)).double()
        with torch.no_grad():
            expected = oracle({"S2L1C": s2, "S1RTC": s1})
            tokens, taps = model.encoder(torch.cat([s2, s1], dim=1), collect=tuple(range(depth)))
        assert relative_error(tokens[:, 1:].numpy(), expected[-1].numpy()) < 1e-10
        for tap, layer in zip(taps, expected):
            assert relative_error(tap[:, 1:].numpy(), layer.numpy()) < 1e-10


# --- training -----------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_one_frozen_epoch_on_the_real_flood_chip_exports_checks_and_evals_at_three_precisions(data_dir, tmp_path,
                                                                                           tiny_ckpt, capsys):
    tiles = small_flood_tiles(data_dir, tmp_path / "tiles")
    best = train_one_epoch(capsys, "terramind_v1_tiny", tiles, tmp_path / "run", "--checkpoint", tiny_ckpt,
                           "--sensor", "sentinel-2-l1c", "--bands", ",".join(S2_NO_B10), "--head", "fcn",
                           "--regime", "frozen")
    meta = export_check_eval(capsys, best, tiles, tmp_path, ("fp16", "int8"))
    assert (meta.model, meta.head, meta.sensor, meta.bands) == ("terramind_v1_tiny", "fcn", "sentinel-2-l1c", S2_NO_B10)
