"""How long reading an artifact's trtbench metadata takes, whatever the file's size (aim: under 0.2 s).

Builds a ~300 MB ONNX file (one large initializer plus real trtbench metadata) in a temporary folder,
then times, on the same file:

* ``trtbench.metadata.read_onnx_metadata`` (the header walk every eval/bench/predict uses), best of
  ``--rounds``, from a warm page cache and — where the OS allows dropping one file's pages
  (``posix_fadvise(DONTNEED)``) — after evicting the file from it;
* ``onnx.load(load_external_data=False)`` (what the metadata read used to cost), once.

It prints each time and the verdict for the aim (``met`` / ``NOT met``). Numbers are machine-specific.

    .venv/bin/python benchmarks/metadata_speed.py            # --size-mb 300 --rounds 5
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from trtbench.export.onnx_proto import write_metadata
from trtbench.metadata import ModelMetadata, read_onnx_metadata
from trtbench.sensors import get_sensor

AIM_SECONDS = 0.2


def build(path: Path, size_mb: int) -> ModelMetadata:
    """An ONNX file of about ``size_mb`` MB whose graph adds one large constant to its input."""
    table = get_sensor("sentinel-2-l2a")
    meta = ModelMetadata(model="clay_v1_5", family="clay", variant="large", sensor=table.name, bands=table.band_names,
                         wavelengths=table.wavelengths, mean=table.mean, std=table.std, gsd=table.gsd,
                         patch_size=8, input_size=256)
    count = size_mb * 2**20 // 4
    weights = numpy_helper.from_array(np.ones(count, dtype=np.float32), "weights")
    graph = helper.make_graph([helper.make_node("Add", ["pixels", "weights"], ["features"])], "big",
                              [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, [count])],
                              [helper.make_tensor_value_info("features", TensorProto.FLOAT, [count])], [weights])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    write_metadata(model, meta)
    onnx.save(model, str(path))
    return meta


def evict(path: Path) -> bool:
    """Drop ``path``'s pages from the page cache where the OS allows it (Linux); False when it cannot."""
    if not hasattr(os, "posix_fadvise"):
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    return True


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "big.onnx"
        meta = build(path, args.size_mb)
        size = path.stat().st_size / 2**20
        assert read_onnx_metadata(path) == meta, "the header reader returned other metadata"
        warm = min(timed(lambda: read_onnx_metadata(path)) for _ in range(args.rounds))
        cold = None
        if evict(path):
            cold = timed(lambda: read_onnx_metadata(path))
        full = timed(lambda: onnx.load(str(path), load_external_data=False))
    print(f"file: {size:.0f} MB ONNX (one initializer) with trtbench metadata")
    print(f"read_onnx_metadata, warm cache (best of {args.rounds}): {warm * 1e3:8.2f} ms")
    print("read_onnx_metadata, file evicted from cache:         "
          + (f"{cold * 1e3:8.2f} ms" if cold is not None else "  not measured (no posix_fadvise here)"))
    print(f"onnx.load(load_external_data=False), for reference: {full * 1e3:8.2f} ms")
    worst = max(t for t in (warm, cold) if t is not None)
    verdict = "met" if worst < AIM_SECONDS else "NOT met"
    print(f"aim: metadata under {AIM_SECONDS * 1e3:.0f} ms whatever the file size -> {verdict} "
          f"(slowest measured: {worst * 1e3:.2f} ms)")


if __name__ == "__main__":
    main()
