"""Bad input catalogue: each case exits 2 with the problem and a fix, and leaves nothing behind."""

from __future__ import annotations

import sys

import pytest
from predict_support import LANDSAT8, conv_artifact

from trtbench.cli import main


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    return conv_artifact(tmp_path_factory.mktemp("a") / "l8.onnx", LANDSAT8)


def _run(monkeypatch, capsys, *args: str) -> str:
    monkeypatch.setattr(sys, "argv", ["trtbench", "predict", *map(str, args), "--quiet"])
    with pytest.raises(SystemExit) as info:
        main()
    err = capsys.readouterr().err
    assert info.value.code == 2, err
    assert "error:" in err and "fix:" in err and "Traceback" not in err
    return err


def _nothing_in(folder) -> bool:
    """Nothing left behind: a folder the run would have created does not exist (an existing one stays empty)."""
    return not folder.exists()


def test_unreadable_scene(monkeypatch, capsys, artifact, tmp_path):
    fake = tmp_path / "scene.tif"
    fake.write_text("not a raster")
    out = tmp_path / "out"
    assert "not a readable GeoTIFF" in _run(monkeypatch, capsys, artifact, fake, "-o", out)
    assert _nothing_in(out)


def test_artifact_that_is_not_a_model(monkeypatch, capsys, landsat_scene, tmp_path):
    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"\x00garbage" * 10)
    err = _run(monkeypatch, capsys, fake, landsat_scene, "-o", tmp_path / "out")
    assert str(fake) in err and "ONNX model" in err
    assert not (tmp_path / "out").exists()


def test_missing_scene(monkeypatch, capsys, artifact, tmp_path):
    assert "file not found" in _run(monkeypatch, capsys, artifact, tmp_path / "nope.tif", "-o", tmp_path / "out")
    assert _nothing_in(tmp_path / "out")


def test_too_few_bands(monkeypatch, capsys, artifact, water_label, tmp_path):
    out = tmp_path / "out"
    err = _run(monkeypatch, capsys, artifact, water_label, "-o", out)
    assert "has 1 band(s) but the model needs 3" in err
    assert _nothing_in(out)


@pytest.mark.parametrize("tile,overlap,words", [("4", "0", "not a multiple of the model's patch size 8"),
                                                ("100", "16", "not a multiple of the model's patch size 8"),
                                                ("64", "64", "smaller than the tile"),
                                                ("64", "80", "smaller than the tile")])
def test_bad_tile_or_overlap(monkeypatch, capsys, artifact, landsat_scene, tmp_path, tile, overlap, words):
    out = tmp_path / "out"
    assert words in _run(monkeypatch, capsys, artifact, landsat_scene, "-o", out, "--tile", tile, "--overlap", overlap)
    assert _nothing_in(out)


def test_unknown_compression(monkeypatch, capsys, artifact, landsat_scene, tmp_path):
    out = tmp_path / "out"
    err = _run(monkeypatch, capsys, artifact, landsat_scene, "-o", out, "--tile", "64", "--compress", "jpeg2000")
    assert "unknown compression 'jpeg2000'" in err and "--compress deflate|zstd|lzw" in err
    assert _nothing_in(out)


def test_output_folder_that_cannot_be_created(monkeypatch, capsys, artifact, landsat_scene, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert "is a file" in _run(monkeypatch, capsys, artifact, landsat_scene, "-o", blocker)
    # /proc refuses new folders even to root, where permission bits would not.
    assert "-o /proc/trtbench-out: cannot be created in /proc" in _run(monkeypatch, capsys, artifact, landsat_scene,
                                                                       "-o", "/proc/trtbench-out")
    assert "is a file" in _run(monkeypatch, capsys, artifact, landsat_scene, "-o", blocker / "sub")


def test_existing_output_folder_is_kept_when_the_run_fails(monkeypatch, capsys, artifact, water_label, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    _run(monkeypatch, capsys, artifact, water_label, "-o", out)
    assert out.is_dir() and not any(out.iterdir())


def test_output_folder_not_writable(monkeypatch, capsys, artifact, landsat_scene, tmp_path):
    out = tmp_path / "readonly"
    out.mkdir()
    out.chmod(0o500)
    try:
        if _can_write(out):
            pytest.skip("running as root: permission bits do not stop writes (see the /proc case)")
        assert "cannot write in the folder" in _run(monkeypatch, capsys, artifact, landsat_scene, "-o", out)
        assert not any(out.iterdir())
    finally:
        out.chmod(0o700)


def _can_write(folder) -> bool:
    import os
    return os.access(folder, os.W_OK)


@pytest.mark.parametrize("bands,words", [("B4,B3,B5", "no band 'B2'"), ("1,2,9", "does not pick 3")])
def test_bands_that_do_not_map(monkeypatch, capsys, artifact, landsat_scene, tmp_path, bands, words):
    out = tmp_path / "out"
    assert words in _run(monkeypatch, capsys, artifact, landsat_scene, "-o", out, "--data-bands", bands)
    assert _nothing_in(out)


def test_embedding_artifact_without_its_feature_size(monkeypatch, capsys, landsat_scene, tmp_path):
    embedding = conv_artifact(tmp_path / "embed.onnx", LANDSAT8, task="embedding", embed_dim=None)
    out = tmp_path / "out"
    err = _run(monkeypatch, capsys, embedding, landsat_scene, "-o", out)
    assert "does not record its feature size" in err and "re-export" in err
    assert _nothing_in(out)


def test_embedding_overlap_off_the_patch_grid(monkeypatch, capsys, landsat_scene, tmp_path):
    embedding = conv_artifact(tmp_path / "embed.onnx", LANDSAT8, task="embedding")
    out = tmp_path / "out"
    err = _run(monkeypatch, capsys, embedding, landsat_scene, "-o", out, "--tile", "128", "--overlap", "16")
    assert "not a multiple of 32" in err and "--overlap 32" in err
    assert _nothing_in(out)
