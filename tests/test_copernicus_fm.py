"""Copernicus-FM: the released layout loads strictly, computes the published spectral encoder (wavelength and
bandwidth conditioned, kernel resized for other patch sizes), exports (fixed and band-agnostic with bandwidths as
an input) with parity on real chips, and its FLOPs match the analytic count."""

from __future__ import annotations

import math
from dataclasses import replace
from functools import partial

import onnx
import onnxruntime as ort
import pytest
import torch
from cli_helpers import run_cli
from copernicus_fm_spec import (
    SIZES,
    encoder_layout,
    encoder_macs,
    fourier,
    generator_macs,
    language_layout,
    official_state,
    reference_forward,
    reference_kernel,
    write_official_checkpoint,
)
from test_dofa import S1, S2_ALL, S2_AS_HLS, real_tiles, relative_error

from trtbench.bands import bind_bands, model_feed
from trtbench.bench.flops import count_flops
from trtbench.check import audit_onnx
from trtbench.errors import CheckpointError, TrtbenchError
from trtbench.export import export_onnx
from trtbench.metadata import read_onnx_metadata
from trtbench.models import MODELS, create_model
from trtbench.models.copernicus_fm import (
    COPERNICUS_FM_SIZES,
    CopernicusFMEncoder,
    FourierExpansion,
    copernicus_fm_official_state,
)
from trtbench.sensors import get_sensor


@pytest.fixture(scope="module")
def tiny_state() -> dict[str, torch.Tensor]:
    return official_state("tiny", seed=5)


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory, tiny_state):
    path = tmp_path_factory.mktemp("cfm") / "CopernicusFM_tiny.pth"
    torch.save(tiny_state, path)
    return path


def spectral_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v for k, v in state.items() if not k.startswith("patch_embed_variable.")}


# --- the released layout -------------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", ["tiny", "base"])
def test_encoder_state_dict_has_exactly_the_official_spectral_key_layout(variant):
    with torch.device("meta"):  # base without allocating its weights
        encoder = MODELS[f"copernicus_fm_{variant}"].build()
    assert {k: tuple(v.shape) for k, v in encoder.state_dict().items()} == encoder_layout(variant)


def test_official_layout_checkpoint_loads_strictly_and_computes_the_published_encoder(tiny_ckpt, tiny_state, s2_chip):
    model = create_model("copernicus_fm_tiny", checkpoint=tiny_ckpt, sensor="sentinel-2-l1c").double()
    x = torch.from_numpy(real_tiles(s2_chip, *S2_ALL, size=224)).double()
    with torch.no_grad():
        features, cls = model(x)
    table = get_sensor("sentinel-2-l1c")
    ref_features, ref_cls = reference_forward(tiny_state, x, table.wavelengths, table.bandwidths,
                                              heads=SIZES["tiny"][2])
    assert features.shape == (2, 64, 14, 14)
    assert relative_error(features.numpy(), ref_features.numpy()) < 1e-10
    assert relative_error(cls.numpy(), ref_cls.numpy()) < 1e-10
    assert model.metadata.checkpoint_sha256 and model.metadata.input_size == 224


@pytest.mark.parametrize("damage,expected", [
    ({"drop": "blocks.3.mlp.fc2.bias"}, "1 missing key(s): blocks.3.mlp.fc2.bias"),
    ({"drop": "scale_token"}, "1 missing key(s): scale_token"),
    ({"extra": "norm.weight"}, "unexpected key(s): norm.weight"),
    ({"reshape": "patch_embed_spectral.weight_generator.fc_bias.weight"},
     "patch_embed_spectral.weight_generator.fc_bias.weight: checkpoint (65, 128) vs model (64, 128)"),
])
def test_damaged_checkpoint_fails_naming_the_key(tmp_path, damage, expected):
    path = write_official_checkpoint(tmp_path / "bad.pth", "tiny", **damage)
    with pytest.raises(CheckpointError) as err:
        create_model("copernicus_fm_tiny", checkpoint=path)
    assert expected in str(err.value)


