"""Prithvi-EO-2.0: the released layout loads strictly (a damaged key is named), the 3-D positions and the TL
date/place codes are the published formulas, the pixels are frame-major T*6 channels, the heads see the tokens
averaged over time, FLOPs match the analytic count, and the T-date export (fp32, fp16, int8) matches PyTorch on
the real HLS chip and passes the TensorRT audit. TerraTorch's own ``PrithviViT`` is the float64 oracle where it
installs (the oracle venv).

Time series from one chip: the HLS chip is a single date, so date t of a series is the real chip rolled by
16 * t pixels along x and brightened by 10 % per date (``hls_series``): every frame is real, spatially coherent
reflectance, and the frames differ, so a mix-up of frames or of the frame order changes the output. Its bands
are undocumented; chip bands 1, 2, 3, 4, 5, 7 stand in for B02, B03, B04, B8A, B11, B12 (as in
test_datasets_official.py).
"""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
import rasterio
import torch
import torch.nn.functional as F
from cli_helpers import run_cli
from flood_training import FLOOD_SENSOR, export_check_eval, small_flood_tiles, train_one_epoch
from prithvi_spec import (
    SIZES,
    coordinate_code,
    encoder_layout,
    positions_3d,
    prithvi_macs,
    released_layout,
)
from zoo_spec import random_state, write

from trtbench.bench.flops import count_flops
from trtbench.errors import CheckpointError, InputError, TrtbenchError
from trtbench.metadata import read_onnx_metadata
from trtbench.models import MODELS, create_model, rebuild_reference, resolve_model_name
from trtbench.models.prithvi import sincos_3d

HLS = "hls-s30"
HLS_STAND_IN = [0, 1, 2, 3, 4, 6]   # chip bands standing in for B02, B03, B04, B8A, B11, B12
NAMES = ["prithvi_eo_v2_tiny", "prithvi_eo_v2_tiny_tl", "prithvi_eo_v2_300", "prithvi_eo_v2_300_tl",
         "prithvi_eo_v2_600", "prithvi_eo_v2_600_tl"]
DATES = np.array([[2019, 152], [2019, 200], [2019, 248], [2019, 296]], np.float32)   # (year, day of year 1-based)
PLACE = np.array([28.533, -99.576], np.float32)   # the chip's centre (EPSG:32614 -> WGS84), lat, lon degrees


def hls_series(chip, meta, frames: int, size: int = 224, batch: int = 1) -> np.ndarray:
    """``[batch, frames*6, size, size]`` normalised, frame-major: date t = the chip rolled 16*t px and x(1 + 0.1 t);
    batch item i is the crop starting at row/column 16*i."""
    with rasterio.open(chip) as src:
        raw = src.read([i + 1 for i in HLS_STAND_IN]).astype(np.float32)
    mean, std = (np.array(v, np.float32)[:, None, None] for v in (meta.mean, meta.std))
    series = np.concatenate([(np.roll(raw, 16 * t, axis=-1) * (1 + 0.1 * t) - mean) / std for t in range(frames)])
    return np.stack([series[:, 16 * i:16 * i + size, 16 * i:16 * i + size] for i in range(batch)])


def feed_for(meta, pixels: np.ndarray) -> dict[str, np.ndarray]:
    """The artifact's inputs: pixels, and for TL the dates and place of every batch item."""
    feed = {"pixels": pixels}
    if "temporal_coords" in meta.inputs:
        feed["temporal_coords"] = np.repeat(DATES[None, :meta.num_frames], len(pixels), axis=0)
        feed["location_coords"] = np.repeat(PLACE[None], len(pixels), axis=0)
    return feed


