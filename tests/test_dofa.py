"""DOFA v1: the released layout loads strictly, computes the published encoder, exports (fixed and band-agnostic)
with parity on real chips, and its FLOPs match the analytic count."""

from __future__ import annotations

from functools import partial

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import rasterio
import torch
from cli_helpers import run_cli
from dofa_spec import (
    SIZES,
    encoder_layout,
    encoder_macs,
    generator_macs,
    official_state,
    reference_forward,
    reference_kernel,
    write_official_checkpoint,
)

from trtbench.bench.flops import count_flops
from trtbench.check import audit_onnx
from trtbench.errors import CheckpointError
from trtbench.export import export_onnx
from trtbench.metadata import read_onnx_metadata
from trtbench.models import MODELS, create_model
from trtbench.sensors import get_sensor

S2_ALL = ("sentinel-2-l1c", None, list(range(13)))                                   # file order B1..B12
S2_AS_HLS = ("hls-s30", None, [1, 2, 3, 8, 11, 12])                                 # B02 B03 B04 B8A B11 B12
S1 = ("sentinel-1-rtc", None, [0, 1])                                               # VV, VH
LANDSAT = ("landsat-c2l1", ["B2", "B3", "B4"], [0, 1, 2])                           # file order B2 B3 B4


def real_tiles(path, sensor: str, bands, indices, size: int, batch: int = 2) -> np.ndarray:
    """``batch`` distinct real ``size`` tiles, normalised with the sensor table's statistics (nodata -> 0)."""
    table = get_sensor(sensor).select(bands)
    with rasterio.open(path) as src:
        pixels = src.read([i + 1 for i in indices], window=((0, size + 64 * (batch - 1)), (0, size))).astype(np.float32)
        nodata = src.nodata
    missing = ~np.isfinite(pixels) | ((pixels == nodata) if nodata is not None and np.isfinite(nodata) else False)
    x = (pixels - np.array(table.mean, np.float32)[:, None, None]) / np.array(table.std, np.float32)[:, None, None]
    x[missing] = 0.0
    return np.stack([x[:, 64 * i:64 * i + size] for i in range(batch)])


def relative_error(got: np.ndarray, expected: np.ndarray) -> float:
    return float(np.abs(got - expected).max() / np.abs(expected).max())


@pytest.fixture(scope="module")
def tiny_state() -> dict[str, torch.Tensor]:
    return official_state("tiny", seed=4)


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory, tiny_state):
    path = tmp_path_factory.mktemp("dofa") / "DOFA_tiny.pth"
    torch.save(tiny_state, path)
    return path


# --- the released layout -------------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", ["tiny", "base", "large"])
def test_encoder_state_dict_has_exactly_the_official_key_layout(variant):
    with torch.device("meta"):  # base and large without allocating their weights
        encoder = MODELS[f"dofa_{variant}"].build()
    assert {k: tuple(v.shape) for k, v in encoder.state_dict().items()} == encoder_layout(variant)


def test_official_layout_checkpoint_loads_strictly_and_computes_the_published_encoder(tiny_ckpt, tiny_state, s2_chip):
    model = create_model("dofa_tiny", checkpoint=tiny_ckpt, sensor="sentinel-2-l1c").double()
    x = torch.from_numpy(real_tiles(s2_chip, *S2_ALL, size=224)).double()
    with torch.no_grad():
        features, cls = model(x)
    ref_features, ref_cls = reference_forward(tiny_state, x, model.metadata.wavelengths, heads=SIZES["tiny"][2])
    assert features.shape == (2, 64, 14, 14)
    assert relative_error(features.numpy(), ref_features.numpy()) < 1e-10
    assert relative_error(cls.numpy(), ref_cls.numpy()) < 1e-10
    assert model.metadata.checkpoint_sha256 and model.metadata.input_size == 224


def test_mae_training_checkpoint_with_the_weights_under_model_loads_too(tmp_path, tiny_state):
    path = tmp_path / "checkpoint-99.pth"
    torch.save({"model": tiny_state, "epoch": 99}, path)
    model = create_model("dofa_tiny", checkpoint=path)
    assert torch.equal(model.encoder.cls_token, tiny_state["cls_token"])