def test_language_path_is_dropped_and_other_sizes_or_families_are_refused(tmp_path, tiny_state):
    assert set(language_layout("tiny")) <= set(tiny_state)  # the release carries it; the loader drops it
    assert copernicus_fm_official_state({"model": tiny_state}, "x.pth", "tiny") == spectral_state(tiny_state)
    with pytest.raises(CheckpointError, match="holds a Copernicus-FM 'tiny' encoder") as err:
        copernicus_fm_official_state(tiny_state, "tiny.pth", "base")   # what create_model(..._base) meets
    assert "use --variant tiny" in str(err.value)
    dofa = tmp_path / "dofa.pth"
    torch.save({"patch_embed.weight_generator.fc_weight.weight": torch.zeros(1)}, dofa)
    with pytest.raises(CheckpointError, match="not a Copernicus-FM checkpoint"):
        create_model("copernicus_fm_tiny", checkpoint=dofa)


# --- the spectral embedding ------------------------------------------------------------------------------------

def test_fourier_features_in_float32_match_the_official_float64_even_for_radar_bandwidths():
    # Sentinel-1's 1 m bandwidth is 1e9 cycles of the 1 nm length: naive float32 would lose every digit.
    x = torch.tensor([1e9, 5e7, 2190.0, 665.0, 20.0])
    for lower, upper in ((1.0, 1e9), (100.0, 1e9)):
        got = FourierExpansion(lower, upper)(x)
        assert got.dtype == torch.float32
        assert (got.double() - fourier(x, lower, upper)).abs().max() < 1e-5


def test_kernel_is_the_permuted_generator_output_scaled_with_padding_one(tiny_ckpt, tiny_state):
    model = create_model("copernicus_fm_tiny", checkpoint=tiny_ckpt, sensor="hls-s30").double()
    table = get_sensor("hls-s30")
    with torch.no_grad():
        weight, bias = model.encoder.patch_kernel(model.waves)
        folded = model.folded().fixed_embedding
    ref_weight, ref_bias = reference_kernel(tiny_state, table.wavelengths, table.bandwidths)
    assert relative_error(weight.numpy(), ref_weight.numpy()) < 1e-10
    assert relative_error(bias.numpy(), ref_bias.numpy()) < 1e-10
    assert folded.padding == (1, 1) and folded.stride == (16, 16)


def test_kernel_is_resized_with_the_pseudo_inverse_for_another_patch_size(tiny_state):
    encoder = CopernicusFMEncoder(replace(COPERNICUS_FM_SIZES["tiny"], patch_size=8))
    encoder.load_state_dict(spectral_state(tiny_state))
    table = get_sensor("sentinel-1-rtc")
    spectra = torch.tensor([table.wavelengths, table.bandwidths], dtype=torch.float32).double()
    with torch.no_grad():
        weight, bias = encoder.double().patch_kernel(spectra)
        patches = encoder.patch_embedding(torch.zeros(1, 2, 64, 64, dtype=torch.float64), spectra)
    ref_weight, _ = reference_kernel(tiny_state, table.wavelengths, table.bandwidths, patch=8)
    assert weight.shape == (64, 2, 8, 8) and patches.shape == (1, 64, 8, 8)
    assert relative_error(weight.numpy(), ref_weight.numpy()) < 1e-6   # the resize matrix is kept in float32


def test_a_sensor_without_bandwidths_is_refused_with_the_fix():
    with pytest.raises(TrtbenchError, match="sensor 'landsat-c2l1' lists no bandwidth") as err:
        create_model("copernicus_fm_tiny", sensor="landsat-c2l1")
    assert "sentinel-2-l1c" in str(err.value)
    assert get_sensor("sentinel-2-l2a").band("B04").bandwidth == pytest.approx(0.030)   # 30 nm, in µm
    assert get_sensor("sentinel-1-rtc").bandwidths == [1e6, 1e6]                       # 1 m, in µm


# --- export and parity on real chips ------------------------------------------------------------------------

