"""Progress of one scene, saved after every tile row so an interrupted run can continue.

A run keeps a hidden work folder beside its outputs holding the products' work rasters and one
``progress.npz``: the rows done, a fingerprint of everything that decides the output bytes, and
the blender's carried overlap. The npz is replaced atomically (temp + rename) after the row's
strip is written, so after a kill -9 it always describes rows that are really on disk; the row in
flight is simply recomputed, and its strip rewritten with the same bytes.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError

PROGRESS = "progress.npz"


def work_dir_for(out_dir: Path, stem: str) -> Path:
    return out_dir / f".{stem}.trtbench-predict"


@dataclass
class Progress:
    rows_done: int
    carry: dict[str, np.ndarray] | None


class RunState:
    """The work folder of one scene: fresh, or resumed when the fingerprint matches."""

    def __init__(self, work_dir: Path, fingerprint: dict[str, Any]):
        self.dir = work_dir
        self.fingerprint = json.dumps(fingerprint, sort_keys=True)

    def start(self, resume: bool) -> Progress | None:
        """Prepare the folder; return the saved progress when resuming, None for a fresh start."""
        if resume and (self.dir / PROGRESS).is_file():
            saved = np.load(self.dir / PROGRESS)
            if str(saved["fingerprint"]) != self.fingerprint:
                raise InputError(f"the interrupted run in {self.dir} used a different artifact, scene or options",
                                 "repeat the original command with --resume, or drop --resume to start over")
            carry = {k[len("carry_"):]: saved[k] for k in saved.files if k.startswith("carry_")}
            return Progress(int(saved["rows_done"]), carry or None)
        self.discard()
        self.dir.mkdir(parents=True)
        return None

    def save(self, rows_done: int, carry: dict[str, np.ndarray]) -> None:
        tmp = self.dir / f".{PROGRESS}.tmp"
        with open(tmp, "wb") as f:
            np.savez(f, rows_done=rows_done, fingerprint=self.fingerprint,
                     **{f"carry_{k}": v for k, v in carry.items()})
        os.replace(tmp, self.dir / PROGRESS)

    def discard(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
