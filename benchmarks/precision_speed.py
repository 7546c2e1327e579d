"""fp32 vs fp16 vs int8 ONNX of one Clay model in ONNX Runtime on this CPU, side by side in one run.

The CPU proxy for the deployment precisions: each file is parity-checked against the fp32 PyTorch
reference on real chips (``trtbench eval``'s numbers: max |diff|, cosine) and timed on the same
normalised tiles, rounds interleaved (fp32, fp16, int8, fp32, ...) so machine drift hits all alike.
Speed ratios are relative to fp32. CPU speed says nothing about a GPU: x86 CPUs without fp16 units
run FP16 graphs through casts (slower), while INT8 Q/DQ uses VNNI where present. The accuracy
columns are what carries over to TensorRT, whose strongly typed engines execute the same graphs.
Usage: ``python benchmarks/precision_speed.py --model clay_base --batch 4``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from trtbench.backends import runner_for_artifact
from trtbench.evaluate import evaluate, normalised_tiles
from trtbench.export import export_onnx
from trtbench.export.precision import convert_fp16, quantize_int8
from trtbench.metadata import read_onnx_metadata
from trtbench.models import create_model

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
CHIPS = [SHARED / "sen1floods11" / "Spain_7370579_S2Hand.tif", SHARED / "hls_chip_terratorch" / "hls_10band_224.tif"]


def build(model: str, size: int, work: Path, calib_samples: int) -> dict[str, Path]:
    fp32 = export_onnx(create_model(model, sensor="sentinel-2-l2a", seed=0, input_size=size), work / "fp32.onnx")
    return {"fp32": fp32, "fp16": convert_fp16(fp32, work / "fp16.onnx"),
            "int8": quantize_int8(fp32, work / "int8.onnx", CHIPS, samples=calib_samples)}


def time_rounds(files: dict[str, Path], batch: np.ndarray, rounds: int, threads: int | None) -> dict[str, list[float]]:
    runners = {name: runner_for_artifact(path, "onnxruntime-cpu", threads=threads) for name, path in files.items()}
    times: dict[str, list[float]] = {name: [] for name in files}
    for runner in runners.values():
        runner.activate()
        runner.infer({"pixels": batch})   # warm-up: allocation and kernel selection
    for _ in range(rounds):
        for name, runner in runners.items():
            start = time.perf_counter()
            runner.infer({"pixels": batch})
            times[name].append(time.perf_counter() - start)
    for runner in runners.values():
        runner.deactivate()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="clay_base")
    parser.add_argument("--size", type=int, default=224, help="tile edge in pixels")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--calib-samples", type=int, default=16)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        print(f"building fp32/fp16/int8 ONNX of {args.model} at {args.size}x{args.size} ...", flush=True)
        files = build(args.model, args.size, Path(work), args.calib_samples)
        meta = read_onnx_metadata(files["fp32"])
        tiles = list(normalised_tiles(meta, CHIPS[:1], args.size))
        batch = np.stack([tiles[i % len(tiles)] for i in range(args.batch)])
        print("parity against the fp32 PyTorch reference on real chips ...", flush=True)
        parity = {name: evaluate(path, CHIPS[:1], tile=args.size, progress=False) for name, path in files.items()}
        print(f"timing {args.rounds} interleaved rounds of batch {args.batch} ...", flush=True)
        times = time_rounds(files, batch, args.rounds, args.threads)
        sizes = {name: path.stat().st_size / 2**20 for name, path in files.items()}
    base = statistics.median(times["fp32"])
    print(f"\n{'precision':>9} {'MiB':>7} {'median ms':>10} {'spread ms':>10} {'speed vs fp32':>14} "
          f"{'max|diff|':>10} {'cosine':>10} {'parity':>7}")
    for name, path_times in times.items():
        median = statistics.median(path_times)
        features = next(p for p in parity[name].parity if p.output == "features")
        print(f"{name:>9} {sizes[name]:>7.1f} "
              f"{median * 1e3:>10.1f} {(max(path_times) - min(path_times)) * 1e3:>10.1f} {base / median:>13.2f}x "
              f"{features.max_abs:>10.3g} {features.cosine:>10.6f} {'ok' if parity[name].passed else 'FAIL':>7}")


if __name__ == "__main__":
    main()