def test_cli_exports_the_official_checkpoint_folded_and_evals_it_on_the_real_s2_chip(capsys, tmp_path, tiny_ckpt,
                                                                                     s2_chip):
    path = tmp_path / "cfm_s2.onnx"
    exported = run_cli(capsys, "export", "copernicus_fm", "--variant", "tiny", "--checkpoint", tiny_ckpt,
                       "--sensor", "sentinel-2-l1c", "-o", path)
    assert exported.code == 0, exported.err
    proto = onnx.load(str(path))
    convs = [n for n in proto.graph.node if n.op_type == "Conv"]
    assert len(convs) == 1 and {i.name for i in proto.graph.initializer} >= set(convs[0].input[1:])
    assert read_onnx_metadata(path).model == "copernicus_fm_tiny" and audit_onnx(path).passed()
    # eval rebuilds the unfolded, spectra-driven model from the recorded checkpoint and holds the folded file to
    # 1e-4 of the output scale over the whole real 13-band chip, with no model-specific flags.
    evaluated = run_cli(capsys, "eval", "--engine", path, "--data", s2_chip, "--json", tmp_path / "eval.json")
    assert evaluated.code == 0 and "PARITY OK" in evaluated.out, evaluated.err


@pytest.fixture(scope="module")
def any_bands(tmp_path_factory, tiny_ckpt):
    model = create_model("copernicus_fm_tiny", checkpoint=tiny_ckpt, sensor="sentinel-2-l1c")
    return model, export_onnx(model, tmp_path_factory.mktemp("cfm") / "cfm_any.onnx", dynamic_bands=True)


def test_band_agnostic_export_takes_bandwidths_and_passes_the_tensorrt_audit(any_bands):
    _, path = any_bands
    meta = read_onnx_metadata(path)
    assert (meta.band_mode, meta.wavelength_convention) == ("dynamic", "copernicus_fm")
    assert meta.inputs == ["pixels", "wavelengths", "gsd", "bandwidths"]
    proto = onnx.load(str(path))
    assert "bandwidths" in {i.name for i in proto.graph.input}
    node = next(n for n in proto.graph.node if n.op_type == "DynamicPatchEmbed")
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    assert (attrs["kernel_size"], attrs["padding"]) == (16, 1)
    assert audit_onnx(path).passed()


# Sentinel-1 as Copernicus-FM reads it (Copernicus-Bench: 5 cm wavelength, 1 m bandwidth), chosen at run time.
S1_AS_CFM = [5.0e4, 5.0e4]


@pytest.mark.parametrize("band_set,chip,wavelengths", [(S2_ALL, "s2_chip", None), (S2_AS_HLS, "s2_chip", None),
                                                       (S1, "s1_chip", S1_AS_CFM)])
def test_one_band_agnostic_file_matches_pytorch_on_each_real_sensor(any_bands, band_set, chip, wavelengths, request):
    model, path = any_bands
    sensor, bands, _ = band_set
    meta = bind_bands(read_onnx_metadata(path), sensor=sensor, bands=bands, wavelengths=wavelengths)
    assert meta.bandwidths == pytest.approx(get_sensor(sensor).select(bands).bandwidths)
    reference = model.for_bands(meta)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = real_tiles(request.getfixturevalue(chip), *band_set, size=224)
    with torch.no_grad():
        expected = [t.numpy() for t in reference(torch.from_numpy(x))]
    feeds = model_feed(meta, x)          # the pipeline's own feed, bandwidths included
    for got, ref in zip(session.run(None, {i.name: feeds[i.name] for i in session.get_inputs()}), expected):
        assert relative_error(got, ref) <= 1e-4


# --- FLOPs ---------------------------------------------------------------------------------------------------

def test_macs_match_the_analytic_count_and_every_operator_is_counted():
    model = create_model("copernicus_fm_tiny", sensor="sentinel-2-l1c", seed=0)
    report = count_flops(model, (1, 13, 224, 224), cross_check=False)
    assert report.uncounted == {} and report.coverage == 1.0
    assert report.macs == pytest.approx(encoder_macs(SIZES["tiny"], 13, 224, 224), rel=0.01)
    assert report.generator_macs == pytest.approx(generator_macs(64, 13), rel=0.01)


# --- an independent implementation (optional) ----------------------------------------------------------------

