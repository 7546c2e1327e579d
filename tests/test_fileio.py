"""Outputs appear complete or not at all."""

from __future__ import annotations

import os

import pytest

from trtbench.errors import TrtbenchError
from trtbench.fileio import atomic_output


def test_failed_write_leaves_nothing_behind(tmp_path):
    with pytest.raises(RuntimeError), atomic_output(tmp_path / "out.json") as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert list(tmp_path.iterdir()) == []


def test_finished_file_has_the_usual_permissions(tmp_path):
    with atomic_output(tmp_path / "out.json") as tmp:
        tmp.write_text("{}")
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "out.json").stat().st_mode & 0o777 == 0o666 & ~mask


def test_missing_output_folder_is_named(tmp_path):
    with pytest.raises(TrtbenchError, match="output folder does not exist"), atomic_output(tmp_path / "no" / "x"):
        pass
