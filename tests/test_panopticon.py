"""Panopticon: the released teacher layout loads strictly, computes the published encoder, exports (fixed and
band-agnostic, channel attention in plain ONNX ops) with parity on real chips, and its FLOPs match the analytic
count."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from cli_helpers import run_cli
from panopticon_spec import (
    SIZES,
    encoder_layout,
    encoder_macs,
    official_state,
    reference_forward,
    write_official_checkpoint,
)
from test_dofa import LANDSAT, S1, S2_ALL, S2_AS_HLS, real_tiles, relative_error

from trtbench.bench.flops import count_flops
from trtbench.check import audit_onnx
from trtbench.errors import CheckpointError
from trtbench.export import export_onnx
from trtbench.metadata import read_onnx_metadata
from trtbench.models import MODELS, create_model
from trtbench.models.panopticon import channel_ids
from trtbench.sensors import get_sensor


@pytest.fixture(scope="module")
def tiny_state() -> dict[str, torch.Tensor]:
    return official_state("tiny", seed=5)


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory, tiny_state):
    path = tmp_path_factory.mktemp("panopticon") / "panopticon_tiny_teacher.pth"
    torch.save(tiny_state, path)
    return path


def bound(model, sensor: str, bands=None):
    """``model`` (shared weights) on another sensor's band set, as a band-agnostic artifact's reference."""
    table = get_sensor(sensor).select(bands)
    return model.for_bands(model.metadata.with_(sensor=table.name, bands=table.band_names,
                                                wavelengths=table.wavelengths, mean=table.mean, std=table.std,
                                                gsd=table.gsd))


# --- the released layout and the channel ids ---------------------------------------------------------------

@pytest.mark.parametrize("variant", ["tiny", "base"])
def test_encoder_state_dict_has_exactly_the_official_key_layout(variant):
    with torch.device("meta"):
        encoder = MODELS[f"panopticon_{variant}"].build()
    assert {k: tuple(v.shape) for k, v in encoder.state_dict().items()} == encoder_layout(variant)


def test_sensor_tables_map_to_panopticons_channel_ids():
    s2 = torch.tensor(get_sensor("sentinel-2-l1c").wavelengths)            # float32 µm, e.g. 0.443
    assert channel_ids(s2).tolist()[:4] == [443.0, 493.0, 560.0, 665.0]
    assert channel_ids(torch.tensor(get_sensor("sentinel-1-rtc").wavelengths)).tolist() == [-1.0, -2.0]  # VV, VH
    assert channel_ids(torch.tensor([-7.0, 0.6646])).tolist() == [-7.0, 664.0]   # SAR ids pass; nm floored


@pytest.mark.parametrize("sensor,chip,band_set,ids", [
    ("sentinel-2-l1c", "s2_chip", S2_ALL, [443, 493, 560, 665, 704, 740, 783, 842, 865, 945, 1375, 1610, 2190]),
    ("sentinel-1-rtc", "s1_chip", S1, [-1, -2]),
])
def test_official_layout_checkpoint_loads_strictly_and_computes_the_published_encoder(tiny_ckpt, tiny_state, sensor,
                                                                                      chip, band_set, ids, request):
    model = create_model("panopticon_tiny", checkpoint=tiny_ckpt, sensor=sensor).double()
    x = torch.from_numpy(real_tiles(request.getfixturevalue(chip), *band_set, size=224)).double()
    with torch.no_grad():
        features, cls = model(x)
    ref_features, ref_cls = reference_forward(tiny_state, x, ids, heads=SIZES["tiny"][2])
    assert features.shape == (2, 64, 16, 16)
    assert relative_error(features.numpy(), ref_features.numpy()) < 1e-10
    assert relative_error(cls.numpy(), ref_cls.numpy()) < 1e-10
    assert model.metadata.checkpoint_sha256 and model.metadata.input_size == 224


@pytest.mark.parametrize("damage,expected", [
    ({"drop": "blocks.2.ls2.gamma"}, "1 missing key(s): blocks.2.ls2.gamma"),
    ({"drop": "patch_embed.chnfus.chnemb.embed_orbit"}, "1 missing key(s): patch_embed.chnfus.chnemb.embed_orbit"),
    ({"extra": "register_tokens"}, "unexpected key(s): register_tokens"),
    ({"reshape": "patch_embed.proj.weight"}, "patch_embed.proj.weight: checkpoint (65, 96) vs model (64, 96)"),
])
def test_damaged_checkpoint_fails_naming_the_key(tmp_path, damage, expected):
    path = write_official_checkpoint(tmp_path / "bad.pth", "tiny", **damage)
    with pytest.raises(CheckpointError) as err:
        create_model("panopticon_tiny", checkpoint=path)
    assert expected in str(err.value)


def test_checkpoint_of_another_size_or_family_is_refused_saying_what_it_is(tmp_path, tiny_state):
    adapter = MODELS["panopticon_base"].official_state    # what create_model applies to an official file
    with pytest.raises(CheckpointError, match="holds a Panopticon 'tiny' encoder") as err:
        adapter(tiny_state, "teacher.pth", "base")
    assert "use --variant tiny" in str(err.value)
    assert "mask_token" in tiny_state and "mask_token" not in adapter(tiny_state, "teacher.pth", "tiny")
    dofa = tmp_path / "dofa.pth"
    torch.save({"cls_token": torch.zeros(1, 1, 64)}, dofa)
    with pytest.raises(CheckpointError, match="not a Panopticon checkpoint"):
        create_model("panopticon_tiny", checkpoint=dofa)


def test_upernet_taps_dinov2s_four_blocks_and_returns_full_resolution_logits_at_patch_14():
    assert MODELS["panopticon_base"].facts.upernet_layers == (3, 5, 7, 11)   # the official README's blocks
    model = create_model("panopticon_tiny", sensor="hls-s30", task="segmentation", head="upernet", num_classes=2)
    with torch.no_grad():
        assert model(torch.randn(1, 6, 112, 140))[0].shape == (1, 2, 112, 140)


# --- export and parity on real chips ------------------------------------------------------------------------

def test_cli_exports_the_checkpoint_with_constant_channel_embeddings_and_matches_pytorch_on_the_real_s2_chip(
        capsys, tmp_path, tiny_ckpt, s2_chip):
    path = tmp_path / "panopticon_s2.onnx"
    exported = run_cli(capsys, "export", "panopticon", "--variant", "tiny", "--checkpoint", tiny_ckpt,
                       "--sensor", "sentinel-2-l1c", "--input-size", "224", "-o", path)
    assert exported.code == 0, exported.err
    proto = onnx.load(str(path))
    assert [i.name for i in proto.graph.input] == ["pixels"]
    conv = next(n for n in proto.graph.node if n.op_type == "Conv")  # one input channel: 16 scores + 96 values
    kernel = next(i for i in proto.graph.initializer if i.name == conv.input[1])
    assert list(kernel.dims) == [16 + 96, 1, 14, 14]
    assert read_onnx_metadata(path).model == "panopticon_tiny" and audit_onnx(path).passed()
    model = create_model("panopticon_tiny", checkpoint=tiny_ckpt, sensor="sentinel-2-l1c")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for size in (224, 252):                              # 16 x 16 and 18 x 18 grids: the table resampled for each
        x = real_tiles(s2_chip, *S2_ALL, size=size)
        with torch.no_grad():
            expected = [t.numpy() for t in model(torch.from_numpy(x))]   # the official, unfused math
        for got, ref in zip(session.run(None, {"pixels": x}), expected):
            assert got.shape == ref.shape and relative_error(got, ref) <= 1e-4


@pytest.fixture(scope="module")
def any_bands(tmp_path_factory, tiny_ckpt):
    model = create_model("panopticon_tiny", checkpoint=tiny_ckpt, sensor="sentinel-2-l1c")
    return model, export_onnx(model, tmp_path_factory.mktemp("panopticon") / "panopticon_any.onnx",
                              dynamic_bands=True)


def test_band_agnostic_export_takes_wavelengths_in_plain_onnx_ops_and_passes_the_tensorrt_audit(any_bands):
    _, path = any_bands
    meta = read_onnx_metadata(path)
    assert (meta.band_mode, meta.wavelength_convention) == ("dynamic", "panopticon")
    proto = onnx.load(str(path))
    assert {"pixels", "wavelengths"} <= {i.name for i in proto.graph.input}
    assert not any(n.domain == "trtbench" for n in proto.graph.node)   # no custom op
    conv = next(n for n in proto.graph.node if n.op_type == "Conv")
    kernel = next(i for i in proto.graph.initializer if i.name == conv.input[1])
    assert list(kernel.dims)[1] == 1                                   # static input channels for TensorRT
    assert audit_onnx(path).passed()


@pytest.mark.parametrize("band_set,chip", [(S2_ALL, "s2_chip"), (S2_AS_HLS, "s2_chip"), (S1, "s1_chip"),
                                           (LANDSAT, "landsat_scene")])
def test_one_band_agnostic_file_matches_pytorch_on_each_real_sensor(any_bands, band_set, chip, request):
    model, path = any_bands
    sensor, bands, _ = band_set
    reference = bound(model, sensor, bands)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = real_tiles(request.getfixturevalue(chip), *band_set, size=224)
    with torch.no_grad():
        expected = [t.numpy() for t in reference(torch.from_numpy(x))]
    feeds = {"pixels": x, "wavelengths": np.array(reference.metadata.wavelengths, np.float32),
             "gsd": np.array(reference.metadata.gsd, np.float32)}
    for got, ref in zip(session.run(None, {i.name: feeds[i.name] for i in session.get_inputs()}), expected):
        assert relative_error(got, ref) <= 1e-4


# --- FLOPs ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("height,width", [(224, 224), (252, 196)])
def test_macs_match_the_analytic_count_and_every_operator_is_counted(height, width):
    model = create_model("panopticon_tiny", sensor="sentinel-2-l1c", seed=0)
    report = count_flops(model, (1, 13, height, width), cross_check=False)
    assert report.uncounted == {} and report.coverage == 1.0
    assert report.macs == pytest.approx(encoder_macs("tiny", 13, height, width), rel=0.01)


# --- an independent implementation (optional) ----------------------------------------------------------------

@pytest.mark.oracle
def test_matches_torchgeos_panopticon_in_float64_with_shared_weights(s2_chip, s1_chip):
    panopticon = pytest.importorskip("torchgeo.models.panopticon", reason="torchgeo is not installed (it needs "
                                     "torchvision, which does not import beside this machine's torch 2.13.0); "
                                     "install torchgeo with a matching torch/torchvision pair to run this oracle")
    from trtbench.models.panopticon import PanopticonEncoder, PanopticonSize

    # torchgeo builds timm's ViT-B/14 DINOv2 with its own position table for the input grid (resampled at load,
    # with antialiasing): the comparison gives it ours, resampled for 16 x 16; everything else is compared.
    size = PanopticonSize(768, 12, 12, attn_dim=96)
    torch.manual_seed(0)
    ours = PanopticonEncoder(size).double().eval()
    for name, param in ours.named_parameters():   # non-trivial layer scale, query and SAR rows
        if name.endswith(("gamma", "query")) or "chnemb" in name:
            torch.nn.init.normal_(param, std=0.3)
    oracle = panopticon.Panopticon(attn_dim=96, embed_dim=768, img_size=224).double().eval()
    state = {k: v for k, v in ours.state_dict().items()}
    with torch.no_grad():
        state["pos_embed"] = torch.cat([ours.pos_embed[:, :1], ours.grid_position_embedding(16, 16)], dim=1)
    result = oracle.model.load_state_dict(state, strict=False)
    assert result.unexpected_keys == [] and result.missing_keys == []
    for sensor, chip, band_set in (("sentinel-2-l1c", s2_chip, S2_ALL), ("sentinel-1-rtc", s1_chip, S1)):
        waves = torch.tensor(get_sensor(sensor).wavelengths)
        x = torch.from_numpy(real_tiles(chip, *band_set, size=224)).double()
        with torch.no_grad():
            expected = oracle.model.forward_features({"imgs": x, "chn_ids": channel_ids(waves).double()[None]
                                                      .expand(2, -1).clone()})
            tokens, _ = ours(x, waves)
        assert relative_error(tokens.numpy(), expected.numpy()) < 1e-10


# --- training ------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_one_frozen_epoch_on_the_real_flood_chip_exports_and_evals_with_parity(data_dir, tmp_path):
    from test_data_tiles import SENSOR, write_floods_tiles

    from trtbench.data import DataOptions, load_data
    from trtbench.evaluate import evaluate
    from trtbench.models import model_from_checkpoint
    from trtbench.train import TrainConfig, run_experiment

    tiles = tmp_path / "tiles"
    write_floods_tiles(data_dir, tiles, tile=56)
    bundle = load_data(DataOptions("chips", tiles, sensor=SENSOR, class_names=["land", "water"]))
    config = TrainConfig("panopticon_tiny", head="fcn", regime="frozen", epochs=1, batch_size=8, crop=56,
                         progress=False)
    run_experiment(config, bundle, tmp_path / "run")
    checkpoint = tmp_path / "run" / "best.ckpt"
    model = model_from_checkpoint(checkpoint)
    assert (model.metadata.model, model.metadata.head) == ("panopticon_tiny", "fcn")
    onnx_path = export_onnx(model, tmp_path / "floods.onnx")
    names = (tiles / "splits" / "test.txt").read_text().split()
    result = evaluate(onnx_path, [tiles / "images" / f"{n}.tif" for n in names],
                      labels=[tiles / "masks" / f"{n}.tif" for n in names], reference=checkpoint, tile=56,
                      progress=False)
    assert result.passed and abs(result.task_delta()["miou"]) <= 0.001