@pytest.mark.parametrize("damage,expected", [
    ({"drop": "blocks.3.mlp.fc2.bias"}, "1 missing key(s): blocks.3.mlp.fc2.bias"),
    ({"drop": "norm.weight"}, "1 missing key(s): norm.weight"),
    ({"extra": "blocks.0.attn.q_norm.weight"}, "unexpected key(s): blocks.0.attn.q_norm.weight"),
    ({"reshape": "patch_embed.weight_generator.fc_bias.weight"},
     "patch_embed.weight_generator.fc_bias.weight: checkpoint (65, 128) vs model (64, 128)"),
])
def test_damaged_checkpoint_fails_naming_the_key(tmp_path, damage, expected):
    path = write_official_checkpoint(tmp_path / "bad.pth", "tiny", **damage)
    with pytest.raises(CheckpointError) as err:
        create_model("dofa_tiny", checkpoint=path)
    assert expected in str(err.value)


def test_checkpoint_of_another_size_or_family_is_refused_saying_what_it_is(tmp_path):
    tiny = write_official_checkpoint(tmp_path / "tiny.pth", "tiny")
    with pytest.raises(CheckpointError, match="holds a DOFA 'tiny' encoder") as err:
        create_model("dofa_base", checkpoint=tiny)
    assert "use --variant tiny" in str(err.value)
    clay = tmp_path / "clay.ckpt"
    torch.save({"state_dict": {"model.encoder.cls_token": torch.zeros(1, 1, 192)}}, clay)
    with pytest.raises(CheckpointError, match="not a DOFA checkpoint"):
        create_model("dofa_tiny", checkpoint=clay)


# --- the band embedding and heads ----------------------------------------------------------------------------

def test_generated_kernel_is_dofas_view_of_the_generator_output_with_padding_one(tiny_ckpt, tiny_state):
    model = create_model("dofa_tiny", checkpoint=tiny_ckpt, sensor="hls-s30").double()
    waves = model.metadata.wavelengths
    with torch.no_grad():
        weight, bias = model.encoder.patch_kernel(model.waves)  # float32 wavelengths, as DOFA takes them
        folded = model.folded().fixed_embedding
    ref_weight, ref_bias = reference_kernel(tiny_state, waves)
    assert relative_error(weight.numpy(), ref_weight.numpy()) < 1e-10
    assert relative_error(bias.numpy(), ref_bias.numpy()) < 1e-10
    assert folded.padding == (1, 1) and folded.stride == (16, 16)


def test_upernet_taps_four_levels_and_returns_full_resolution_logits():
    model = create_model("dofa_tiny", sensor="hls-s30", task="segmentation", head="upernet", num_classes=2, seed=1)
    assert model.tap_layers == (0, 1, 2, 3) == MODELS["dofa_tiny"].facts.upernet_layers
    assert MODELS["dofa_base"].facts.upernet_layers == (3, 5, 7, 11)
    assert MODELS["dofa_large"].facts.upernet_layers == (7, 11, 15, 23)
    with torch.no_grad():
        assert model(torch.randn(1, 6, 224, 224))[0].shape == (1, 2, 224, 224)
        assert model(torch.randn(1, 6, 96, 128))[0].shape == (1, 2, 96, 128)


def test_position_table_is_kept_at_224_and_resampled_for_other_grids():
    encoder = create_model("dofa_tiny", seed=0).encoder
    with torch.no_grad():
        assert torch.equal(encoder.grid_position_embedding(14, 14), encoder.pos_embed[:, 1:])
        assert encoder.grid_position_embedding(16, 20).shape == (1, 320, 64)


# --- export and parity on real chips ------------------------------------------------------------------------

def assert_fixed_parity(model, path, chip, band_set, sizes):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for size in sizes:
        x = real_tiles(chip, *band_set, size=size)
        with torch.no_grad():
            expected = [t.numpy() for t in model(torch.from_numpy(x))]  # the unfolded, wavelength-driven model
        for name, got, ref in zip(model.metadata.outputs, session.run(None, {"pixels": x}), expected):
            assert got.shape == ref.shape
            assert relative_error(got, ref) <= 1e-4, f"{name} at {size}: {relative_error(got, ref):.2e}"


