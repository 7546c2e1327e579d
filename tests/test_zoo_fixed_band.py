"""The fixed-band zoo (ViT and ResNet baselines, SSL4EO-S12, Scale-MAE): official layouts load strictly, the
normalisation and GSD the weights need are recorded, FLOPs match the analytic count, and each family trains
(from scratch or frozen) on the real flood chip, exports, passes the TensorRT audit and evals with parity at
fp32, fp16 and int8. Independent float64 checks against timm and torchgeo run where those are installed."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import rasterio
import torch
from flood_training import FLOOD_SENSOR, export_check_eval, small_flood_tiles, train_one_epoch
from zoo_spec import (
    RESNET,
    VIT,
    random_state,
    resnet_layout,
    resnet_macs,
    scalemae_positions,
    vit_layout,
    vit_macs,
    write,
)

from trtbench.bench.flops import count_flops
from trtbench.errors import CheckpointError, TrtbenchError
from trtbench.models import MODELS, create_model

L1C = "sentinel-2-l1c"
RGB = ["B04", "B03", "B02"]
# registry name -> (size in zoo_spec, layout builder, bands the model takes, released extras not in the encoder)
MAE_EXTRAS = {"mask_token": (1, 1, 32), "decoder_embed.weight": (32, 64), "decoder_pos_embed": (1, 197, 32),
              "fpn.lateral.weight": (32, 32)}
ZOO = {
    "vit_tiny": ("tiny", vit_layout, 13, {"head.weight": (10, 64), "head.bias": (10,)}),
    "resnet_tiny": ("tiny", resnet_layout, 13, {"fc.weight": (10, 256), "fc.bias": (10,)}),
    "ssl4eo_vit_tiny": ("tiny", vit_layout, 13, {}),
    "ssl4eo_resnet_tiny": ("tiny", resnet_layout, 13, {}),
    "scalemae_tiny": ("tiny", vit_layout, 3, MAE_EXTRAS),
}
FULL_SIZES = {"vit_base": ("base", vit_layout), "resnet50": ("50", resnet_layout),
              "ssl4eo_vit_small": ("small", vit_layout), "ssl4eo_resnet50": ("50", resnet_layout),
              "scalemae_large": ("large", vit_layout)}


def bands_of(name: str) -> list[str] | None:
    return RGB if name.startswith("scalemae") else None


def official_file(tmp_path, name: str, **damage):
    size, layout, bands, extras = ZOO[name]
    return write(tmp_path / f"{name}.pth", random_state(layout(size, bands), extra=extras, seed=3, **damage))


def chip_tiles(path, meta, size: int = 64, batch: int = 2) -> np.ndarray:
    """``batch`` real tiles of the S2 chip in the model's band order, normalised with the model's own statistics."""
    with rasterio.open(path) as src:
        order = [src.descriptions.index(b) + 1 if b in (src.descriptions or ()) else None for b in meta.bands]
        if None in order:  # the flood chip's 13 bands are in L1C order but unnamed
            from trtbench.sensors import get_sensor
            order = [get_sensor(L1C).band_names.index(b) + 1 for b in meta.bands]
        pixels = src.read(order, window=((0, size * batch), (0, size))).astype(np.float32)
    x = (pixels - np.array(meta.mean, np.float32)[:, None, None]) / np.array(meta.std, np.float32)[:, None, None]
    return np.stack([x[:, size * i:size * (i + 1)] for i in range(batch)])


# --- official layouts --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", [*ZOO, *FULL_SIZES])
def test_encoder_state_dict_has_exactly_the_official_timm_layout(name):
    size, layout = FULL_SIZES[name] if name in FULL_SIZES else ZOO[name][:2]
    bands = 3 if name.startswith("scalemae") else 13
    with torch.device("meta"):  # base and large sizes without allocating their weights
        encoder = MODELS[name].build(bands)
    assert {k: tuple(v.shape) for k, v in encoder.state_dict().items()} == layout(size, bands)


@pytest.mark.parametrize("name", list(ZOO))
def test_released_layout_loads_strictly_without_the_classifier_or_pretraining_keys(tmp_path, name):
    path = official_file(tmp_path, name)
    released = torch.load(path, weights_only=True)
    model = create_model(name, checkpoint=path, sensor=L1C, bands=bands_of(name))
    state = model.encoder.state_dict()
    assert set(released) - set(state) == set(ZOO[name][3])       # only the classifier / MAE extras left out
    assert all(torch.equal(state[k], released[k]) for k in state)
    assert model.metadata.checkpoint_sha256


def test_a_wrapped_training_checkpoint_loads_too(tmp_path):
    size, layout, bands, _ = ZOO["ssl4eo_resnet_tiny"]
    state = random_state(layout(size, bands), seed=1)
    path = tmp_path / "checkpoint_0099.pth.tar"
    torch.save({"state_dict": state, "epoch": 99}, path)
    model = create_model("ssl4eo_resnet_tiny", checkpoint=path, sensor=L1C)
    assert torch.equal(model.encoder.layer4[0].conv2.weight, state["layer4.0.conv2.weight"])


@pytest.mark.parametrize("name,damage,expected", [
    ("vit_tiny", {"drop": "blocks.3.mlp.fc2.bias"}, "1 missing key(s): blocks.3.mlp.fc2.bias"),
    ("ssl4eo_vit_tiny", {"drop": "norm.weight"}, "missing key(s): norm.weight"),
    ("resnet_tiny", {"reshape": "layer2.0.downsample.0.weight"},
     "layer2.0.downsample.0.weight: checkpoint (65, 32, 1, 1) vs model (64, 32, 1, 1)"),
    ("scalemae_tiny", {"extra": {"blocks.0.ls1.gamma": (64,)}}, "unexpected key(s): blocks.0.ls1.gamma"),
])
def test_a_damaged_checkpoint_fails_naming_the_key(tmp_path, name, damage, expected):
    size, layout, bands, _ = ZOO[name]
    path = write(tmp_path / "bad.pth", random_state(layout(size, bands), **damage))
    with pytest.raises(CheckpointError) as err:
        create_model(name, checkpoint=path, sensor=L1C, bands=bands_of(name))
    assert expected in str(err.value)


def test_a_file_of_another_family_is_refused_saying_what_it_lacks(tmp_path):
    path = official_file(tmp_path, "resnet_tiny")
    with pytest.raises(CheckpointError, match="not a SSL4EO-S12 ViT checkpoint: no 'patch_embed.proj.weight'"):
        create_model("ssl4eo_vit_tiny", checkpoint=path, sensor=L1C)


def test_a_timm_imagenet_vit_does_not_load_into_a_13_band_model_silently(tmp_path):
    path = write(tmp_path / "rgb.pth", random_state(vit_layout("tiny", 3)))
    with pytest.raises(CheckpointError, match=r"patch_embed.proj.weight: checkpoint \(64, 3, 16, 16\)"):
        create_model("vit_tiny", checkpoint=path, sensor=L1C)


# --- what the weights need: bands, normalisation, GSD --------------------------------------------------------

def test_ssl4eo_records_the_divide_by_10000_normalisation_and_refuses_other_band_sets():
    model = create_model("ssl4eo_vit_tiny", sensor=L1C)
    assert model.metadata.bands == ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10",
                                    "B11", "B12"]
    assert model.metadata.mean == [0.0] * 13 and model.metadata.std == [10000.0] * 13
    assert create_model("vit_tiny", sensor=L1C).metadata.std[0] != 10000.0   # baselines keep the sensor table's
    with pytest.raises(TrtbenchError, match="take the 13 Sentinel-2 L1C bands, not 3"):
        create_model("ssl4eo_resnet_tiny", sensor=L1C, bands=RGB)


def test_scalemae_positions_are_the_gsd_scaled_sin_cos_and_the_gsd_changes_the_output():
    model = create_model("scalemae_tiny", sensor=L1C, bands=RGB).double()
    encoder = model.encoder
    for h, w, gsd in ((14, 14, 10.0), (3, 5, 0.3)):
        cls, grid = encoder.positions(h, w, gsd)
        table = torch.cat([cls[0], grid[0]]).numpy()
        assert np.abs(table - scalemae_positions(64, h, w, gsd)).max() < 1e-12
    assert model.metadata.gsd == 10.0                         # Sentinel-2's GSD, recorded with the model
    x = torch.randn(1, 3, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        at_10 = model(x)[1]
        at_30 = model.for_bands(model.metadata.with_(gsd=30.0))(x)[1]
    assert not torch.allclose(at_10, at_30)


def test_upernet_reads_vit_taps_and_the_resnet_pyramid():
    assert MODELS["vit_base"].facts.upernet_layers == (3, 5, 7, 11)
    assert MODELS["scalemae_large"].facts.upernet_layers == (7, 11, 15, 23)
    resnet = create_model("resnet_tiny", sensor=L1C, task="segmentation", head="upernet", num_classes=3)
    assert resnet.encoder.pyramid == (32, 64, 128, 256)
    with torch.no_grad():
        levels = resnet.encoder.stages(torch.zeros(1, 13, 64, 96))
        logits = resnet(torch.zeros(1, 13, 64, 96))[0]
    assert [tuple(t.shape[-2:]) for t in levels] == [(16, 24), (8, 12), (4, 6), (2, 3)]
    assert logits.shape == (1, 3, 64, 96)
    assert [m.in_channels for m in resnet.head.lateral.modules() if isinstance(m, torch.nn.Conv2d)] == [32, 64, 128]


def test_resnet_embedding_is_the_last_stage_and_its_average():
    model = create_model("resnet_tiny", sensor=L1C)
    with torch.no_grad():
        features, pooled = model(torch.randn(2, 13, 64, 64))
    assert features.shape == (2, 256, 2, 2) and torch.allclose(pooled, features.mean(dim=(2, 3)))


@pytest.mark.parametrize("name", ["vit_tiny", "resnet_tiny", "scalemae_tiny"])
def test_fixed_channel_models_refuse_a_band_agnostic_export_before_writing(tmp_path, name):
    from trtbench.export import export_onnx

    model = create_model(name, sensor=L1C, bands=bands_of(name))
    with pytest.raises(TrtbenchError, match="fixed number of input channels") as err:
        export_onnx(model, tmp_path / "any.onnx", dynamic_bands=True)
    assert "drop --dynamic-bands" in str(err.value) and not list(tmp_path.iterdir())


# --- FLOPs ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,bands,analytic", [
    ("vit_tiny", 13, partial(vit_macs, "tiny", 13)),
    ("resnet_tiny", 13, partial(resnet_macs, "tiny", 13)),
    ("scalemae_tiny", 3, partial(vit_macs, "tiny", 3)),
])
def test_macs_match_the_analytic_count_and_every_operator_is_counted(name, bands, analytic):
    model = create_model(name, sensor=L1C, bands=bands_of(name))
    report = count_flops(model, (1, bands, 224, 160), cross_check=False)
    assert report.uncounted == {} and report.coverage == 1.0
    assert report.macs == pytest.approx(analytic(224, 160), rel=0.01)
    assert report.generator_macs is None                      # nothing generated from wavelengths


def test_full_size_analytic_counts_are_the_published_ones():
    """ResNet-50 at 224: 4.09 GMAC (timm/torchvision); ViT-B/16: 17.6 GMAC; ViT-L/16: 61.6 GMAC (3 bands)."""
    assert resnet_macs("50", 3, 224, 224) / 1e9 == pytest.approx(4.09, rel=0.01)
    assert vit_macs("base", 3, 224, 224) / 1e9 == pytest.approx(17.56, rel=0.01)
    assert vit_macs("large", 3, 224, 224) / 1e9 == pytest.approx(61.6, rel=0.01)
    assert RESNET["50"][0] == (3, 4, 6, 3) and VIT["small"] == (384, 12, 6)


# --- train, export, check, eval at three precisions (slow) ---------------------------------------------------

S2_BANDS = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]
# name -> (band selection from the flood tiles, regime, pretrained file, precisions evaluated). One model per
# exported graph: SSL4EO's ResNet-50 is resnet_tiny's graph with 13 bands and a loaded file (its loading and
# normalisation are tested above), left out to keep the suite's time budget; fp16 on both architectures, int8
# (calibrated on the real tiles) on the ViT, whose LayerNorm/attention are the harder case.
TRAINING = {
    "vit_tiny": (None, "full", False, ("fp16", "int8")),
    "resnet_tiny": (None, "full", False, ("fp16", "int8")),
    "ssl4eo_vit_tiny": (S2_BANDS, "frozen", True, ("fp16", "int8")),
    "scalemae_tiny": (RGB, "frozen", True, ("fp16", "int8")),
}


@pytest.fixture(scope="module")
def flood_tiles(data_dir, tmp_path_factory):
    return small_flood_tiles(data_dir, tmp_path_factory.mktemp("floods") / "tiles")


def test_training_chips_are_normalised_as_the_weights_expect(flood_tiles):
    from test_data_tiles import SENSOR

    from trtbench.data import DataOptions, load_data
    from trtbench.train.run import normalised_as_model

    bundle = load_data(DataOptions("chips", flood_tiles, sensor=SENSOR, bands=S2_BANDS, class_names=["land", "water"]))
    ssl4eo = normalised_as_model(bundle, create_model("ssl4eo_vit_tiny", sensor=bundle.sensor).metadata)
    record = ssl4eo.splits["train"].records[0]
    x = ssl4eo.splits["train"][0][0].numpy()
    with rasterio.open(record.images[0][0]) as src:
        raw = src.read([src.descriptions.index(b) + 1 for b in S2_BANDS]).astype(np.float32)
    valid = (raw != 0).all(axis=0)
    assert valid.mean() > 0.5 and np.allclose(x[:, valid], raw[:, valid] / 10000, atol=1e-6)
    assert normalised_as_model(bundle, create_model("vit_tiny", sensor=bundle.sensor).metadata) is bundle


@pytest.mark.slow
@pytest.mark.parametrize("name", list(TRAINING))
def test_one_epoch_on_the_real_flood_chip_exports_checks_and_evals(name, flood_tiles, tmp_path, capsys):
    bands, regime, pretrained, precisions = TRAINING[name]
    weights = ["--checkpoint", official_file(tmp_path, name)] if pretrained else []   # baselines: from scratch
    head = "upernet" if "resnet" in name else "fcn"
    best = train_one_epoch(capsys, name, flood_tiles, tmp_path / "run", "--sensor", FLOOD_SENSOR,
                           *(["--bands", ",".join(bands)] if bands else []), "--head", head, "--regime", regime,
                           *weights)
    meta = export_check_eval(capsys, best, flood_tiles, tmp_path, precisions)
    assert (meta.model, meta.task, meta.head) == (name, "segmentation", head)
    assert meta.bands == (bands or ["VV", "VH", *S2_BANDS])
    if name.startswith("ssl4eo"):   # the weights' normalisation survives training and export; eval applies it
        assert (meta.mean, meta.std) == ([0.0] * 13, [10000.0] * 13)
    if name.startswith("scalemae"):  # the GSD folded into the positions is the one recorded
        assert meta.gsd == 10.0


# --- independent implementations (timm, torchgeo) in float64 -----------------------------------------------

def _relative(got: torch.Tensor, expected: torch.Tensor) -> float:
    return float((got - expected).abs().max() / expected.abs().max())


@pytest.mark.oracle
@pytest.mark.parametrize("name,size", [("vit_tiny", "tiny"), ("ssl4eo_vit_tiny", "tiny"), ("vit_base", "base")])
def test_vit_matches_timms_vision_transformer_in_float64(name, size, tmp_path, s2_chip):
    timm_vit = pytest.importorskip("timm.models.vision_transformer", reason="timm is not installed here "
                                   "(the oracle venv, scripts/oracle_check.sh, has it)")
    dim, depth, heads = VIT[size]
    ours = create_model(name, sensor=L1C, seed=5).double()
    oracle = timm_vit.VisionTransformer(img_size=224, patch_size=16, in_chans=13, embed_dim=dim, depth=depth,
                                        num_heads=heads, num_classes=0).double().eval()
    oracle.load_state_dict(ours.encoder.state_dict(), strict=True)   # the same names and shapes, no extras
    x = torch.from_numpy(chip_tiles(s2_chip, ours.metadata, size=224)).double()
    with torch.no_grad():
        expected = oracle.forward_features(x)
        features, cls = ours(x)
    tokens = torch.cat([cls[:, None], features.flatten(2).transpose(1, 2)], dim=1)
    assert _relative(tokens, expected) < 1e-10


@pytest.mark.oracle
@pytest.mark.parametrize("name,size", [("resnet_tiny", "tiny"), ("ssl4eo_resnet_tiny", "tiny"), ("resnet50", "50")])
def test_resnet_stages_match_timms_resnet_in_float64(name, size, tmp_path, s2_chip):
    timm_resnet = pytest.importorskip("timm.models.resnet", reason="timm is not installed here "
                                      "(the oracle venv, scripts/oracle_check.sh, has it)")
    layers, widths, _ = RESNET[size]
    ours = create_model(name, checkpoint=official_file(tmp_path, name) if name in ZOO else None, sensor=L1C,
                        seed=5).double()
    oracle = timm_resnet.ResNet(block=timm_resnet.Bottleneck, layers=list(layers), channels=widths,
                                in_chans=13, num_classes=0).double().eval()
    oracle.load_state_dict(ours.encoder.state_dict(), strict=True)
    stages = []
    for i in range(1, 5):
        getattr(oracle, f"layer{i}").register_forward_hook(lambda m, args, out: stages.append(out))
    x = torch.from_numpy(chip_tiles(s2_chip, ours.metadata, size=128)).double()
    with torch.no_grad():
        oracle.forward_features(x)
        levels = ours.encoder.stages(x)
    assert len(stages) == 4
    for got, expected in zip(levels, stages):
        assert _relative(got, expected) < 1e-10


@pytest.mark.oracle
def test_scalemae_matches_torchgeos_scalemae_in_float64(tmp_path, s2_chip):
    scale_mae = pytest.importorskip("torchgeo.models.scale_mae", reason="torchgeo is not installed here "
                                    "(the oracle venv, scripts/oracle_check.sh, has it)")
    ours = create_model("scalemae_tiny", checkpoint=official_file(tmp_path, "scalemae_tiny"), sensor=L1C,
                        bands=RGB).double()
    oracle = scale_mae.ScaleMAE(res=ours.metadata.gsd, img_size=224, patch_size=16, in_chans=3, embed_dim=64,
                                depth=4, num_heads=2, mlp_ratio=4, qkv_bias=True, num_classes=0,
                                norm_layer=partial(torch.nn.LayerNorm, eps=1e-6)).double().eval()
    oracle.load_state_dict(ours.encoder.state_dict(), strict=True)
    x = torch.from_numpy(chip_tiles(s2_chip, ours.metadata, size=224)).double()
    with torch.no_grad():
        expected = oracle.forward_features(x)
        features, cls = ours(x)
    tokens = torch.cat([cls[:, None], features.flatten(2).transpose(1, 2)], dim=1)
    assert ours.metadata.gsd == 10.0 and _relative(tokens, expected) < 1e-10