def onnx_relative_error(model, path, *feeds: dict[str, np.ndarray]) -> float:
    """max |ONNX Runtime - PyTorch| / max |PyTorch| over the outputs and feeds, the parity rule of every command."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for feed in feeds:
        got = session.run(None, feed)
        with torch.no_grad():
            expected = model(*(torch.from_numpy(feed[name]) for name in model.metadata.inputs))
        worst = max(worst, *(float(np.abs(g - e.numpy()).max() / np.abs(e.numpy()).max())
                             for g, e in zip(got, expected)))
    return worst


def released_file(tmp_path, size: str, tl: bool, **damage):
    return write(tmp_path / f"Prithvi_EO_V2_{size}{'_TL' if tl else ''}.pt",
                 random_state(released_layout(size, tl), seed=3, **damage))


# --- official layout -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_encoder_state_dict_is_the_official_prithvi_vit_without_its_fixed_position_buffer(name):
    size, tl = MODELS[name].variant.removesuffix("_tl"), name.endswith("_tl")
    with torch.device("meta"):
        encoder = MODELS[name].build()
    assert {k: tuple(v.shape) for k, v in encoder.state_dict().items()} == encoder_layout(size, tl)
    dim, depth, _, patch = SIZES[size]
    assert (MODELS[name].facts.patch_size, MODELS[name].facts.depth, MODELS[name].facts.embed_dim) == (patch, depth, dim)


def test_the_family_resolves_to_the_300m_and_its_variants_by_name():
    assert resolve_model_name("prithvi", None) == "prithvi_eo_v2_300"
    assert resolve_model_name("prithvi", "600-tl") == "prithvi_eo_v2_600_tl"
    assert MODELS["prithvi_eo_v2_600"].facts.label == "Prithvi-EO-2.0"


def test_upernet_taps_are_the_published_ones_for_300m_and_spread_alike_over_600m():
    assert MODELS["prithvi_eo_v2_300"].facts.upernet_layers == (7, 11, 15, 23)
    assert MODELS["prithvi_eo_v2_600"].facts.upernet_layers == (10, 15, 20, 31)


@pytest.mark.parametrize("tl", [False, True])
def test_a_released_file_loads_strictly_without_the_decoder_and_position_buffer(tmp_path, tl):
    path = released_file(tmp_path, "tiny", tl)
    released = torch.load(path, weights_only=True)
    model = create_model(f"prithvi_eo_v2_tiny{'_tl' if tl else ''}", checkpoint=path, sensor=HLS, num_frames=2)
    state = model.encoder.state_dict()
    assert all(torch.equal(v, released[f"encoder.{k}"]) for k, v in state.items())
    left_out = {k for k in released if k.removeprefix("encoder.") not in state}
    assert left_out == {k for k in released if k.startswith("decoder.")} | {"encoder.pos_embed"}
    assert model.metadata.checkpoint_sha256 and model.metadata.num_frames == 2


@pytest.mark.parametrize("damage,expected", [
    ({"reshape": "encoder.blocks.1.attn.qkv.weight"}, "blocks.1.attn.qkv.weight: checkpoint (193, 64) vs model (192, 64)"),
    ({"drop": "encoder.temporal_embed_enc.scale"}, "1 missing key(s): temporal_embed_enc.scale"),
    ({"extra": {"encoder.blocks.0.ls1.gamma": (64,)}}, "unexpected key(s): blocks.0.ls1.gamma"),
])
def test_a_damaged_release_fails_naming_the_key(tmp_path, damage, expected):
    path = released_file(tmp_path, "tiny", True, **damage)
    with pytest.raises(CheckpointError) as err:
        create_model("prithvi_eo_v2_tiny_tl", checkpoint=path, sensor=HLS)
    assert expected in str(err.value)


def test_other_band_counts_are_refused_before_any_weights(tmp_path, capsys):
    with pytest.raises(TrtbenchError, match=r"takes the 6 HLS bands .* not 3 \(B04, B03, B02\)") as err:
        create_model("prithvi_eo_v2_tiny", sensor=HLS, bands=["B04", "B03", "B02"])
    assert "--sensor hls-s30" in err.value.fix
    result = run_cli(capsys, "export", "prithvi", "--variant", "tiny", "--random-init", "--sensor", "sentinel-2-l2a",
                     "-o", tmp_path / "p.onnx")
    assert result.code == 2 and "not 10 (B02" in result.err and not list(tmp_path.iterdir())
    assert create_model("prithvi_eo_v2_tiny").metadata.sensor == "hls-s30"   # no table named: its own
    s2 = create_model("prithvi_eo_v2_tiny", sensor="sentinel-2-l1c", bands=["B02", "B03", "B04", "B8A", "B11", "B12"])
    assert s2.metadata.channels == 6


def test_a_file_of_another_family_is_refused_saying_what_it_lacks(tmp_path):
    path = write(tmp_path / "vit.pth", {"cls_token": torch.zeros(1, 1, 64)})
    with pytest.raises(CheckpointError, match="not a Prithvi checkpoint: no 'encoder.patch_embed.proj.weight'"):
        create_model("prithvi_eo_v2_tiny", checkpoint=path, sensor=HLS)


# --- what the encoder computes -------------------------------------------------------------------------------

@pytest.mark.parametrize("frames,h,w", [(2, 14, 14), (3, 3, 5)])
def test_positions_are_the_official_3d_sin_cos_table(frames, h, w):
    table = sincos_3d(64, frames, h, w, torch.zeros((), dtype=torch.float64)).numpy()
    assert np.abs(table - positions_3d(64, frames, h, w)).max() < 1e-12


def test_pixels_are_frame_major_and_each_date_is_one_tubelet_per_patch():
    encoder = create_model("prithvi_eo_v2_tiny", sensor=HLS, num_frames=3).encoder
    x = torch.randn(2, 18, 32, 48)
    with torch.no_grad():
        grid = encoder.patch_embedding(x)
        proj = encoder.patch_embed.proj
        for t in range(3):   # date t is channels 6t .. 6t+5, convolved with the tubelet's single frame
            frame = F.conv2d(x[:, 6 * t:6 * t + 6], proj.weight[:, :, 0], proj.bias, stride=16)
            assert torch.allclose(grid[:, :, t], frame, atol=1e-5)
    assert grid.shape == (2, 64, 3, 2, 3)


def test_heads_and_embeddings_see_the_tokens_averaged_over_time(hls_chip):
    model = create_model("prithvi_eo_v2_tiny", sensor=HLS, num_frames=2)
    x = torch.from_numpy(hls_series(hls_chip, model.metadata, 2, size=64))
    with torch.no_grad():
        tokens = model.encoder.tokens(x)                      # [1, 1 + 2 * 16, D], the official last output
        features, cls = model(x)
    per_date = tokens[:, 1:].reshape(1, 2, 4, 4, 64)
    assert torch.allclose(features, per_date.mean(dim=1).permute(0, 3, 1, 2), atol=1e-6)
    assert torch.equal(cls, tokens[:, 0])
    assert not torch.allclose(per_date[:, 0], per_date[:, 1], atol=1e-3)   # the dates differ: the mean is no copy


def test_tl_adds_the_published_date_and_place_codes_to_each_dates_tokens():
    model = create_model("prithvi_eo_v2_tiny_tl", sensor=HLS, num_frames=2).double()
    encoder = model.encoder
    with torch.no_grad():
        encoder.temporal_embed_enc.scale.fill_(0.3)
        encoder.location_embed_enc.scale.fill_(0.7)
        patches = encoder.patch_embedding(torch.randn(1, 12, 32, 32, dtype=torch.float64))
        dates, place = torch.from_numpy(DATES[None, :2]).double(), torch.from_numpy(PLACE[None]).double()
        added = (encoder.embed(patches, None, dates, place) - encoder.embed(patches)).numpy()[0]
    assert np.abs(added[0]).max() == 0.0                        # nothing on the CLS token
    code_place = coordinate_code(64, *PLACE.astype(np.float64), 0.7)
    for t in range(2):
        expected = coordinate_code(64, *DATES[t].astype(np.float64), 0.3) + code_place
        assert np.abs(added[1 + 4 * t:1 + 4 * (t + 1)] - expected).max() < 1e-9


def test_tl_inputs_change_the_output_and_leaving_them_out_is_the_plain_encoder(hls_chip):
    model = create_model("prithvi_eo_v2_tiny_tl", sensor=HLS, num_frames=2)
    assert model.metadata.inputs == ["pixels", "temporal_coords", "location_coords"]
    feed = {k: torch.from_numpy(v) for k, v in feed_for(model.metadata, hls_series(hls_chip, model.metadata, 2, 64)).items()}
    with torch.no_grad():
        base = model(feed["pixels"], feed["temporal_coords"], feed["location_coords"])[0]
        later = model(feed["pixels"], feed["temporal_coords"] + torch.tensor([1.0, 30.0]), feed["location_coords"])[0]
        elsewhere = model(feed["pixels"], feed["temporal_coords"], feed["location_coords"] + 5.0)[0]
        without = model(feed["pixels"])[0]
        plain = create_model("prithvi_eo_v2_tiny", sensor=HLS, num_frames=2)
        plain.load_state_dict({k: v for k, v in model.state_dict().items() if "_embed_enc" not in k})
        assert torch.allclose(without, plain(feed["pixels"])[0], atol=1e-6)
    for changed in (later, elsewhere, without):
        assert (changed - base).abs().max() > 1e-4 * base.abs().max()


@pytest.mark.parametrize("frames", [1, 2])
def test_macs_match_the_analytic_count_for_one_and_two_dates(frames):
    model = create_model("prithvi_eo_v2_tiny", sensor=HLS, num_frames=frames)
    report = count_flops(model, (1, 6 * frames, 224, 160), cross_check=False)
    assert report.uncounted == {} and report.coverage == 1.0
    assert report.macs == pytest.approx(prithvi_macs("tiny", frames, 224, 160), rel=0.01)


def test_at_one_date_the_300m_count_is_a_6_band_vit_large():
    """Two independent formulas: Prithvi-300M at T = 1 is ViT-L/16 (1024 wide, 24 blocks) on 6 bands; more dates
    add tokens, and attention's products grow with their square."""
    from zoo_spec import vit_macs

    assert prithvi_macs("300", 1, 224, 224) == vit_macs("large", 6, 224, 224)
    assert prithvi_macs("300", 4, 224, 224) > 4 * prithvi_macs("300", 1, 224, 224)


