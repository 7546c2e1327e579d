"""Deployment matrix: many models on many backends and precisions, measured the same way, in one report."""
