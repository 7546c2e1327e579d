"""A self-describing model: encoder + optional head + the metadata that travels with it."""

from __future__ import annotations

import torch
from torch import nn

from ..errors import TrtbenchError
from ..metadata import ModelMetadata
from .heads import HEADS


class GeoModel(nn.Module):
    """A wavelength-conditioned encoder (Clay, DOFA) with an optional task head, bound to one band set.

    Fixed-channel encoders (the ViT and ResNet baselines, SSL4EO-S12, Scale-MAE) provide the same surface
    without ``patch_kernel`` (nothing to fold); a CNN encoder sets ``pyramid`` (its stages' channels) and
    ``stages(pixels)``, whose four outputs the heads read instead of transformer taps.

    The encoder provides ``patch_embedding(pixels, waves)``, ``patch_kernel(waves)`` (the generated conv
    weight and bias; ``raw_patch_kernel`` before the scales, for the band-agnostic export),
    ``patch_size``/``patch_padding``, ``embed(patches, gsd, time, latlon)`` (position encodings and CLS),
    ``transformer(tokens, collect)`` and ``size`` (for the heads).

    ``forward(pixels)`` takes normalised pixels ``[B, C, H, W]`` in the metadata's band order and
    returns the outputs named in ``metadata.outputs``: ``features [B, D, H/p, W/p]`` and
    ``cls [B, D]`` for embeddings, ``logits [B, K, H, W]`` for segmentation and regression.
    The band embedding is regenerated from wavelengths on every call (the PyTorch reference);
    :meth:`folded` gives the same model with the generated kernel frozen into a plain Conv2d.
    """

    def __init__(self, encoder: nn.Module, metadata: ModelMetadata, head: nn.Module | None = None):
        super().__init__()
        self.encoder = encoder
        self.head = head
        self.metadata = metadata
        # What the band embedding reads: wavelengths [C] (µm), or the encoder's own descriptors (Copernicus-FM:
        # wavelengths and bandwidths [2, C]) where it defines ``spectra(metadata)``.
        spectra = getattr(encoder, "spectra", None)
        waves = spectra(metadata) if spectra else torch.tensor(metadata.wavelengths, dtype=torch.float32)
        self.register_buffer("waves", waves, persistent=False)
        self.fixed_embedding: nn.Module | None = None

    @property
    def metadata(self) -> ModelMetadata:
        return self._metadata

    @metadata.setter
    def metadata(self, metadata: ModelMetadata) -> None:
        """Keep ``metadata.inputs`` naming what the encoder takes: an encoder with ``extra_inputs`` (Prithvi TL:
        ``temporal_coords``, ``location_coords``) adds them after the pixels, whatever record is assigned."""
        extra = list(getattr(self.encoder, "extra_inputs", ()))
        if extra and metadata.inputs[1:] != extra:
            metadata = metadata.with_(inputs=[metadata.inputs[0], *extra])
        self._metadata = metadata

    @property
    def tap_layers(self) -> tuple[int, ...]:
        return tuple(getattr(self.head, "layers", ()))

    def patch_embed(self, pixels: torch.Tensor) -> torch.Tensor:
        if self.fixed_embedding is not None:
            return self.fixed_embedding(pixels)
        return self.encoder.patch_embedding(pixels, self.waves)

    def forward(self, pixels: torch.Tensor, time: torch.Tensor | None = None,
                latlon: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        return self.from_patches(self.patch_embed(pixels), self.metadata.gsd, time, latlon)

    def from_patches(self, patches: torch.Tensor, gsd: float | torch.Tensor, time: torch.Tensor | None = None,
                     latlon: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        """Everything after the patch embedding; the band-agnostic export supplies its own patches and GSD."""
        if getattr(self.encoder, "pyramid", None):
            return self.from_pyramid(self.encoder.stages(patches))
        grid = (patches.shape[-2], patches.shape[-1])
        tokens, taps = self.encoder.transformer(self.encoder.embed(patches, gsd, time, latlon), self.tap_layers)
        if self.head is None:
            features = tokens[:, 1:].transpose(1, 2).reshape(tokens.shape[0], -1, *grid)
            return features, tokens[:, 0]
        return (self.head(tokens, taps, grid),)

    def from_pyramid(self, levels: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """A CNN encoder's (ResNet's) stage outputs, finest first: the heads' levels, or the embedding outputs
        (the last stage as ``features`` on its grid, its global average as ``cls``)."""
        top = levels[-1]
        if self.head is None:
            return top, top.mean(dim=(2, 3))
        return (self.head(top, levels, (top.shape[-2], top.shape[-1])),)

    def for_bands(self, metadata: ModelMetadata) -> GeoModel:
        """The same model (shared weights) on another band set: the reference of a band-agnostic artifact."""
        return GeoModel(self.encoder, metadata, self.head).to(self.waves.device).train(self.training)

    @torch.no_grad()
    def folded(self) -> GeoModel:
        """The same model (shared weights) with the band embedding evaluated once into a Conv2d.

        Fixed-channel encoders (ViT, ResNet: no ``patch_kernel``) generate nothing: the model is its own fold.
        An encoder whose band embedding is no generated convolution (Panopticon's channel attention) folds it
        itself: ``fixed_patch_embedding(waves)`` returns the module with the band set's constants.
        """
        own = getattr(self.encoder, "fixed_patch_embedding", None)
        if own is not None:
            twin = GeoModel(self.encoder, self.metadata, self.head)
            twin.fixed_embedding = own(self.waves).to(self.waves.device)
            return twin.train(self.training)
        if not hasattr(self.encoder, "patch_kernel"):
            return self
        weight, bias = self.encoder.patch_kernel(self.waves)
        p = self.encoder.patch_size
        conv = nn.Conv2d(weight.shape[1], weight.shape[0], p, stride=p, padding=self.encoder.patch_padding)
        conv.weight.copy_(weight)
        conv.bias.copy_(bias)
        twin = GeoModel(self.encoder, self.metadata, self.head)
        twin.fixed_embedding = conv.to(self.waves.device)
        return twin.train(self.training)


def build_head(name: str | None, encoder: nn.Module, task: str, num_classes: int | None) -> nn.Module | None:
    if task == "embedding":
        return None
    if name not in HEADS:
        raise TrtbenchError(f"unknown head '{name}'", f"use one of: {', '.join(HEADS)}")
    if task not in HEADS[name].tasks:
        fits = [h for h, cls in HEADS.items() if task in cls.tasks]
        raise TrtbenchError(f"head '{name}' does not do {task}", f"use one of: {', '.join(fits)}")
    out = 1 if task == "regression" else num_classes
    if not out or out < 1:
        raise TrtbenchError(f"a {task} head needs --num-classes >= 1", "pass --num-classes")
    return HEADS[name](encoder.size, out)
