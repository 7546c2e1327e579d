"""Strict, safe loading of checkpoints.

Two layouts are understood:

* the official Clay Lightning checkpoints (``ckpt["state_dict"]``, encoder under ``model.encoder.``;
  ``model.decoder.*``, ``model.proj.*``, ``model.mrl.*`` and ``model.teacher.*`` are pretraining-only
  and dropped), and
* trtbench's own full-model checkpoints (``{"trtbench_metadata": json, "state_dict": ...}``), written
  by :func:`save_model` after training or a seeded random init.

Files are read with ``torch.load(weights_only=True)`` or safetensors: never with pickle's arbitrary
code execution. Every missing, unexpected or mis-shaped key is reported by name.
"""

from __future__ import annotations

import pickle
import re
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import CheckpointError
from ..metadata import ModelMetadata

CLAY_ENCODER_PREFIX = "model.encoder."
METADATA_KEY = "trtbench_metadata"


def read_checkpoint(path: str | Path) -> dict:
    """The checkpoint's top-level dict, loaded without executing code.

    A file that cannot be used is refused with what is wrong with it (empty, cut short, not a PyTorch file,
    pickled objects, an intermediate checkpoint of a training run, unreadable trtbench metadata).
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"checkpoint {path} is a folder", "pass the checkpoint file itself (e.g. RUN/best.ckpt)")
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}", "check the path (no weights are downloaded)")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes)",
                              "copy it again or re-run what wrote it; the write was interrupted")
    ckpt = _read_safetensors(path) if path.suffix == ".safetensors" else _read_torch(path)
    if not isinstance(ckpt, Mapping):
        raise CheckpointError(f"{path} holds a {type(ckpt).__name__}, not a dict of tensors",
                              "pass a Lightning or trtbench checkpoint")
    _refuse_training_snapshot(ckpt, path)
    raw = ckpt.get(METADATA_KEY)
    if raw is not None:  # validated here, where the file's name is known
        if not isinstance(raw, str):
            raise CheckpointError(f"the trtbench metadata in {path} is a {type(raw).__name__}, not JSON text",
                                  "re-save the checkpoint with trtbench (`trtbench train` or save_model)")
        ModelMetadata.from_json(raw, str(path))
    return dict(ckpt)


def _read_torch(path: Path) -> object:
    """``torch.load(weights_only=True)``, with errors that say what the file is instead of torch's text
    (which, for pickled objects, suggests turning safe loading off: trtbench never does that)."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    is_zip = head == b"PK\x03\x04"
    if not is_zip and not head.startswith(b"\x80"):  # neither torch's zip format nor its legacy pickle format
        kind = "text" if all(32 <= c < 127 or c in b"\t\r\n" for c in head) else "binary data of another kind"
        raise CheckpointError(f"{path} is not a PyTorch checkpoint (it starts with {kind}: {head!r})",
                              "pass the .ckpt/.pt written by torch.save, Lightning or `trtbench train`; a failed "
                              "download often saves an HTML page under the file's name")
    if is_zip and not zipfile.is_zipfile(path):
        raise CheckpointError(f"checkpoint {path} is cut short or damaged (its zip directory is unreadable)",
                              "copy or download it again (compare its size or sha256 with the source)")
    try:
        with warnings.catch_warnings():  # torch's notes on pickle protocols: the outcome is reported below
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        what = f"a pickled Python object ({found.group(1)})" if found else "pickled data other than tensors"
        raise CheckpointError(f"checkpoint {path} holds {what}, which trtbench does not load: unpickling can run "
                              "arbitrary code",
                              "on a machine where you trust the file, re-save only its tensors "
                              "(torch.save({'state_dict': model.state_dict()}, ...)) or convert it to "
                              "safetensors") from None
    except Exception as exc:  # truncated member, bad CRC, unknown storage ...
        raise CheckpointError(f"checkpoint {path} is damaged or not a PyTorch file ({type(exc).__name__})",
                              "copy or download it again (compare its size or sha256 with the source)") from None


def _refuse_training_snapshot(ckpt: Mapping, path: Path) -> None:
    """A Lightning checkpoint that ``trtbench train`` writes while training (``RUN/checkpoints/best-epoch=07.ckpt``,
    ``last.ckpt``) holds the training module's weights without the metadata (bands, normalization, classes)
    that an export needs; the run's ``best.ckpt`` has both."""
    if METADATA_KEY in ckpt or "pytorch-lightning_version" not in ckpt or path.parent.name != "checkpoints":
        return
    if not (path.name.startswith("best-") or path.name.startswith("last")):
        return
    run = path.parent.parent
    fix = f"use {run / 'best.ckpt'}, which `trtbench train` writes when the run ends"
    if not (run / "best.ckpt").is_file():
        fix += " (it is not there yet: let the run finish)"
    if run.name.startswith("seed_"):  # one seed of an experiment, which copies its best seed's best.ckpt up
        fix += f"; {run.parent / 'best.ckpt'} is the best of the experiment's seeds"
    raise CheckpointError(f"{path} is an intermediate checkpoint of the training run in {run} (Lightning's "
                          "snapshot, without the model's bands, normalization and classes)", fix)