def test_cli_exports_the_official_checkpoint_folded_and_evals_it_on_the_real_s2_chip(capsys, tmp_path, tiny_ckpt,
                                                                                     s2_chip):
    path = tmp_path / "dofa_s2.onnx"
    exported = run_cli(capsys, "export", "dofa", "--variant", "tiny", "--checkpoint", tiny_ckpt,
                       "--sensor", "sentinel-2-l1c", "-o", path)
    assert exported.code == 0, exported.err
    proto = onnx.load(str(path))
    convs = [n for n in proto.graph.node if n.op_type == "Conv"]
    assert len(convs) == 1 and {i.name for i in proto.graph.initializer} >= set(convs[0].input[1:])
    assert next(a.ints for a in convs[0].attribute if a.name == "pads") == [1, 1, 1, 1]
    assert read_onnx_metadata(path).model == "dofa_tiny" and audit_onnx(path).passed()
    model = create_model("dofa_tiny", checkpoint=tiny_ckpt, sensor="sentinel-2-l1c")
    assert_fixed_parity(model, path, s2_chip, S2_ALL, sizes=(224, 256))
    evaluated = run_cli(capsys, "eval", "--engine", path, "--data", s2_chip)   # no model-specific flags
    assert evaluated.code == 0 and "PARITY OK" in evaluated.out, evaluated.err


@pytest.fixture(scope="module")
def any_bands(tmp_path_factory):
    model = create_model("dofa_tiny", sensor="sentinel-2-l1c", seed=2)
    return model, export_onnx(model, tmp_path_factory.mktemp("dofa") / "dofa_any.onnx", dynamic_bands=True)


def test_band_agnostic_export_records_dofas_convention_and_passes_the_tensorrt_audit(any_bands):
    _, path = any_bands
    meta = read_onnx_metadata(path)
    assert (meta.band_mode, meta.wavelength_convention, meta.wavelength_range) == ("dynamic", "dofa", [0.42, 5.405])
    proto = onnx.load(str(path))
    node = next(n for n in proto.graph.node if n.op_type == "DynamicPatchEmbed")
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    assert (attrs["kernel_size"], attrs["padding"]) == (16, 1)
    assert attrs["weight_scale"] == pytest.approx(0.01) and attrs["bias_scale"] == pytest.approx(0.01)
    assert audit_onnx(path).passed()


@pytest.mark.parametrize("band_set,chip", [(S2_ALL, "s2_chip"), (S2_AS_HLS, "s2_chip"), (S1, "s1_chip"),
                                           (LANDSAT, "landsat_scene")])
def test_one_band_agnostic_file_matches_pytorch_on_each_real_sensor(any_bands, band_set, chip, request):
    model, path = any_bands
    sensor, bands, _ = band_set
    table = get_sensor(sensor).select(bands)
    reference = model.for_bands(model.metadata.with_(sensor=table.name, bands=table.band_names,
                                                     wavelengths=table.wavelengths, mean=table.mean,
                                                     std=table.std, gsd=table.gsd))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = real_tiles(request.getfixturevalue(chip), *band_set, size=224)
    with torch.no_grad():
        expected = [t.numpy() for t in reference(torch.from_numpy(x))]
    feeds = {"pixels": x, "wavelengths": np.array(table.wavelengths, np.float32),
             "gsd": np.array(table.gsd, np.float32)}
    for got, ref in zip(session.run(None, {i.name: feeds[i.name] for i in session.get_inputs()}), expected):
        assert relative_error(got, ref) <= 1e-4


# --- FLOPs ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("height,width", [(224, 224), (256, 192)])
def test_macs_match_the_analytic_count_and_every_operator_is_counted(height, width):
    model = create_model("dofa_tiny", sensor="sentinel-2-l1c", seed=0)
    report = count_flops(model, (1, 13, height, width), cross_check=False)
    assert report.uncounted == {} and report.coverage == 1.0
    assert report.macs == pytest.approx(encoder_macs(SIZES["tiny"], 13, height, width), rel=0.01)
    assert report.generator_macs == pytest.approx(generator_macs(64, 13), rel=0.01)


# --- base (slow) and an independent implementation (optional) ------------------------------------------------

