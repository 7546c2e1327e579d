"""The cost of flexibility: band-agnostic vs fixed-band ONNX throughput in ONNX Runtime on the CPU.

Both files are exported from the same model (Sentinel-2 L2A, 10 bands) and fed the same real tiles:
the fixed file has the generated patch kernel folded into a Conv, the band-agnostic one regenerates it
from the wavelengths input on every call and embeds patches with the DynamicPatchEmbed function
(patchify + MatMul). Rounds are interleaved so machine load affects both alike; the ratio of medians
is printed with the aim (>= 0.9x). Outputs are compared before anything is timed.

    python benchmarks/band_agnostic.py                        # clay tiny, 256 px, batch 4
    python benchmarks/band_agnostic.py --variant base --size 224 --batch 1,8
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from trtbench.bands import bind_bands, model_feed
from trtbench.evaluate import normalised_tiles
from trtbench.export import export_onnx
from trtbench.export.dynamic_bands import export_band_agnostic
from trtbench.metadata import read_onnx_metadata
from trtbench.models import create_model, resolve_model_name

AIM = 0.9
SHARED_DATA = Path(os.environ.get("TRTBENCH_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
CHIP = SHARED_DATA / "sen1floods11" / "Spain_7370579_S2Hand.tif"


def main() -> None:
    args = _parse()
    model = create_model(resolve_model_name("clay", args.variant), sensor="sentinel-2-l2a", seed=0,
                         input_size=args.size)
    with tempfile.TemporaryDirectory() as work:
        files = {"fixed": export_onnx(model, Path(work) / "fixed.onnx"),
                 "band-agnostic": export_band_agnostic(model, Path(work) / "any.onnx")}
        meta = bind_bands(read_onnx_metadata(files["band-agnostic"]))
        tiles = list(normalised_tiles(meta, [args.data], args.size))
        sessions = {name: _session(path, args.threads) for name, path in files.items()}
        print(f"clay {args.variant}, {meta.num_bands} bands, {args.size}x{args.size}, ONNX Runtime "
              f"{ort.__version__} CPU, {args.threads} threads, {len(tiles)} real tile(s) from {args.data.name}")
        for batch in args.batch:
            pixels = np.stack([tiles[i % len(tiles)] for i in range(batch)])
            feeds = {"fixed": {"pixels": pixels}, "band-agnostic": model_feed(meta, pixels)}
            _check_agreement(sessions, feeds)
            rates = _interleaved(sessions, feeds, batch, args.rounds, args.min_iters)
            _report(batch, rates)


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variant", default="tiny", help="Clay size: tiny, small, base, large")
    parser.add_argument("--size", type=int, default=256, help="tile edge in pixels")
    parser.add_argument("--batch", default="4", help="comma-separated batch sizes")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--min-iters", type=int, default=3, help="inferences per backend per round")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--data", type=Path, default=CHIP, help="real Sentinel-2 L1C chip to tile")
    args = parser.parse_args()
    args.batch = [int(b) for b in args.batch.split(",")]
    return args


def _session(path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _check_agreement(sessions: dict[str, ort.InferenceSession], feeds: dict[str, dict[str, np.ndarray]]) -> None:
    outputs = {name: s.run(None, feeds[name]) for name, s in sessions.items()}
    for fixed, dynamic in zip(outputs["fixed"], outputs["band-agnostic"]):
        rel = np.abs(fixed - dynamic).max() / np.abs(fixed).max()
        if rel > 1e-4:
            raise SystemExit(f"the two files disagree (max |diff| / scale {rel:.1e}): not timing them")


def _interleaved(sessions: dict[str, ort.InferenceSession], feeds: dict[str, dict[str, np.ndarray]], batch: int,
                 rounds: int, iters: int) -> dict[str, list[float]]:
    """Images/s per round for each file, the files alternating within every round."""
    rates: dict[str, list[float]] = {name: [] for name in sessions}
    for name, session in sessions.items():   # warm-up: allocations, thread pools
        session.run(None, feeds[name])
    for _ in range(rounds):
        for name, session in sessions.items():
            start = time.perf_counter()
            for _ in range(iters):
                session.run(None, feeds[name])
            rates[name].append(batch * iters / (time.perf_counter() - start))
    return rates


def _report(batch: int, rates: dict[str, list[float]]) -> None:
    print(f"\nbatch {batch}")
    print(f"{'file':>14}  {'images/s (median)':>17}  {'min..max':>15}")
    for name, values in rates.items():
        print(f"{name:>14}  {statistics.median(values):17.2f}  {min(values):7.2f}..{max(values):<7.2f}")
    ratio = statistics.median(rates["band-agnostic"]) / statistics.median(rates["fixed"])
    verdict = "meets" if ratio >= AIM else "BELOW"
    print(f"band-agnostic / fixed = {ratio:.3f}x ({verdict} the aim of >= {AIM}x)")


if __name__ == "__main__":
    main()
