"""Every bad file (the catalogue in ``bad_inputs``) is refused with a message naming it and a fix.

First at the reader each command goes through (GeoTIFF, label, ONNX header, engine sidecar, checkpoint),
then through the real command line for the artifact-reading commands: exit 2, ``error:`` naming the file,
``  fix:``, no traceback, and never a hint to turn safe checkpoint loading off.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bad_inputs import CATALOGUE, catalogue, lightning_intermediate_checkpoint
from cli_helpers import run_cli
from predict_support import conv_artifact

from trtbench.artifact import read_artifact_metadata
from trtbench.engine_meta import RuntimeInfo, check_runtime, read_sidecar, verify_engine_file
from trtbench.errors import TrtbenchError
from trtbench.metadata import ModelMetadata
from trtbench.models.checkpoint import read_checkpoint
from trtbench.raster import read_chip
from trtbench.sensors import get_sensor

# The machine the fake engines of the catalogue claim to be built on (so only the defect under test fails).
FAKE_BUILD_MACHINE = RuntimeInfo("10.15.1", "NVIDIA H100 80GB HBM3", "9.0")
FORBIDDEN = ("Traceback", "weights_only", "See previous exception", "DecodeError", "IndexError")


@pytest.fixture(scope="module")
def good_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from trtbench.models import create_model
    from trtbench.models.checkpoint import save_model

    model = create_model("clay_tiny", sensor="sentinel-2-l2a", seed=0)
    return save_model(model, model.metadata, tmp_path_factory.mktemp("ckpt") / "clay_tiny.ckpt")


@pytest.fixture(scope="module")
def water_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small segmentation artifact (2 classes) on the 13 Sentinel-2 L1C bands, built node by node: instant."""
    return conv_artifact(tmp_path_factory.mktemp("onnx") / "water.onnx", get_sensor("sentinel-2-l1c"),
                         num_classes=2)


@pytest.fixture
def good(s2_chip, water_label, water_artifact, good_checkpoint):
    """A valid file of each kind, for the makers that damage or borrow from one."""
    return {"geotiff": s2_chip, "label": water_label, "onnx": water_artifact, "engine": water_artifact,
            "sidecar": water_artifact, "checkpoint": good_checkpoint}


def _read(kind: str, path: Path) -> None:
    """What every command does first with a file of this kind."""
    if kind in ("geotiff", "label"):
        chip = read_chip(path)
        if kind == "label" and chip.pixels.shape[0] != 1:  # as eval does with a label
            raise TrtbenchError(f"label {path} has {chip.pixels.shape[0]} bands", "pass a single-band label")
    elif kind == "onnx":
        read_artifact_metadata(path)
    elif kind in ("engine", "sidecar"):
        read_artifact_metadata(path)
        sidecar = read_sidecar(path)  # what the TensorRT runner checks before TensorRT reads a byte
        verify_engine_file(path, sidecar)
        check_runtime(sidecar, FAKE_BUILD_MACHINE, path)
    else:
        read_checkpoint(path)


def _assert_names_and_fixes(exc: TrtbenchError, path: Path) -> None:
    text = str(exc)
    assert path.name in exc.problem, f"the problem does not name {path.name}: {exc.problem}"
    assert exc.fix, f"no fix for: {exc.problem}"
    assert not any(word in text for word in FORBIDDEN), text


@pytest.mark.parametrize("bad", CATALOGUE, ids=lambda b: b.id)
def test_reader_refuses_bad_file_naming_it(bad, good, tmp_path):
    path = bad.make(tmp_path, good[bad.kind])
    with pytest.raises(TrtbenchError) as caught:
        _read(bad.kind, path)
    _assert_names_and_fixes(caught.value, path)


@pytest.mark.parametrize("kind", ["geotiff", "label", "onnx", "checkpoint"])
def test_good_files_pass_the_same_readers(kind, good):
    _read(kind, good[kind])   # the refusals above are about the defects, not about every file


def test_catalogue_covers_every_kind_and_the_common_defects():
    for kind in ("geotiff", "label", "onnx", "checkpoint"):
        assert {"zero-byte", "truncated", "junk", "text"} <= {b.defect for b in catalogue(kind)}, kind
    assert {b.kind for b in CATALOGUE} == {"geotiff", "label", "onnx", "engine", "sidecar", "checkpoint"}


# -- through the command line ---------------------------------------------------------------------------

def _commands(artifact: Path, chip: Path, out: Path) -> dict[str, list[str]]:
    return {
        "eval": ["eval", "--engine", artifact, "--data", chip],
        "bench": ["bench", artifact, "--backends", "onnxruntime", "--batch", "1"],
        "flops": ["flops", artifact],
        "export": ["export", artifact, "--precision", "fp16", "-o", out / "converted.onnx"],
        "check": ["check", artifact],
    }