# --- export -------------------------------------------------------------------------------------------------

def test_export_refuses_dates_for_a_one_date_model_before_writing(tmp_path, capsys):
    result = run_cli(capsys, "export", "vit_tiny", "--random-init", "--num-frames", "2", "-o", tmp_path / "v.onnx")
    assert result.code == 2 and "error: vit_tiny takes one date, not a time series of 2" in result.err
    assert "fix: drop --num-frames" in result.err and "Traceback" not in result.err
    assert not list(tmp_path.iterdir())


def test_tl_export_of_two_dates_matches_pytorch_on_the_real_chip_and_passes_the_audit(tmp_path, capsys, hls_chip):
    path = tmp_path / "prithvi_tl_t2.onnx"
    exported = run_cli(capsys, "export", "prithvi_eo_v2_tiny_tl", "--random-init", "--num-frames", "2",
                       "--sensor", HLS, "-o", path)
    assert exported.code == 0, exported.err
    meta = read_onnx_metadata(path)
    assert (meta.num_frames, meta.channels, meta.inputs) == (2, 12, ["pixels", "temporal_coords", "location_coords"])
    graph = onnx.load(str(path)).graph
    dims = {i.name: [d.dim_value or d.dim_param for d in i.type.tensor_type.shape.dim] for i in graph.input}
    assert dims["pixels"][1] == 12 and dims["temporal_coords"][1:] == [2, 2] and dims["location_coords"][1:] == [2]
    assert all(isinstance(d[0], str) for d in dims.values())   # the batch is dynamic on every input

    model = rebuild_reference(meta)
    at_224 = feed_for(meta, hls_series(hls_chip, meta, 2, 224))
    other_grid = feed_for(meta, hls_series(hls_chip, meta, 2, 96, batch=2))
    moved = at_224 | {"temporal_coords": at_224["temporal_coords"] + np.float32(60)}   # the dates are live inputs
    assert onnx_relative_error(model, path, at_224, other_grid, moved) <= 1e-4
    checked = run_cli(capsys, "check", path)
    assert checked.code == 0 and "READY for TensorRT" in checked.out, checked.out + checked.err


