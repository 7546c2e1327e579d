"""The tensors an artifact takes and gives, read from its ONNX graph (for an engine: the ONNX it was built from).

Shared by the descriptions of an artifact for other tools (STAC MLM items, Triton model configurations), which
need names, dtypes and which dimensions are dynamic, not just the trtbench metadata.
"""

from __future__ import annotations

from pathlib import Path

from .engine_meta import EngineSidecar
from .errors import InputError
from .external_data import onnx_sha256


def onnx_signature(path: str | Path) -> dict[str, tuple[str, list[int]]]:
    """Each graph input and output by name: (numpy dtype name, dims with -1 for every dynamic dimension)."""
    import onnx
    from onnx.helper import tensor_dtype_to_np_dtype

    graph = onnx.load(path, load_external_data=False).graph
    initializers = {t.name for t in graph.initializer}
    signature = {}
    for value in [*graph.input, *graph.output]:
        if value.name in initializers:
            continue
        tensor = value.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim]
        signature[value.name] = (tensor_dtype_to_np_dtype(tensor.elem_type).name, dims)
    return signature


def engine_source_onnx(engine: str | Path, sidecar: EngineSidecar) -> Path | None:
    """The ONNX file an engine was built from, where it is still here unchanged (its sha256 matches the
    sidecar's): at its recorded path, or beside the engine (as ``export --format engine`` leaves it)."""
    recorded = Path(sidecar.source_onnx)
    for candidate in (recorded, Path(engine).parent / recorded.name):
        if candidate.is_file() and _source_sha256(candidate) == sidecar.source_onnx_sha256:
            return candidate
    return None


def _source_sha256(candidate: Path) -> str | None:
    """The candidate's identity with its external data; None when its data file is missing or cut short."""
    try:
        return onnx_sha256(candidate)
    except InputError:
        return None
