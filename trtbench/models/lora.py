"""LoRA adapters on an encoder's transformer blocks, and merging them back into plain weights.

LoRA (Hu et al., "LoRA: Low-Rank Adaptation of Large Language Models", arXiv:2106.09685, section 4.1): a
frozen pretrained linear ``W0`` gets a trainable low-rank update, ``h = W0 x + (alpha / r) B A x`` with
``A [r, in]`` random and ``B [out, r]`` zero, so training starts exactly from the pretrained function. The
update is linear in ``x``, so after training ``W = W0 + (alpha / r) B A`` is an ordinary weight: merged, the
model is the pretrained architecture again, and its export is the plain graph (same operators, same speed).
Conventions follow the peft library's ``LoraConfig``/``lora.Linear`` (facts, no code taken): the scale
``alpha / r``, dropout on the adapter's input only, ``A`` initialised like ``nn.Linear``'s default
(Kaiming-uniform, a = sqrt(5)), ``B`` zeros, defaults r = 8, alpha = 8, dropout 0.

Why our own ~150 lines rather than peft: peft requires transformers, accelerate and huggingface_hub (its
``setup.py``), renames every wrapped weight (``...qkv.base_layer.weight``, ``...lora_A.default.weight``),
which our strict checkpoint loader and the export would then have to translate, and we use one method
(LoRA on ``nn.Linear``) of its dozens. Here the adapted layer keeps its ``weight``/``bias`` keys and adds
``lora_A``/``lora_B`` beside them, so a LoRA checkpoint is a plain checkpoint plus named adapter keys.

Generic over families, nothing per model: the adapters go on the ``nn.Linear`` modules of the encoder's
repeated transformer blocks (the ``nn.ModuleList`` of ``depth`` blocks, depth from the registry's facts),
named by their path inside a block (Clay: ``0.to_qkv``, ``0.to_out``, ``1.net.1``, ``1.net.3``; DOFA and timm
ViTs: ``attn.qkv``, ``attn.proj``, ``mlp.fc1``, ``mlp.fc2``). By default every such linear is adapted, which in
a ViT block is exactly the attention qkv and output projections and the two MLP linears. The output
projection of an ``nn.MultiheadAttention`` is never a target: that module reads its weight without calling
the linear, so an adapter there would silently do nothing.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CheckpointError, TrtbenchError
from ..metadata import ModelMetadata
from .registry import get_spec

LORA_KEY = "lora"   # the key of the LoRA record in ModelMetadata.training


@dataclass(frozen=True)
class LoraConfig:
    """What the adapters are; ``targets`` empty means every linear of a block (resolved when applied)."""

    rank: int = 8
    alpha: float = 8.0
    dropout: float = 0.0
    targets: tuple[str, ...] = ()

    @property
    def scaling(self) -> float:
        return self.alpha / self.rank

    def validate(self) -> None:
        if not isinstance(self.rank, int) or self.rank < 1:
            raise TrtbenchError(f"--lora-rank must be a whole number >= 1, got {self.rank!r}", "pass e.g. --lora-rank 8")
        if not isinstance(self.alpha, int | float) or not self.alpha > 0:
            raise TrtbenchError(f"--lora-alpha must be > 0, got {self.alpha!r}", "pass e.g. --lora-alpha 8")
        if not isinstance(self.dropout, int | float) or not 0 <= self.dropout < 1:
            raise TrtbenchError(f"--lora-dropout must be in [0, 1), got {self.dropout!r}", "pass e.g. --lora-dropout 0.1")

    def record(self, adapted: int, merged: bool = False) -> dict[str, Any]:
        """The record stored in the checkpoint's metadata (``training["lora"]``)."""
        return {**asdict(self), "targets": list(self.targets), "adapted_linears": adapted, "merged": merged}


