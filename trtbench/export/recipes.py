"""Export recipes: per-family export settings kept as data in the top-level ``export/`` folder."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources

from ..errors import TrtbenchError


@dataclass(frozen=True)
class Recipe:
    family: str
    opset: int          # ONNX opset; >= 17 keeps LayerNorm one op
    band_mode: str      # "fixed" (folded Conv) or "dynamic" (wavelengths as an input)
    precision: str      # default precision of artifacts built from this recipe
    inputs: tuple[str, ...]
    max_batch: int      # upper bound of the dynamic batch axis
    max_side: int       # upper bound of the dynamic height/width axes, in pixels


def load_recipe(family: str) -> Recipe:
    try:
        text = resources.files("trtbench.recipes").joinpath(f"{family}.toml").read_text()
    except FileNotFoundError:
        raise TrtbenchError(f"no export recipe for model family '{family}'",
                            "add export/<family>.toml (see export/clay.toml)") from None
    data = tomllib.loads(text)
    return Recipe(family=data["family"], opset=int(data["opset"]), band_mode=data["band_mode"],
                  precision=data["precision"], inputs=tuple(data["inputs"]), max_batch=int(data["max_batch"]),
                  max_side=int(data["max_side"]))
