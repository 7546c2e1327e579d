"""``trtbench export … --format triton -o REPO/``: export straight into a Triton model repository.

The artifact is exported exactly as ``--format onnx`` (fp32, fp16 or int8 ONNX, served by Triton's
``onnxruntime`` backend) or ``--format engine`` (a TensorRT plan, ``--backend tensorrt``) would write it, into a
temporary folder, then packaged by :func:`trtbench.serve.triton.write_repository`, the code behind
``trtbench triton``: ``REPO/NAME/config.pbtxt`` and ``REPO/NAME/1/model.onnx`` (or ``model.plan`` with its
sidecar). The model folder is checked before any model is built: an existing one is refused (export has no
overwrite option, and Triton may be serving it), as is a repository that cannot be written.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import InputError
from ..export.pipeline import ExportRequest, export_artifact
from ..fileio import check_writable
from .triton import ServeOptions, model_name, write_repository

BACKENDS = {"onnxruntime": "onnx", "tensorrt": "engine"}   # Triton backend -> the export format it serves


@dataclass(frozen=True)
class TritonTarget:
    """Where ``export --format triton`` puts the model: repository, model name and Triton backend."""

    repo: Path
    name: str
    backend: str = "onnxruntime"

    @classmethod
    def check(cls, repo: str | Path, default_name: str, backend: str = "onnxruntime",
              name: str | None = None) -> TritonTarget:
        """Refuse, before any work, an unknown backend, an unusable name, an unwritable repository or an
        existing model folder. ``default_name``: what the model is called unless ``name`` is given."""
        if backend not in BACKENDS:
            raise InputError(f"--backend {backend} is not a Triton backend trtbench packages",
                             f"use one of: {', '.join(BACKENDS)}")
        repo = check_writable(repo, "folder", option="-o")
        chosen = model_name(Path(f"{default_name}.onnx"), ServeOptions(name=name))
        target = repo / chosen
        if target.exists():
            raise InputError(f"{target} already exists in the model repository",
                             "remove it, or pass --name for another model folder (Triton serves one model per folder)")
        return cls(repo, chosen, backend)

    @property
    def folder(self) -> Path:
        return self.repo / self.name

    def export(self, source, request: ExportRequest) -> list[Path]:
        """Export ``source`` (a model, or an ONNX file) as the backend's artifact and package it; returns the
        files of the model folder, ``config.pbtxt`` last."""
        fmt = BACKENDS[self.backend]
        with tempfile.TemporaryDirectory(prefix=".trtbench-triton-") as work:
            suffix = ".onnx" if fmt == "onnx" else ".engine"
            artifact = Path(work) / f"{self.name}{suffix}"
            if fmt == "onnx" and request.precision == "fp32" and not request.dynamic_bands and \
                    isinstance(source, str | Path):
                artifact = Path(source)   # already the fp32 ONNX Triton serves: packaged as it is
            else:
                export_artifact(source, artifact, replace(request, format=fmt))
            folder = write_repository(artifact, self.repo, ServeOptions(name=self.name))
        return sorted((p for p in folder.rglob("*") if p.is_file() and p.name != "config.pbtxt"), key=str) + [
            folder / "config.pbtxt"]


def default_model_name(model: str, variant: str | None, precision: str, backend: str) -> str:
    """The model folder's name unless ``--name`` says: the model (a file's stem, else its registry name), then
    the precision when not fp32 and ``trt`` for an engine, so one repository can hold several builds of a model."""
    if Path(model).suffix in (".onnx", ".ckpt", ".pt", ".safetensors"):
        base = Path(model).stem
    else:
        from ..models import resolve_model_name

        base = resolve_model_name(model, variant)
    return "_".join([base, *([precision] if precision != "fp32" else []), *(["trt"] if backend == "tensorrt" else [])])
