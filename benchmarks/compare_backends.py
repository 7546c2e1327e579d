"""Clay base at 224x224: PyTorch eager vs ONNX Runtime vs OpenVINO, side by side in one process.

Every backend is parity-checked against the PyTorch reference before it is timed (trtbench.bench).
Rounds are interleaved (torch, onnxruntime, openvino, torch, ...) so drift in machine load hits all
backends alike; the spread over rounds is printed beside the median. Throughput is also expressed
as a fraction of this machine's fp32 matmul ceiling, measured in the same run. A UNet baseline is
added when the model registry has one. Usage: ``python benchmarks/compare_backends.py --help``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections import defaultdict

import torch

from trtbench.backends import TorchRunner
from trtbench.bench import ModelSpec, TimingConfig, count_flops, make_feeds, open_target
from trtbench.bench.compare import bench_backend, reference_outputs
from trtbench.bench.run import machine_info, make_candidates, torch_threads
from trtbench.models import list_models

BACKENDS = ("torch", "onnxruntime", "openvino")


def matmul_ceiling_gflops(n: int = 2048, reps: int = 5) -> dict[str, float]:
    """Best fp32 GFLOP/s of an n x n matmul in torch and in numpy: the practical peak of this CPU."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    x, y = a.numpy(), b.numpy()
    best = {}
    for name, fn in (("torch", lambda: a @ b), ("numpy", lambda: x @ y)):
        fn()
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        best[name] = 2 * n**3 / min(times) / 1e9
    return best


def bench_model(label: str, target_name: str, spec: ModelSpec, size: int, batches: list[int], rounds: int,
                config: TimingConfig, threads: int, ceiling: float) -> None:
    with open_target(target_name, spec) as target, torch_threads(threads):
        meta = target.metadata
        flops = count_flops(target.model, (1, meta.num_bands, size, size), cross_check=False)
        feeds = make_feeds(meta, batches, size)
        expected = reference_outputs(TorchRunner(lambda: target.model, meta.inputs, meta.outputs), feeds)
        throughput: dict[tuple[str, int], list[float]] = defaultdict(list)
        latency: dict[tuple[str, int], list[float]] = defaultdict(list)
        invalid: dict[str, str] = {}
        for r in range(rounds):
            candidates, _ = make_candidates(target, BACKENDS, threads)
            for name, runner in candidates.items():
                if isinstance(runner, str) or name in invalid:
                    invalid.setdefault(name, runner if isinstance(runner, str) else invalid[name])
                    continue
                result = bench_backend(name, runner, feeds, expected, config, tolerance=1e-4)
                if not result.valid:
                    invalid[name] = f"{result.status}: {result.reason}"
                    continue
                for t in result.timings:
                    throughput[name, t.batch].append(t.images_per_s)
                    latency[name, t.batch].append(t.median_ms)
            print(f"  [{label}] round {r + 1}/{rounds} done", flush=True)
    print(f"\n{label}: {meta.model} ({meta.task}, {meta.num_bands} bands) at {size}x{size}, "
          f"{flops.gmac_per_image:.2f} GMAC/image (folded, generator excluded), {rounds} interleaved rounds")
    header = f"{'backend':>12} {'batch':>5} {'p50 ms':>9} {'img/s med':>10} {'spread (min..max)':>20} " \
             f"{'vs torch':>9} {'GFLOP/s':>8} {'of ceiling':>10}"
    print(header)
    print("-" * len(header))
    for batch in batches:
        eager = throughput.get(("torch", batch))
        for name in BACKENDS:
            runs = throughput.get((name, batch))
            if not runs:
                continue
            med = statistics.median(runs)
            gflops = 2 * flops.gmac_per_image * med
            ratio = f"{med / statistics.median(eager):.2f}x" if eager else "n/a"
            spread = f"{min(runs):.2f}..{max(runs):.2f} ({(max(runs) - min(runs)) / med:.0%})"
            print(f"{name:>12} {batch:>5} {statistics.median(latency[name, batch]):>9.1f} {med:>10.2f} "
                  f"{spread:>20} {ratio:>9} {gflops:>8.1f} {gflops / ceiling:>10.1%}")
    for name, reason in invalid.items():
        print(f"{name:>12}  NOT TIMED: {reason}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="base")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=0,
                        help="Extra untimed runs (the parity check already runs every batch once).")
    parser.add_argument("--min-iters", type=int, default=3)
    parser.add_argument("--min-time", type=float, default=0.0)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--no-unet", action="store_true", help="Skip the UNet baseline.")
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    config = TimingConfig(warmup=args.warmup, min_iters=args.min_iters, min_time=args.min_time)

    torch.set_num_threads(args.threads)
    ceiling = matmul_ceiling_gflops()
    info = machine_info(args.threads)
    print(f"machine: {info['cpu']}, {info['cpu_cores']} cores, {args.threads} threads, torch {info['torch']}")
    print(f"fp32 matmul ceiling (2048^3, best of 5): torch {ceiling['torch']:.1f} GFLOP/s, "
          f"numpy {ceiling['numpy']:.1f} GFLOP/s; 'of ceiling' below uses the higher one")
    peak = max(ceiling.values())
    bench_model("Clay", "clay", ModelSpec(variant=args.variant, random_init=True, input_size=args.size),
                args.size, batches, args.rounds, config, args.threads, peak)
    if args.no_unet:
        return
    if "unet" not in list_models():
        print("\nUNet baseline: no `unet` model in the registry; skipped")
        return
    bench_model("UNet baseline", "unet", ModelSpec(random_init=True, task="segmentation", head=None, num_classes=2,
                                                   input_size=args.size),
                args.size, batches, args.rounds, config, args.threads, peak)


if __name__ == "__main__":
    main()