def _assert_user_mistake(result, path: Path, out: Path | None = None) -> None:
    assert result.code == 2, (result.code, result.err)
    lines = result.err.strip().splitlines()
    assert any(line.startswith("error: ") and path.name in line for line in lines), result.err
    assert any(line.startswith("  fix: ") for line in lines), result.err
    assert not any(word in result.err + result.out for word in FORBIDDEN), result.err
    if out is not None:
        assert list(out.iterdir()) == [], "a refused command left files behind"


METADATA_DEFECTS = ("foreign", "bad-metadata-json", "metadata-not-a-record")  # valid ONNX graphs


@pytest.mark.parametrize(("command", "bad"), [
    (command, bad) for command in ("eval", "bench", "flops", "export", "check") for bad in catalogue("onnx")
    # `check` audits the graph for TensorRT, which these files have intact; it does not need trtbench metadata
    if not (command == "check" and bad.defect in METADATA_DEFECTS)], ids=lambda v: getattr(v, "id", v))
def test_bad_onnx_is_a_user_mistake_in_every_command(capsys, command, bad, good, s2_chip, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    path = bad.make(tmp_path, good["onnx"])
    _assert_user_mistake(run_cli(capsys, *_commands(path, s2_chip, out)[command]), path, out)


# Refused from the sidecar, before TensorRT is needed. An engine from another TensorRT, or replaced by one of
# the same size (full sha256), is told apart when the engine is loaded, where TensorRT runs: the reader test covers
# those.
ENGINE_DEFECTS = [b for b in catalogue("engine") + catalogue("sidecar")
                  if b.defect not in ("other-tensorrt", "replaced")]


@pytest.mark.parametrize("bad", ENGINE_DEFECTS, ids=lambda b: b.id)
def test_bad_engine_or_sidecar_is_a_user_mistake_in_eval(capsys, bad, good, s2_chip, tmp_path):
    path = bad.make(tmp_path, good["engine"])
    result = run_cli(capsys, "eval", "--engine", path, "--data", s2_chip, "--backend", "tensorrt")
    _assert_user_mistake(result, path)


@pytest.mark.parametrize("bad", catalogue("checkpoint"), ids=lambda b: b.id)
def test_bad_checkpoint_is_a_user_mistake_in_export(capsys, bad, good, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    path = bad.make(tmp_path, good["checkpoint"])
    _assert_user_mistake(run_cli(capsys, "export", path, "-o", out / "model.onnx"), path, out)


@pytest.mark.parametrize("kind", ["geotiff", "label"])
def test_bad_raster_is_a_user_mistake_in_eval(capsys, kind, good, water_artifact, s2_chip, tmp_path):
    for bad in catalogue(kind):
        folder = tmp_path / bad.id
        folder.mkdir()
        path = bad.make(folder, good[kind])
        args = ["--data", path] if kind == "geotiff" else ["--data", s2_chip, "--labels", path]
        result = run_cli(capsys, "eval", "--engine", water_artifact, *args)
        assert result.code == 2, (bad.id, result.err)
        assert path.name in result.err and "  fix: " in result.err, (bad.id, result.err)
        assert not any(word in result.err for word in FORBIDDEN), (bad.id, result.err)


def test_intermediate_training_checkpoint_points_to_best_ckpt(capsys, tmp_path):
    path = lightning_intermediate_checkpoint(tmp_path / "run")
    result = run_cli(capsys, "export", path, "-o", tmp_path / "model.onnx")
    _assert_user_mistake(result, path)
    assert "training" in result.err and str(tmp_path / "run" / "seed_0" / "best.ckpt") in result.err
    assert "official Clay" not in result.err


# -- messages that point to the right fix ------------------------------------------------------------------

def test_unknown_data_bands_sensor_is_called_unknown(capsys, water_artifact, s2_chip):
    result = run_cli(capsys, "eval", "--engine", water_artifact, "--data", s2_chip, "--data-bands", "sentinel-9")
    assert result.code == 2
    assert "unknown sensor 'sentinel-9'" in result.err and "sentinel-2-l1c" in result.err   # the known ones
    assert "names but" not in result.err   # not a band-count mismatch


def test_band_agnostic_artifact_without_sensor_is_told_to_pass_it(s1_chip):
    from trtbench.export.dynamic_bands import band_agnostic_metadata
    from trtbench.raster import band_match_of

    table = get_sensor("sentinel-2-l2a")
    fixed = ModelMetadata(model="clay_tiny", family="clay", variant="tiny", sensor=table.name,
                          bands=table.band_names, wavelengths=table.wavelengths, mean=table.mean, std=table.std,
                          gsd=table.gsd, patch_size=8, input_size=128)
    # The Sentinel-1 chip (VV, VH) has none of the default Sentinel-2 bands.
    with pytest.raises(TrtbenchError) as caught:
        band_match_of(s1_chip, band_agnostic_metadata(fixed))
    assert "--sensor" in caught.value.fix and "band-agnostic" in caught.value.fix
    with pytest.raises(TrtbenchError) as caught:   # a fixed-band artifact cannot take another sensor
        band_match_of(s1_chip, fixed)
    assert "--sensor" not in caught.value.fix
