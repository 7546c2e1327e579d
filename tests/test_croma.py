"""CROMA: the released layout loads strictly, the optical, SAR and joint paths compute the published forward (2-D
ALiBi on any grid), the refused band sets name the right ones, the export matches PyTorch on the real
Sen1Floods11 S2 + S1 chip and passes the TensorRT audit, and the FLOPs match the analytic count."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
import torch
from cli_helpers import run_cli
from croma_spec import (
    OPTICAL,
    SAR,
    SIZES,
    alibi,
    croma_macs,
    readme_scaling,
    reference_forward,
    released_file,
    released_layout,
)
from flood_training import FLOOD_SENSOR, export_check_eval, small_flood_tiles, train_one_epoch

from trtbench.bench.flops import count_flops
from trtbench.errors import CheckpointError, TrtbenchError
from trtbench.metadata import ModelMetadata
from trtbench.models import create_model
from trtbench.models.croma import alibi_bias, alibi_slopes, croma_state

S2, S1 = "sentinel-2-l1c", "sentinel-1-rtc"
STACK = f"{S2}+{S1}"
L1C = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]
# case -> (sensor, bands, which official inputs it feeds)
CASES = {
    "optical": (S2, OPTICAL, ("optical",)),
    "sar": (S1, SAR, ("sar",)),
    "joint": (STACK, OPTICAL + SAR, ("optical", "sar")),
    "joint_sar_first": (f"{S1}+{S2}", SAR + OPTICAL, ("optical", "sar")),   # the flood tiles' stacking order
}


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("croma") / "CROMA_tiny.pt"
    torch.save(released_file("tiny", seed=3), path)
    return path


def real_stack(data_dir, bands: list[str], size: int = 120, width: int | None = None) -> np.ndarray:
    """``[1, C, size, width]`` raw pixels of the real Sen1Floods11 chip in ``bands`` order (S2 L1C and S1 files)."""
    folder = data_dir / "sen1floods11"
    window = ((100, 100 + size), (200, 200 + (width or size)))
    with rasterio.open(folder / "Spain_7370579_S2Hand.tif") as s2, rasterio.open(folder / "Spain_7370579_S1Hand.tif") as s1:
        planes = [s1.read(SAR.index(b) + 1, window=window) if b in SAR else s2.read(L1C.index(b) + 1, window=window)
                  for b in bands]
    return np.stack(planes).astype(np.float32)[None]


def normalised(raw: np.ndarray, meta) -> torch.Tensor:
    mean = np.array(meta.mean, np.float32)[:, None, None]
    std = np.array(meta.std, np.float32)[:, None, None]
    return torch.from_numpy((raw - mean) / std)


def relative(got: torch.Tensor, expected: torch.Tensor) -> float:
    return float((got - expected).abs().max() / expected.abs().max())


# --- the released layout -------------------------------------------------------------------------------------

@pytest.mark.parametrize("size", list(SIZES))
def test_encoder_holds_exactly_the_five_released_state_dicts(size):
    with torch.device("meta"):
        encoder = create_model(f"croma_{size}", sensor=STACK, bands=OPTICAL + SAR).encoder
    ours = {k: tuple(v.shape) for k, v in encoder.state_dict().items()}
    assert ours == {f"{m}.{k}": s for m, keys in released_layout(size).items() for k, s in keys.items()}


def test_alibi_is_the_official_table_at_120_px_and_follows_the_grid():
    slopes = torch.tensor(alibi_slopes(16))
    assert torch.allclose(alibi_bias(slopes, 15, 15), alibi(15, 15).float(), atol=1e-5)
    assert torch.allclose(alibi_bias(slopes, 6, 9), alibi(6, 9).float(), atol=1e-5)     # rows x columns, row-major
    assert alibi_slopes(16) == pytest.approx([2 ** (-0.5 * (h + 1)) for h in range(16)], rel=1e-12)


@pytest.mark.parametrize("case,height,width", [("optical", 120, 120), ("sar", 64, 96), ("joint", 120, 120),
                                               ("joint_sar_first", 64, 96)])   # the published grid, non-square ones
def test_released_file_loads_strictly_and_each_path_computes_the_published_forward(case, height, width, tiny_file,
                                                                                   data_dir):
    sensor, bands, inputs = CASES[case]
    model = create_model("croma_tiny", checkpoint=tiny_file, sensor=sensor, bands=bands).double()
    released = {m: {k: v.double() for k, v in s.items()} for m, s in torch.load(tiny_file).items()}
    z = normalised(real_stack(data_dir, bands, height, width), model.metadata).double()
    with torch.no_grad():
        features, cls = model(z)
    scaled = readme_scaling(z)
    optical = scaled[:, [bands.index(b) for b in OPTICAL]] if "optical" in inputs else None
    sar = scaled[:, [bands.index(b) for b in SAR]] if "sar" in inputs else None
    official = reference_forward(released, optical=optical, sar=sar)
    prefix = "joint" if len(inputs) == 2 else {"optical": "optical", "sar": "SAR"}[inputs[0]]
    assert features.shape[-2:] == (height // 8, width // 8)
    assert relative(features.flatten(2).transpose(1, 2), official[f"{prefix}_encodings"]) < 1e-10
    assert relative(cls, official[f"{prefix}_GAP"]) < 1e-10


def test_the_band_split_survives_the_artifacts_metadata_record():
    """The record is written with sorted keys; reading it back restores the modalities in band order."""
    meta = create_model("croma_tiny", sensor=STACK, bands=OPTICAL + SAR).metadata
    assert list(meta.modalities) == [S2, S1]
    assert ModelMetadata.from_json(meta.to_json()) == meta


@pytest.mark.parametrize("damage,expected", [
    ("shape", "s2_encoder.linear_input.weight: checkpoint (64, 760)"),
    ("key", "missing key(s): joint_encoder.layers.0.1.to_k.weight"),
    ("module", "lacks s1_GAP_FFN"),
])
def test_a_damaged_release_is_refused_naming_what_is_wrong(tmp_path, damage, expected):
    released = released_file("tiny")
    if damage == "shape":
        released["s2_encoder"]["linear_input.weight"] = torch.zeros(64, 760)
    elif damage == "key":
        del released["joint_encoder"]["layers.0.1.to_k.weight"]
    else:
        del released["s1_GAP_FFN"]
    torch.save(released, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="does not match|lacks") as err:
        create_model("croma_tiny", checkpoint=tmp_path / "bad.pt", sensor=STACK, bands=OPTICAL + SAR)
    assert expected in str(err.value)


def test_a_release_of_another_size_or_family_is_refused_saying_what_it_is(tmp_path, tiny_file):
    with pytest.raises(CheckpointError, match="64-wide CROMA, but croma_base is 768 wide") as err:
        croma_state(torch.load(tiny_file), tiny_file, "base")     # the registry's adapter, before any 768-wide build
    assert "use croma_tiny" in err.value.fix
    torch.save({"patch_embed.proj.weight": torch.zeros(8, 3, 16, 16)}, tmp_path / "vit.pth")
    with pytest.raises(CheckpointError, match="not a CROMA checkpoint"):
        create_model("croma_tiny", checkpoint=tmp_path / "vit.pth", sensor=S2, bands=OPTICAL)


@pytest.mark.parametrize("sensor,bands,problem", [
    (S2, None, "not B01, B02, B03, B04, B05, B06, B07, B08, B8A, B09, B10, B11, B12"),   # L1C with the cirrus band
    (S2, OPTICAL[::-1], "in that order"),
    (S1, ["VH", "VV"], "takes VV, VH in that order"),
    ("sentinel-2-l2a", None, "not sentinel-2-l2a"),
])
def test_other_band_sets_are_refused_naming_the_bands_croma_takes(sensor, bands, problem):
    with pytest.raises(TrtbenchError, match="CROMA") as err:
        create_model("croma_tiny", sensor=sensor, bands=bands)
    assert problem in str(err.value) and ",".join(OPTICAL + SAR) in err.value.fix


def test_heads_read_the_stack_that_runs():
    for sensor, bands, depth in ((S2, OPTICAL, 12), (S1, SAR, 6), (STACK, OPTICAL + SAR, 6)):
        with torch.device("meta"):
            model = create_model("croma_base", sensor=sensor, bands=bands, task="segmentation", head="upernet",
                                 num_classes=2)
        assert model.encoder.size.depth == depth and len(model.tap_layers) == 4 and max(model.tap_layers) == depth - 1
    model = create_model("croma_tiny", sensor=STACK, bands=OPTICAL + SAR, task="segmentation", head="upernet",
                         num_classes=2)
    with torch.no_grad():
        assert model(torch.randn(1, 14, 64, 80))[0].shape == (1, 2, 64, 80)


# --- export, parity on the real chip, TensorRT audit, FLOPs ---------------------------------------------------

def test_cli_export_of_the_stack_matches_pytorch_on_the_real_flood_chip_and_passes_the_audit(
        capsys, tmp_path, data_dir):
    onnx_path = tmp_path / "croma_tiny.onnx"
    exported = run_cli(capsys, "export", "croma_tiny", "--random-init", "--sensor", STACK,
                       "--bands", ",".join(OPTICAL + SAR), "--input-size", "120", "-o", onnx_path)
    assert exported.code == 0, exported.err
    checked = run_cli(capsys, "check", onnx_path)
    assert checked.code == 0, checked.out + checked.err

    # One stacked GeoTIFF of the real chip: the 12 S2 bands CROMA takes, then VV and VH, named in the file.
    raw = real_stack(data_dir, OPTICAL + SAR, size=240)[0]
    with rasterio.open(data_dir / "sen1floods11" / "Spain_7370579_S2Hand.tif") as src:
        profile = src.profile | {"count": 14, "dtype": "float32", "nodata": None, "width": 240, "height": 240,
                                 "transform": src.window_transform(((100, 340), (200, 440)))}
    stack = tmp_path / "Spain_7370579_S2S1.tif"
    with rasterio.open(stack, "w", **profile) as dst:
        dst.write(raw)
        dst.descriptions = tuple(OPTICAL + SAR)
    evaluated = run_cli(capsys, "eval", "--engine", onnx_path, "--data", stack, "--tile", "120",
                        "--json", tmp_path / "eval.json")
    assert evaluated.code == 0, evaluated.out + evaluated.err
    report = json.loads((tmp_path / "eval.json").read_text())
    parity = {row["output"]: row for row in report["parity"]}
    assert set(parity) == {"features", "cls"}
    assert all(row["rel_max"] <= 1e-4 for row in parity.values()), parity


@pytest.mark.parametrize("case,height,width", [("joint", 120, 120), ("optical", 120, 96), ("sar", 64, 64)])
def test_macs_match_the_analytic_count_and_every_operator_is_counted(case, height, width):
    sensor, bands, inputs = CASES[case]
    model = create_model("croma_tiny", sensor=sensor, bands=bands)
    report = count_flops(model, (1, len(bands), height, width), cross_check=False)
    assert report.uncounted == {} and report.coverage == 1.0
    assert report.macs == pytest.approx(croma_macs("tiny", height, width, inputs), rel=0.01)



# --- training (slow) -----------------------------------------------------------------------------------------

@pytest.mark.slow
def test_base_runs_the_published_120_px_input_and_large_builds_for_it():
    """One forward of base at the published size (the joint stack, tokens on the 15 x 15 grid); large (673 M
    parameters) runs on the meta device: the same code at another width and depth, its shapes checked without
    allocating it."""
    model = create_model("croma_base", sensor=STACK, bands=OPTICAL + SAR)
    with torch.no_grad():
        features, cls = model(torch.randn(1, 14, 120, 120))
    assert features.shape == (1, 768, 15, 15) and cls.shape == (1, 768) and torch.isfinite(features).all()
    with torch.device("meta"):
        large = create_model("croma_large", sensor=STACK, bands=OPTICAL + SAR)
        features, cls = large(torch.randn(1, 14, 120, 120))
    assert features.shape == (1, 1024, 15, 15) and cls.shape == (1, 1024)


@pytest.mark.slow
def test_one_frozen_epoch_on_the_real_flood_chip_with_s1_and_s2_exports_and_evals_at_three_precisions(
        data_dir, tmp_path, capsys, tiny_file):
    """The flood tiles stack S1 then S2 (13 bands): CROMA's 12 and VV, VH are chosen, so the joint encoder trains
    (frozen, with the released file) and the best checkpoint exports, passes the audit and evals with parity."""
    from trtbench.models import model_from_checkpoint
    from trtbench.models.croma import BandLayout

    tiles = small_flood_tiles(data_dir, tmp_path / "tiles")
    best = train_one_epoch(capsys, "croma_tiny", tiles, tmp_path / "run", "--sensor", FLOOD_SENSOR, "--bands",
                           ",".join(SAR + OPTICAL), "--head", "upernet", "--regime", "frozen", "--checkpoint", tiny_file)
    meta = export_check_eval(capsys, best, tiles, tmp_path, ("fp16", "int8"))
    assert (meta.model, meta.head, meta.bands) == ("croma_tiny", "upernet", SAR + OPTICAL)
    # The data layer keeps the registered stack's name, so the metadata records each modality's bands, and the
    # joint encoder is what trained and exported.
    assert meta.modalities == {"sentinel-1-rtc": SAR, "sentinel-2-l1c": OPTICAL}
    assert model_from_checkpoint(best).encoder.layout == BandLayout(optical=2, sar=0)


# --- torchgeo's CROMA in float64 (oracle venv) ---------------------------------------------------------------

@pytest.mark.oracle
@pytest.mark.parametrize("case", ["optical", "sar", "joint"])
def test_matches_torchgeos_croma_in_float64_with_shared_weights(case, tiny_file, data_dir):
    croma = pytest.importorskip("torchgeo.models.croma", reason="torchgeo is not installed here "
                                "(the oracle venv, scripts/oracle_check.sh, has it)")
    sensor, bands, inputs = CASES[case]
    ours = create_model("croma_tiny", checkpoint=tiny_file, sensor=sensor, bands=bands).double()
    dim, depth = SIZES["tiny"]
    modalities = [m for m in ("sar", "optical") if m in inputs]
    oracle = croma.CROMA(modalities=modalities, encoder_dim=dim, encoder_depth=depth, num_heads=16,
                         patch_size=8, image_size=120).double().eval()
    groups = {"sar": ("s1_encoder", "s1_GAP_FFN"), "optical": ("s2_encoder", "s2_GAP_FFN")}
    keep = tuple(g for m in modalities for g in groups[m]) + (("joint_encoder",) if len(modalities) == 2 else ())
    shared = {k: v for k, v in ours.encoder.state_dict().items() if k.startswith(keep)}
    oracle.load_state_dict(shared | {"attn_bias": oracle.attn_bias}, strict=True)
    z = normalised(real_stack(data_dir, bands, 120), ours.metadata).double()
    scaled = readme_scaling(z)
    with torch.no_grad():
        features, cls = ours(z)
        expected = oracle(x_sar=scaled[:, [bands.index(b) for b in SAR]] if "sar" in inputs else None,
                          x_optical=scaled[:, [bands.index(b) for b in OPTICAL]] if "optical" in inputs else None)
    prefix = "joint" if len(inputs) == 2 else inputs[0]
    tokens = features.flatten(2).transpose(1, 2)
    diffs = (relative(tokens, expected[f"{prefix}_encodings"]), relative(cls, expected[f"{prefix}_GAP"]))
    print(f"torchgeo CROMA {case}: max relative difference {max(diffs):.2e}")
    assert max(diffs) < 1e-8   # torchgeo keeps its ALiBi table in float32 (get_2dalibi): ~5e-10 from that