def test_an_engine_profile_of_the_pixels_sets_the_dates_and_place_batch_alike():
    from trtbench.export.shapes import default_profile, parse_shapes, validate_profile, with_derived_profiles

    meta = create_model("prithvi_eo_v2_tiny_tl", sensor=HLS, num_frames=4).metadata
    profile = default_profile(meta)
    assert profile.opt == (8, 24, 224, 224)                     # T x 6 channels
    derived = {p.name: p for p in with_derived_profiles([profile], meta)}
    assert derived["temporal_coords"].to_dict() == {"min": [1, 4, 2], "opt": [8, 4, 2], "max": [32, 4, 2]}
    assert derived["location_coords"].to_dict() == {"min": [1, 2], "opt": [8, 2], "max": [32, 2]}
    with pytest.raises(InputError, match="has 6 bands; the model takes exactly 24"):
        validate_profile(parse_shapes("min=1x6x224x224,opt=1x6x224x224,max=2x6x224x224", meta.inputs)[0], meta)


@pytest.mark.slow
@pytest.mark.parametrize("frames", [1, 4])
def test_one_and_four_date_exports_match_pytorch_on_the_real_chip(tmp_path, capsys, hls_chip, frames):
    """fp32 parity at T = 1 and 4 (T = 2 above); at T = 4 with the UPerNet head on the time-averaged taps, and fp16;
    at T = 1 the embedding and INT8, calibrated on the real chip's bands (the flood training test exports T = 1
    with UPerNet)."""
    from trtbench.export import export_onnx
    from trtbench.export.precision import convert_fp16, quantize_int8

    head = {"task": "segmentation", "head": "upernet", "num_classes": 2} if frames == 4 else {}
    model = create_model("prithvi_eo_v2_tiny", sensor=HLS, num_frames=frames, **head)
    path = export_onnx(model, tmp_path / f"prithvi_t{frames}.onnx")
    feed = feed_for(model.metadata, hls_series(hls_chip, model.metadata, frames, 224))
    assert onnx_relative_error(model, path, feed) <= 1e-4
    assert run_cli(capsys, "check", path).code == 0
    if frames == 4:
        fp16 = convert_fp16(path, tmp_path / "prithvi_t4_fp16.onnx")
        assert onnx_relative_error(model, fp16, feed) <= 1e-2 and run_cli(capsys, "check", fp16).code == 0
    if frames == 1:
        chip6 = tmp_path / "hls6.tif"
        with rasterio.open(hls_chip) as src:
            profile = src.profile | {"count": 6}
            with rasterio.open(chip6, "w", **profile) as dst:
                dst.write(src.read([i + 1 for i in HLS_STAND_IN]))
                dst.descriptions = tuple(model.metadata.bands)
        int8 = quantize_int8(path, tmp_path / "prithvi_t1_int8.onnx", [chip6], samples=1)
        assert read_onnx_metadata(int8).precision == "int8"
        assert onnx_relative_error(model, int8, feed) <= 1e-1
        assert run_cli(capsys, "check", int8).code == 0


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("TRTBENCH_HEAVY"),
                    reason="1.2 GB export, about a minute: set TRTBENCH_HEAVY=1 (kept out of CI's 20-minute budget; "
                           "benchmarks/zoo_parity.py runs the 300M and 600M exports with eval)")