@pytest.mark.oracle
def test_matches_torchgeos_copernicus_fm_in_float64_with_shared_weights(tiny_state, s2_chip, s1_chip):
    cfm = pytest.importorskip("torchgeo.models.copernicusfm", reason="torchgeo is not installed (it needs "
                              "torchvision, which does not import beside this machine's torch 2.13.0); install "
                              "torchgeo with a matching torch/torchvision pair to run this independent oracle")
    oracle = cfm.CopernicusFM(img_size=224, patch_size=16, embed_dim=64, depth=4, num_heads=2, global_pool=False,
                              num_classes=0, norm_layer=partial(torch.nn.LayerNorm, eps=1e-6))
    result = oracle.load_state_dict(tiny_state, strict=False)   # the whole release layout, language path included
    assert result.unexpected_keys == [] and set(result.missing_keys) == {"norm.weight", "norm.bias"}
    oracle.double()
    # torchgeo casts its Fourier features to float32 (``encoding.float()``); they enter its float64 generator
    # through this cast, so that one float32 rounding bounds the agreement.
    oracle.patch_embed_spectral.fclayer.register_forward_pre_hook(lambda module, args: (args[0].double(),))
    ours = create_model("copernicus_fm_tiny", sensor="sentinel-2-l1c")
    ours.encoder.load_state_dict(spectral_state(tiny_state))
    table = get_sensor("sentinel-2-l1c")
    x = torch.from_numpy(real_tiles(s2_chip, *S2_ALL, size=224)).double()
    unknown = torch.full((2, 4), math.nan, dtype=torch.float64)   # location, time, area unknown
    with torch.no_grad():
        expected = oracle.forward_features(x, unknown, [w * 1000 for w in table.wavelengths],
                                           [w * 1000 for w in table.bandwidths])
        _, cls = ours.double()(x)
    assert relative_error(cls.numpy(), expected.numpy()) < 1e-5
    # The kernel resized for patch 8 (FlexiViT's pseudo-inverse), on the real Sentinel-1 chip (1 m bandwidths).
    encoder = CopernicusFMEncoder(replace(COPERNICUS_FM_SIZES["tiny"], patch_size=8))
    encoder.load_state_dict(spectral_state(tiny_state))
    s1 = get_sensor("sentinel-1-rtc")
    spectra = torch.tensor([s1.wavelengths, s1.bandwidths], dtype=torch.float32).double()
    x1 = torch.from_numpy(real_tiles(s1_chip, *S1, size=64)).double()
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)   # torchgeo builds its resize basis in the default dtype
    try:
        with torch.no_grad():
            got = encoder.double().patch_embedding(x1, spectra).flatten(2).transpose(1, 2)
            expected = oracle.patch_embed_spectral(
                x1, wavelengths=torch.tensor([w * 1000 for w in s1.wavelengths], dtype=torch.float32),
                bandwidths=torch.tensor([w * 1000 for w in s1.bandwidths], dtype=torch.float32), kernel_size=8)
    finally:
        torch.set_default_dtype(default)
    assert got.shape == expected.shape == (2, 64, 64)
    assert relative_error(got.numpy(), expected.numpy()) < 1e-5


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
    config = TrainConfig("copernicus_fm_tiny", head="upernet", regime="frozen", epochs=1, batch_size=8, crop=64,
                         progress=False)
    run_experiment(config, bundle, tmp_path / "run")
    checkpoint = tmp_path / "run" / "best.ckpt"
    model = model_from_checkpoint(checkpoint)
    assert (model.metadata.model, model.metadata.head, model.metadata.task) == \
        ("copernicus_fm_tiny", "upernet", "segmentation")
    onnx_path = export_onnx(model, tmp_path / "floods.onnx")
    names = (tiles / "splits" / "test.txt").read_text().split()
    result = evaluate(onnx_path, [tiles / "images" / f"{n}.tif" for n in names],
                      labels=[tiles / "masks" / f"{n}.tif" for n in names], reference=checkpoint, tile=64,
                      progress=False)
    assert result.passed and abs(result.task_delta()["miou"]) <= 0.001
