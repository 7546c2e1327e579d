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

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from ..errors import CheckpointError
from ..metadata import ModelMetadata

CLAY_ENCODER_PREFIX = "model.encoder."
METADATA_KEY = "trtbench_metadata"


def read_checkpoint(path: str | Path) -> dict:
    """The checkpoint's top-level dict, loaded without executing code."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}", "check the path (no weights are downloaded)")
    if path.suffix == ".safetensors":
        return _read_safetensors(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, pickle with objects, not a torch file ...
        raise CheckpointError(
            f"cannot read checkpoint {path}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}",
            "the file is truncated or not a PyTorch checkpoint, or holds Python objects that safe loading "
            "refuses (re-save its state_dict, or convert it to safetensors on a trusted machine)") from None
    if not isinstance(ckpt, Mapping):
        raise CheckpointError(f"{path} does not hold a dict of tensors", "pass a Lightning or trtbench checkpoint")
    return dict(ckpt)


def _read_safetensors(path: Path) -> dict:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            state = {k: fh.get_tensor(k) for k in fh.keys()}
            meta = fh.metadata() or {}
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"cannot read safetensors file {path}: {exc}", "the file is truncated or corrupt") from None
    ckpt: dict = {"state_dict": state}
    if METADATA_KEY in meta:
        ckpt[METADATA_KEY] = meta[METADATA_KEY]
    return ckpt


def checkpoint_metadata(ckpt: Mapping) -> ModelMetadata | None:
    """trtbench metadata stored in the checkpoint, if it is a trtbench checkpoint."""
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


def infer_clay_variant(encoder_state: Mapping[str, torch.Tensor]) -> str | None:
    """The Clay size whose width and depth match the checkpoint, if any."""
    from .clay import CLAY_SIZES

    cls = encoder_state.get("cls_token")
    if cls is None:
        return None
    depth = 1 + max((int(k.split(".")[2]) for k in encoder_state if k.startswith("transformer.layers.")), default=-1)
    for name, size in CLAY_SIZES.items():
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