def test_300m_fp32_export_matches_pytorch_on_the_real_chip(tmp_path, hls_chip):
    """The released size once: one date, one forward at 224 (the 600M differs only in width, depth and patch)."""
    from trtbench.export import export_onnx

    model = create_model("prithvi_eo_v2_300", sensor=HLS, seed=0)
    path = export_onnx(model, tmp_path / "prithvi_300.onnx")
    feed = feed_for(model.metadata, hls_series(hls_chip, model.metadata, 1, 224))
    assert onnx_relative_error(model, path, feed) <= 1e-4


# --- independent implementation: TerraTorch ----------------------------------------------------------------

def terratorch_prithvi_mae():
    """TerraTorch's ``prithvi_mae.py`` from the installed package, loaded on its own: the module needs only torch,
    numpy, einops and timm, while ``import terratorch`` pulls in its whole training stack (albumentations,
    segmentation-models, ...), which the oracle venv does not carry."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("terratorch")
    if spec is None or spec.origin is None:
        pytest.skip("TerraTorch is not installed here (the oracle venv, scripts/oracle_check.sh, has it)")
    pytest.importorskip("einops", reason="einops (TerraTorch's prithvi_mae dependency) is not installed here")
    pytest.importorskip("timm", reason="timm (TerraTorch's prithvi_mae dependency) is not installed here")
    path = Path(spec.origin).parent / "models" / "backbones" / "prithvi_mae.py"
    module_spec = importlib.util.spec_from_file_location("terratorch_prithvi_mae", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


@pytest.mark.oracle
@pytest.mark.parametrize("name", ["prithvi_eo_v2_tiny", "prithvi_eo_v2_tiny_tl"])
def test_encoder_matches_terratorchs_prithvi_vit(name, hls_chip):
    """Float64 for the plain encoder; the TL one in float32, because TerraTorch's coordinate encoders accept only
    float32/16 coordinates (an assertion in ``_get_1d_sincos_embed_from_grid_torch``)."""
    official = terratorch_prithvi_mae()
    tl = name.endswith("_tl")
    dtype = torch.float32 if tl else torch.float64
    dim, depth, heads, patch = SIZES["tiny"]
    ours = create_model(name, sensor=HLS, num_frames=2, seed=5).to(dtype)
    oracle = official.PrithviViT(img_size=224, patch_size=(1, patch, patch), num_frames=2, in_chans=6,
                                 embed_dim=dim, depth=depth, num_heads=heads, mlp_ratio=4.0,
                                 coords_encoding=["time", "location"] if tl else None,
                                 coords_scale_learn=tl).to(dtype).eval()
    state = ours.encoder.state_dict()
    if tl:   # distinct scales, so each code weighs in
        state["temporal_embed_enc.scale"] = torch.tensor([0.3], dtype=dtype)
        state["location_embed_enc.scale"] = torch.tensor([0.7], dtype=dtype)
        ours.encoder.load_state_dict(state)
    missing, unexpected = oracle.load_state_dict(state, strict=False)
    assert missing == ["pos_embed"] and unexpected == []
    with torch.no_grad():   # its fixed table, from its own function, at full precision
        table = official.get_3d_sincos_pos_embed(dim, (2, 224 // patch, 224 // patch), add_cls_token=True)
        oracle.pos_embed.copy_(torch.from_numpy(table)[None])
    feed = {k: torch.from_numpy(v).to(dtype) for k, v in
            feed_for(ours.metadata, hls_series(hls_chip, ours.metadata, 2)).items()}
    coords = (feed.get("temporal_coords"), feed.get("location_coords"))
    with torch.no_grad():
        expected = oracle.forward_features(feed["pixels"].unflatten(1, (2, 6)).transpose(1, 2), *coords)[-1]
        got = ours.encoder.tokens(feed["pixels"], *coords)
    difference = float((got - expected).abs().max() / expected.abs().max())
    print(f"{name}: max |ours - TerraTorch| / max |TerraTorch| = {difference:.3g} ({dtype})")
    assert difference < (1e-5 if tl else 1e-10)


# --- training (slow) ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def flood_tiles(data_dir, tmp_path_factory):
    return small_flood_tiles(data_dir, tmp_path_factory.mktemp("floods") / "tiles")


@pytest.mark.slow
def test_one_frozen_epoch_on_the_real_flood_chip_exports_checks_and_evals(flood_tiles, tmp_path, capsys):
    """Sen1Floods11's S2 bands B2, B3, B4, B8A, B11, B12 stand in for the 6 HLS bands (one date)."""
    bands = ["B02", "B03", "B04", "B8A", "B11", "B12"]
    best = train_one_epoch(capsys, "prithvi_eo_v2_tiny", flood_tiles, tmp_path / "run", "--checkpoint",
                           released_file(tmp_path, "tiny", False), "--sensor", FLOOD_SENSOR, "--bands", ",".join(bands),
                           "--head", "upernet", "--regime", "frozen")
    meta = export_check_eval(capsys, best, flood_tiles, tmp_path)
    assert (meta.model, meta.task, meta.head, meta.bands) == ("prithvi_eo_v2_tiny", "segmentation", "upernet", bands)


def test_a_prithvi_model_on_hls_bands_records_prithvi_eo_v2_pretraining_statistics():
    meta = create_model("prithvi_eo_v2_tiny", sensor="hls-l30", bands=["B04", "B02", "B03", "B05", "B06", "B07"]).metadata
    assert meta.mean == [1433.0, 1087.0, 1342.0, 2734.0, 1958.0, 1363.0]   # red first, as the bands were chosen
    assert meta.std == [2178.0, 2248.0, 2179.0, 1850.0, 1242.0, 1049.0]
