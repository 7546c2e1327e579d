"""The reconstruction decoders *h* of TTT-MMR, their losses, and the joint checkpoint that holds them.

Facts from MMEarth-Bench (arXiv:2602.06285; ``model.py`` of github.com/lgordon99/mmearth-bench): the encoder is
trained jointly ("JT") with the task decoder *g* and reconstruction decoders for every modality available at test
time; the joint loss is the task loss plus the reconstruction losses averaged over modalities (their
``nanmean``); a continuous modality's loss is the mean squared error over its valid pixels, per image. Our
choices, stated: one decoder per modality (theirs is one decoder whose channels are split by modality; one each
lets ``--aux-modalities`` be any subset), each Clay's segmentor head (``fcn``: two conv blocks and a
PixelShuffle back to full resolution) reading the encoder's last tokens, and a weight per modality
(``--aux-weights``, 1 by default, which is their plain mean). Targets are the modality's channels normalised
with its own band table's mean and std (per modality), as the input is.

The checkpoint is an ordinary trtbench checkpoint (``state_dict`` = the static model, strict-loadable, so
``export`` and eval's reference read it unchanged) plus ``reconstruction_state_dict`` (the decoders, loaded
strictly by :func:`load_joint`) and the ``training["ttt"]`` record (modalities, channels, bands, weights,
normalisation, split).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CheckpointError
from ..fileio import atomic_output
from ..metadata import ModelMetadata
from ..models.checkpoint import METADATA_KEY, read_checkpoint
from ..models.heads import PixelShuffleHead

TTT_KEY = "ttt"
DECODERS_KEY = "reconstruction_state_dict"
DECODER = "fcn"


def build_decoders(model: nn.Module, targets: Mapping[str, int]) -> nn.ModuleDict:
    """One decoder per auxiliary modality, sized by the encoder and the modality's channel count."""
    encoder = getattr(model, "encoder", None)
    if encoder is None or getattr(model, "head", None) is None:
        raise CheckpointError(f"{model.metadata.model} is a whole network without a separate encoder: TTT-MMR "
                              "adapts an encoder under a task head",
                              "train an encoder model (e.g. clay, dofa, vit_base) with --aux-modalities")
    return nn.ModuleDict({name: PixelShuffleHead(encoder.size, count) for name, count in targets.items()})


def encode(model: nn.Module, pixels: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], tuple[int, int]]:
    """The encoder's last tokens (or a CNN's last stage), the task head's taps and the patch grid: the part of
    ``GeoModel.forward`` before the head, computed once for the task head and every decoder."""
    patches = model.patch_embed(pixels)
    encoder = model.encoder
    if getattr(encoder, "pyramid", None):
        levels = encoder.stages(patches)
        return levels[-1], levels, (levels[-1].shape[-2], levels[-1].shape[-1])
    grid = (patches.shape[-2], patches.shape[-1])
    tokens, taps = encoder.transformer(encoder.embed(patches, model.metadata.gsd, None, None), model.tap_layers)
    return tokens, taps, grid


def reconstruct(model: nn.Module, decoders: nn.ModuleDict, pixels: torch.Tensor
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Task output and every modality's reconstruction from one encoder pass."""
    tokens, taps, grid = encode(model, pixels)
    return model.head(tokens, taps, grid), {name: h(tokens, [], grid) for name, h in decoders.items()}


def valid_pixels(stack: torch.Tensor) -> torch.Tensor:
    """``[B, H, W]``: pixels that hold data. The chip reader sets every channel of a missing pixel to exactly 0
    after normalisation; a real pixel is 0 in every channel of the stack with negligible probability."""
    return (stack != 0).any(dim=1)


def reconstruction_losses(outputs: Mapping[str, torch.Tensor], stack: torch.Tensor,
                          channels: Mapping[str, list[int]]) -> dict[str, torch.Tensor]:
    """Per modality, the MSE between its reconstruction and its normalised channels over valid pixels (a
    graph-connected zero when the batch has none, so a step never divides by zero)."""
    valid = valid_pixels(stack).unsqueeze(1)
    losses = {}
    for name, output in outputs.items():
        target = stack[:, channels[name]]
        mask = valid.expand_as(target)
        losses[name] = F.mse_loss(output[mask], target[mask]) if mask.any() else output.sum() * 0
    return losses


def save_joint(model: nn.Module, decoders: nn.ModuleDict, metadata: ModelMetadata, path: str | Path) -> Path:
    """A trtbench checkpoint of the static model plus the decoders, written atomically."""
    path = Path(path)
    with atomic_output(path) as tmp:
        torch.save({METADATA_KEY: metadata.to_json(), "state_dict": model.state_dict(),
                    DECODERS_KEY: decoders.state_dict()}, tmp)
    return path


def ttt_record(metadata: ModelMetadata, path: str | Path) -> dict:
    """The checkpoint's TTT-MMR record, or the error that says it was not trained for TTT."""
    record = (metadata.training or {}).get(TTT_KEY)
    if not record:
        raise CheckpointError(f"{path} was not trained with reconstruction decoders, so it cannot adapt at test "
                              "time", "train it with `trtbench train ... --aux-modalities s1` (the modalities "
                              "available at test time), then pass that run's best.ckpt")
    return record


def load_joint(path: str | Path) -> tuple[nn.Module, nn.ModuleDict, dict]:
    """The static model, its decoders (both loaded strictly) and the TTT record of a joint checkpoint."""
    from ..models import model_from_checkpoint
    from ..models.checkpoint import load_strict

    model = model_from_checkpoint(path)
    record = ttt_record(model.metadata, path)
    decoders = build_decoders(model, {m: len(c) for m, c in record["aux_channels"].items()})
    state = read_checkpoint(path).get(DECODERS_KEY)
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{path} records TTT-MMR but holds no reconstruction decoders ({DECODERS_KEY})",
                              "use the best.ckpt that `trtbench train --aux-modalities` wrote, unmodified")
    load_strict(decoders, state, str(path))
    return model, decoders.eval(), record
