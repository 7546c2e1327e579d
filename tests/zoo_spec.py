"""The fixed-band zoo as published, written as data and plain formulas, independent of trtbench's modules.

Key layouts are transcribed from timm (``timm/models/vision_transformer.py`` ``VisionTransformer`` with
``class_token=True``, ``PatchEmbed.proj``, ``Block`` = ``norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2``;
``timm/models/resnet.py`` ``ResNet`` with ``Bottleneck`` = ``conv1..3, bn1..3, downsample.0/1``, stem
``conv1, bn1``, classifier ``fc``), the released files' extra keys from torchgeo (``torchgeo/models/vit.py``:
only ``head.*``/``norm.*`` may differ; ``resnet.py``: ``fc.*``) and Scale-MAE's ``models_mae.py``
(``mask_token``, ``decoder_*``, ``fpn``, ``fcn``). No weights can be downloaded, so loaders are proven on
files with the official names and shapes. MAC counts and Scale-MAE's GSD positions are the published
formulas, written out here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

# name -> (dim, depth, heads)
VIT = {"tiny": (64, 4, 2), "small": (384, 12, 6), "base": (768, 12, 12), "large": (1024, 24, 16)}
# name -> (blocks per stage, stage widths, stem width); ResNet-50 is timm's resnet50
RESNET = {"tiny": ((1, 1, 1, 1), (8, 16, 32, 64), 64), "50": ((3, 4, 6, 3), (64, 128, 256, 512), 64)}
PATCH, IMG = 16, 224


def vit_layout(size: str, bands: int, *, classifier: int | None = None) -> dict[str, tuple[int, ...]]:
    """Key -> shape of a timm ViT encoder (``classifier`` classes adds timm's ``head``)."""
    dim, depth, _ = VIT[size]
    keys: dict[str, tuple[int, ...]] = {
        "cls_token": (1, 1, dim), "pos_embed": (1, 1 + (IMG // PATCH) ** 2, dim),
        "patch_embed.proj.weight": (dim, bands, PATCH, PATCH), "patch_embed.proj.bias": (dim,),
        "norm.weight": (dim,), "norm.bias": (dim,),
    }
    for n in range(depth):
        b = f"blocks.{n}."
        keys |= {b + "norm1.weight": (dim,), b + "norm1.bias": (dim,),
                 b + "attn.qkv.weight": (3 * dim, dim), b + "attn.qkv.bias": (3 * dim,),
                 b + "attn.proj.weight": (dim, dim), b + "attn.proj.bias": (dim,),
                 b + "norm2.weight": (dim,), b + "norm2.bias": (dim,),
                 b + "mlp.fc1.weight": (4 * dim, dim), b + "mlp.fc1.bias": (4 * dim,),
                 b + "mlp.fc2.weight": (dim, 4 * dim), b + "mlp.fc2.bias": (dim,)}
    if classifier:
        keys |= {"head.weight": (classifier, dim), "head.bias": (classifier,)}
    return keys


def _bn(prefix: str, channels: int) -> dict[str, tuple[int, ...]]:
    return {prefix + "weight": (channels,), prefix + "bias": (channels,), prefix + "running_mean": (channels,),
            prefix + "running_var": (channels,), prefix + "num_batches_tracked": ()}


def resnet_layout(size: str, bands: int, *, classifier: int | None = None) -> dict[str, tuple[int, ...]]:
    """Key -> shape of a timm ResNet with Bottleneck blocks (``classifier`` classes adds timm's ``fc``)."""
    layers, widths, stem = RESNET[size]
    keys = {"conv1.weight": (stem, bands, 7, 7), **_bn("bn1.", stem)}
    cin = stem
    for i, (blocks, width) in enumerate(zip(layers, widths)):
        for j in range(blocks):
            b = f"layer{i + 1}.{j}."
            keys |= {b + "conv1.weight": (width, cin, 1, 1), **_bn(b + "bn1.", width),
                     b + "conv2.weight": (width, width, 3, 3), **_bn(b + "bn2.", width),
                     b + "conv3.weight": (4 * width, width, 1, 1), **_bn(b + "bn3.", 4 * width)}
            if j == 0:
                keys |= {b + "downsample.0.weight": (4 * width, cin, 1, 1), **_bn(b + "downsample.1.", 4 * width)}
            cin = 4 * width
    if classifier:
        keys |= {"fc.weight": (classifier, cin), "fc.bias": (classifier,)}
    return keys


def random_state(layout: dict[str, tuple[int, ...]], *, seed: int = 0, drop: str | None = None,
                 reshape: str | None = None, extra: dict[str, tuple[int, ...]] | None = None) -> dict[str, torch.Tensor]:
    """Random tensors in ``layout`` (norm scales near 1, BN variances positive), with optional damage."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in (layout | (extra or {})).items():
        if key == drop:
            continue
        if key == reshape:
            shape = (shape[0] + 1, *shape[1:])
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(100)
        elif key.endswith("running_var"):
            state[key] = 0.5 + torch.rand(shape, generator=gen)
        elif key.endswith(("norm.weight", "norm1.weight", "norm2.weight")) or ".bn" in key or key.startswith("bn1"):
            state[key] = 1.0 + torch.randn(shape, generator=gen) * 0.1 if key.endswith("weight") else \
                torch.randn(shape, generator=gen) * 0.1
        else:
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
            state[key] = torch.randn(shape, generator=gen) * (0.05 if len(shape) < 2 else fan_in**-0.5)
    return state


def write(path: Path, state: dict[str, torch.Tensor]) -> Path:
    torch.save(state, path)
    return path


def vit_macs(size: str, bands: int, height: int, width: int) -> int:
    """Patch convolution + depth x (qkv, attention's two products, proj, MLP) over 1 + h*w tokens."""
    dim, depth, _ = VIT[size]
    patches = (height // PATCH) * (width // PATCH)
    n = patches + 1
    per_block = n * dim * 3 * dim + 2 * n * n * dim + n * dim * dim + 2 * n * dim * 4 * dim
    return patches * dim * bands * PATCH * PATCH + depth * per_block


def resnet_macs(size: str, bands: int, height: int, width: int) -> int:
    """Every convolution: out_h * out_w * cout * cin * k * k (stem /2, max-pool /2, stages /1 /2 /2 /2 on the 3x3)."""
    layers, widths, stem = RESNET[size]
    h, w = height // 2, width // 2
    macs = h * w * stem * bands * 49
    h, w = h // 2, w // 2
    cin = stem
    for i, (blocks, width_) in enumerate(zip(layers, widths)):
        for j in range(blocks):
            stride = 2 if i > 0 and j == 0 else 1
            macs += h * w * width_ * cin                        # conv1 1x1 at the input resolution
            h, w = h // stride, w // stride
            macs += h * w * width_ * width_ * 9                 # conv2 3x3, strided
            macs += h * w * 4 * width_ * width_                 # conv3 1x1
            if j == 0:
                macs += h * w * 4 * width_ * cin                # projection shortcut, strided
            cin = 4 * width_
    return macs


def scalemae_positions(dim: int, h: int, w: int, res: float) -> np.ndarray:
    """Scale-MAE's GSD positions (arXiv:2212.14532 eq. 1; scale-mae ``util/pos_embed.py``) in float64:
    ``[1 + h*w, dim]``, CLS row zero, then for each patch (row-major) sin/cos of column*res, then of row*res."""
    quarter = dim // 4
    omega = 1.0 / 10000 ** (np.arange(quarter, dtype=np.float64) / quarter)
    rows = [np.zeros(dim)]
    for y in range(h):
        for x in range(w):
            ax, ay = x * res * omega, y * res * omega
            rows.append(np.concatenate([np.sin(ax), np.cos(ax), np.sin(ay), np.cos(ay)]))
    return np.stack(rows)
