"""Declarative export recipes, one TOML file per model family (shipped as ``trtbench.recipes``)."""
