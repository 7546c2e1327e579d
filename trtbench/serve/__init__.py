"""Serving exported artifacts: Triton Inference Server model repositories."""