def _read_safetensors(path: Path) -> dict:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            state = {k: fh.get_tensor(k) for k in fh.keys()}
            meta = fh.metadata() or {}
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"cannot read safetensors file {path}: {exc}",
                              "the file is truncated or corrupt: copy or download it again") from None
    ckpt: dict = {"state_dict": state}
    if METADATA_KEY in meta:
        ckpt[METADATA_KEY] = meta[METADATA_KEY]
    return ckpt


def checkpoint_metadata(ckpt: Mapping) -> ModelMetadata | None:
    """trtbench metadata stored in the checkpoint, if it is a trtbench checkpoint (validated by
    :func:`read_checkpoint`)."""
    raw = ckpt.get(METADATA_KEY)
    return None if raw is None else ModelMetadata.from_json(raw)


def clay_encoder_state(ckpt: Mapping, path: str | Path) -> dict[str, torch.Tensor]:
    """The encoder tensors of an official Clay Lightning checkpoint, prefix stripped."""
    state = ckpt.get("state_dict")
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{path} has no 'state_dict'", "pass the Lightning .ckpt from the Clay release")
    encoder = {k[len(CLAY_ENCODER_PREFIX):]: v for k, v in state.items() if k.startswith(CLAY_ENCODER_PREFIX)}
    if not encoder:
        prefixes = sorted({k.split(".")[0] for k in state})[:5]
        raise CheckpointError(f"{path} has no '{CLAY_ENCODER_PREFIX}*' keys (top-level prefixes: {prefixes})",
                              "this is not a Clay checkpoint; check the file and --model")
    return encoder


def clay_official_state(ckpt: Mapping, path: str | Path, variant: str,
                        sizes: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """The encoder of an official Clay checkpoint, refused (naming the right variant) if it is another size.

    ``sizes``: the Clay size table (variant -> size with ``dim`` and ``depth``), passed in by the Clay module so
    that reading checkpoints does not depend on the model code.
    """
    state = clay_encoder_state(ckpt, path)
    found = infer_clay_variant(state, sizes)
    if found is not None and found != variant:
        raise CheckpointError(f"{path} holds a Clay '{found}' encoder but the model is Clay '{variant}'",
                              f"use --variant {found}")
    return state


def load_strict(module: nn.Module, state: Mapping[str, torch.Tensor], source: str) -> None:
    """Copy ``state`` into ``module``; any missing, unexpected or mis-shaped key is an error naming it."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    mis_shaped = [f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(v.shape)}"
                  for k, v in expected.items() if k in state and tuple(state[k].shape) != tuple(v.shape)]
    problems = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", mis_shaped)):
        if keys:
            shown = "; ".join(keys[:10]) + (f"; ... ({len(keys) - 10} more)" if len(keys) > 10 else "")
            problems.append(f"{len(keys)} {label} key(s): {shown}")
    if problems:
        raise CheckpointError(f"{source} does not match the model:\n  " + "\n  ".join(problems),
                              "check --variant matches the checkpoint, and that the file is complete")
    module.load_state_dict(state, strict=True)


def infer_clay_variant(encoder_state: Mapping[str, torch.Tensor], sizes: Mapping[str, Any]) -> str | None:
    """The Clay size (a key of ``sizes``) whose width and depth match the checkpoint, if any."""
    cls = encoder_state.get("cls_token")
    if cls is None:
        return None
    depth = 1 + max((int(k.split(".")[2]) for k in encoder_state if k.startswith("transformer.layers.")), default=-1)
    for name, size in sizes.items():
        if size.dim == cls.shape[-1] and size.depth == depth:
            return name
    return None


def save_model(model: nn.Module, metadata: ModelMetadata, path: str | Path) -> Path:
    """Write a full-model trtbench checkpoint (metadata + every tensor), atomically."""
    from ..fileio import atomic_output

    path = Path(path)
    with atomic_output(path) as tmp:
        if path.suffix == ".safetensors":
            from safetensors.torch import save_file

            state = {k: v.contiguous() for k, v in model.state_dict().items()}
            save_file(state, str(tmp), metadata={METADATA_KEY: metadata.to_json()})
        else:
            torch.save({METADATA_KEY: metadata.to_json(), "state_dict": model.state_dict()}, tmp)
    return path