class LoraLinear(nn.Module):
    """A linear layer with a trainable low-rank update; its ``weight`` and ``bias`` keep their names (frozen)."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float, dropout: float) -> None:
        super().__init__()
        self.in_features, self.out_features = base.in_features, base.out_features
        self.weight = base.weight
        self.bias = base.bias
        self.scaling = alpha / rank
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features, dtype=base.weight.dtype,
                                               device=base.weight.device))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank, dtype=base.weight.dtype,
                                               device=base.weight.device))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        update = F.linear(F.linear(self.dropout(x), self.lora_A), self.lora_B)
        return F.linear(x, self.weight, self.bias) + update * self.scaling

    @torch.no_grad()
    def merged(self) -> nn.Linear:
        """The plain ``nn.Linear`` computing the same function (without dropout): ``W0 + (alpha / r) B A``."""
        linear = nn.Linear(self.in_features, self.out_features, bias=self.bias is not None,
                           dtype=self.weight.dtype, device=self.weight.device)
        linear.weight.copy_(self.weight + (self.lora_B @ self.lora_A) * self.scaling)
        if self.bias is not None:
            linear.bias.copy_(self.bias)
        return linear.requires_grad_(self.weight.requires_grad)


def transformer_blocks(encoder: nn.Module, depth: int | None, model: str) -> nn.ModuleList:
    """The encoder's ``depth`` repeated blocks: the first ``nn.ModuleList`` of that length whose members hold the
    same linears (a list of unlike layers, such as CROMA's ``[attention, feed-forward]`` pair, is no block list)."""
    for module in encoder.modules():
        if isinstance(module, nn.ModuleList) and depth and len(module) == depth:
            layouts = {tuple(block_linears(block)) for block in module}
            if len(layouts) == 1 and () not in layouts:
                return module
    raise TrtbenchError(f"{model} has no {depth or 'known number of'} transformer blocks to put LoRA adapters on",
                        "use --regime full or frozen for this model")


def block_linears(block: nn.Module) -> dict[str, nn.Linear | LoraLinear]:
    """The linears of one block by their path in it (adapted ones included), in module order."""
    bypassed = {f"{name}.out_proj" if name else "out_proj" for name, m in block.named_modules()
                if isinstance(m, nn.MultiheadAttention)}
    return {name: m for name, m in block.named_modules()
            if isinstance(m, nn.Linear | LoraLinear) and name not in bypassed and ".lora_" not in name}


def resolve_targets(blocks: nn.ModuleList, targets: Sequence[str], model: str) -> tuple[str, ...]:
    """Block paths the ``targets`` name (a path, or its last parts: ``to_qkv``, ``net.1``); all when empty.

    An unknown target is refused with the valid names."""
    names = list(block_linears(blocks[0]))
    if not targets:
        return tuple(names)
    matched: dict[str, None] = {}
    for target in targets:
        hits = [n for n in names if n == target or n.endswith(f".{target}")]
        if not hits:
            raise TrtbenchError(f"--lora-targets: {model} has no linear '{target}' in its transformer blocks",
                                f"use one or more of: {', '.join(names)} (a path's trailing part is enough, "
                                f"e.g. {names[0].rpartition('.')[2]})")
        matched.update(dict.fromkeys(hits))
    return tuple(n for n in names if n in matched)


def add_adapters(model: nn.Module, config: LoraConfig) -> LoraConfig:
    """Freeze ``model.encoder`` and put adapters on the targeted linears of every block (in place).

    Returns the config with its targets resolved to block paths. The adapters' init draws from the global
    RNG (seed it for a reproducible run)."""
    config.validate()
    name = getattr(getattr(model, "metadata", None), "model", type(model).__name__)
    encoder = getattr(model, "encoder", None)
    if encoder is None:
        raise TrtbenchError(f"{name} has no pretrained encoder to adapt with LoRA",
                            "use --regime full for a model trained from scratch")
    blocks = transformer_blocks(encoder, get_spec(name).facts.depth, name)
    targets = resolve_targets(blocks, config.targets, name)
    for path in targets:
        linear = blocks[0].get_submodule(path)
        if config.rank > min(linear.in_features, linear.out_features):
            raise TrtbenchError(f"--lora-rank {config.rank} exceeds the smaller side of {name}'s '{path}' "
                                f"({linear.in_features} x {linear.out_features}): the update would not be low-rank",
                                "pass a smaller --lora-rank, or use --regime full")
    encoder.requires_grad_(False)
    for block in blocks:
        for path in targets:
            parent, _, leaf = path.rpartition(".")
            owner = block.get_submodule(parent) if parent else block
            base = owner.get_submodule(leaf)
            if isinstance(base, LoraLinear):
                raise TrtbenchError(f"{name} already has LoRA adapters", "add adapters once")
            owner.register_module(leaf, LoraLinear(base, config.rank, config.alpha, config.dropout))
    return LoraConfig(config.rank, config.alpha, config.dropout, targets)


def adapters(model: nn.Module) -> list[LoraLinear]:
    return [m for m in model.modules() if isinstance(m, LoraLinear)]


def merge_adapters(model: nn.Module) -> int:
    """Replace every adapted linear by its merged ``nn.Linear`` in place; returns how many were merged.

    A model with metadata gets its LoRA record marked merged, so a re-saved merged model loads as plain."""
    count = 0
    for owner in list(model.modules()):
        for leaf, child in list(owner.named_children()):
            if isinstance(child, LoraLinear):
                owner.register_module(leaf, child.merged())
                count += 1
    meta = getattr(model, "metadata", None)
    if count and isinstance(meta, ModelMetadata) and meta.training and LORA_KEY in meta.training:
        model.metadata = meta.with_(training={**meta.training, LORA_KEY: {**meta.training[LORA_KEY], "merged": True}})
    return count


def merged_copy(model: nn.Module) -> nn.Module:
    """``model`` itself when it has no adapters, else a copy with them merged (the original keeps training)."""
    if not adapters(model):
        return model
    twin = copy.deepcopy(model)
    merge_adapters(twin)
    return twin


def lora_in_checkpoint(meta: ModelMetadata, source: str) -> LoraConfig | None:
    """The unmerged adapters a trtbench checkpoint's metadata declares (None: plain weights)."""
    record = (meta.training or {}).get(LORA_KEY)
    if record is None:
        return None
    if not isinstance(record, Mapping) or not isinstance(record.get("targets"), list) \
            or not all(isinstance(t, str) for t in record["targets"]) or not record["targets"]:
        raise CheckpointError(f"the LoRA record in {source} is unreadable ({record!r})",
                              "re-save the checkpoint with `trtbench train`; do not edit its metadata by hand")
    if record.get("merged"):
        return None
    config = LoraConfig(record.get("rank"), record.get("alpha"), record.get("dropout", 0.0), tuple(record["targets"]))
    try:
        config.validate()
    except TrtbenchError as exc:
        raise CheckpointError(f"the LoRA record in {source} is unreadable: {exc.problem}",
                              "re-save the checkpoint with `trtbench train`") from None
    return config