@pytest.mark.slow
def test_base_fixed_and_band_agnostic_exports_match_pytorch_on_real_chips(tmp_path, s2_chip, s1_chip):
    model = create_model("dofa_base", sensor="sentinel-2-l1c", seed=0)
    assert_fixed_parity(model, export_onnx(model, tmp_path / "s2.onnx"), s2_chip, S2_ALL, sizes=(224,))
    path = export_onnx(model, tmp_path / "any.onnx", dynamic_bands=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for band_set, chip in ((S2_AS_HLS, s2_chip), (S1, s1_chip)):
        table = get_sensor(band_set[0]).select(band_set[1])
        reference = model.for_bands(model.metadata.with_(bands=table.band_names, wavelengths=table.wavelengths,
                                                         mean=table.mean, std=table.std, sensor=table.name))
        x = real_tiles(chip, *band_set, size=224)
        with torch.no_grad():
            expected = [t.numpy() for t in reference(torch.from_numpy(x))]
        feeds = {"pixels": x, "wavelengths": np.array(table.wavelengths, np.float32),
             "gsd": np.array(table.gsd, np.float32)}
        for got, ref in zip(session.run(None, {i.name: feeds[i.name] for i in session.get_inputs()}), expected):
            assert relative_error(got, ref) <= 1e-4
    report = count_flops(model, (1, 13, 224, 224), cross_check=False)
    assert report.coverage == 1.0 and report.macs == pytest.approx(encoder_macs(SIZES["base"], 13, 224, 224), rel=0.01)


@pytest.mark.oracle
def test_matches_torchgeos_dofa_in_float64_with_shared_weights(tiny_state, s2_chip):
    dofa = pytest.importorskip("torchgeo.models.dofa", reason="torchgeo is not installed (it needs torchvision, "
                               "which does not import beside this machine's torch 2.13.0); install torchgeo "
                               "with a matching torch/torchvision pair to run this independent oracle")
    oracle = dofa.DOFA(img_size=224, patch_size=16, embed_dim=64, depth=4, num_heads=2, global_pool=False,
                       num_classes=0, norm_layer=partial(torch.nn.LayerNorm, eps=1e-6))
    result = oracle.load_state_dict({k: v for k, v in tiny_state.items()
                                     if not k.startswith(("mask_token", "projector."))}, strict=False)
    assert result.unexpected_keys == [] and set(result.missing_keys) <= {"fc_norm.weight", "fc_norm.bias"}
    ours = create_model("dofa_tiny", sensor="sentinel-2-l1c")
    ours.encoder.load_state_dict({k: v for k, v in tiny_state.items() if k in ours.encoder.state_dict()})
    oracle.double()
    # torchgeo builds the wavelength sin-cos in float32 whatever the model's dtype (``.float()`` and a float32
    # ``arange`` in its code): the embedding enters its float64 generator through this cast, so its one float32
    # rounding (~6e-8 relative) bounds the agreement; everything after it runs in float64 in both models.
    oracle.patch_embed.fclayer.register_forward_pre_hook(lambda module, args: (args[0].double(),))
    x = torch.from_numpy(real_tiles(s2_chip, *S2_ALL, size=224)).double()
    with torch.no_grad():
        expected = oracle.forward_features(x, ours.metadata.wavelengths)
        _, cls = ours.double()(x)
    assert relative_error(cls.numpy(), expected.numpy()) < 1e-5


# --- training ------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_one_frozen_epoch_on_the_real_flood_chip_exports_and_evals_with_parity(data_dir, tmp_path):
    from test_data_tiles import SENSOR, write_floods_tiles

    from trtbench.data import DataOptions, load_data
    from trtbench.evaluate import evaluate
    from trtbench.models import model_from_checkpoint
    from trtbench.train import TrainConfig, run_experiment

    tiles = tmp_path / "tiles"
    write_floods_tiles(data_dir, tiles, tile=64)
    bundle = load_data(DataOptions("chips", tiles, sensor=SENSOR, class_names=["land", "water"]))
    config = TrainConfig("dofa_tiny", head="upernet", regime="frozen", epochs=1, batch_size=8, crop=64,
                         progress=False)
    run_experiment(config, bundle, tmp_path / "run")
    checkpoint = tmp_path / "run" / "best.ckpt"
    model = model_from_checkpoint(checkpoint)
    assert (model.metadata.model, model.metadata.head, model.metadata.task) == ("dofa_tiny", "upernet", "segmentation")
    onnx_path = export_onnx(model, tmp_path / "floods.onnx")
    names = (tiles / "splits" / "test.txt").read_text().split()
    result = evaluate(onnx_path, [tiles / "images" / f"{n}.tif" for n in names],
                      labels=[tiles / "masks" / f"{n}.tif" for n in names], reference=checkpoint, tile=64,
                      progress=False)
    assert result.passed and abs(result.task_delta()["miou"]) <= 0.001
