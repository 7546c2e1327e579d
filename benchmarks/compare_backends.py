"""Clay base at 224x224: PyTorch eager vs ONNX Runtime vs OpenVINO, side by side in one process.

Every backend is parity-checked against the PyTorch reference before it is timed (trtbench.bench).
Rounds are interleaved (torch, onnxruntime, openvino, torch, ...) so drift in machine load hits all
backends alike; the spread over rounds is printed beside the median. Throughput is also expressed
as a fraction of this machine's fp32 matmul ceiling, measured in the same run. A UNet baseline is
added when the model registry has one. Usage: ``python benchmarks/compare_backends.py --help``.

After the tables, a verdict per aim of issue 3 for the default CPU backend (ONNX Runtime, trtbench's
default everywhere: ``runner_for_artifact``, ``trtbench predict``/``eval --backend``). When Clay misses
the matmul-ceiling aim, one ONNX Runtime run is profiled to show, by measurement, whether the gap is
time spent outside the matrix products or the matrix products themselves running below the ceiling.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch

from trtbench.backends import TorchRunner
from trtbench.bench import BenchTarget, ModelSpec, TimingConfig, count_flops, make_feeds, open_target
from trtbench.bench.compare import bench_backend, reference_outputs
from trtbench.bench.run import machine_info, make_candidates, torch_threads
from trtbench.models import list_models

BACKENDS = ("torch", "onnxruntime", "openvino")
DEFAULT_CPU_BACKEND = "onnxruntime"   # trtbench's default backend; on a machine without a GPU it runs the CPU EP
SPEEDUP_AIMS = {"Clay": 1.0, "UNet baseline": 1.3}   # issue 3: default backend / torch eager, at every batch
CEILING_AIM = 0.85                                   # issue 3: Clay base on the default backend, of the matmul ceiling
# ONNX Runtime op types (after its graph optimisations) that carry the counted MACs: the matrix products.
GEMM_OPS = frozenset({"MatMul", "FusedMatMul", "Gemm", "FusedGemm", "Conv", "FusedConv"})
PROFILE_RUNS = 3   # profiled runs, after one warm-up run that is left out


@dataclass
class ModelRun:
    """Median images/s per (backend, batch) of one model, and why any backend was not timed: what the
    tables and the verdicts are computed from."""

    gmac_per_image: float
    batches: list[int]
    throughput: dict[tuple[str, int], float]
    invalid: dict[str, str]
    info: dict[str, dict[str, Any]]   # backend -> runner.describe() (e.g. the ONNX Runtime providers used)

    def speedup(self, backend: str, batch: int) -> float | None:
        eager, rate = self.throughput.get(("torch", batch)), self.throughput.get((backend, batch))
        return rate / eager if eager and rate else None

    def ceiling_fraction(self, backend: str, batch: int, ceiling: float) -> float | None:
        rate = self.throughput.get((backend, batch))
        return None if rate is None else 2 * self.gmac_per_image * rate / ceiling


@dataclass
class OrtProfile:
    """ONNX Runtime's per-node kernel times of a few runs of one batch, in ms per run, by op type."""

    batch: int
    run_ms: float
    op_ms: dict[str, float]

    @property
    def gemm_ms(self) -> float:
        return sum(ms for op, ms in self.op_ms.items() if op in GEMM_OPS)


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


def bench_model(label: str, target: BenchTarget, size: int, batches: list[int], rounds: int, config: TimingConfig,
                threads: int, ceiling: float) -> ModelRun:
    """Time every backend on ``target`` in interleaved rounds, print the table, return the medians."""
    with torch_threads(threads):
        meta = target.metadata
        flops = count_flops(target.model, (1, meta.num_bands, size, size), cross_check=False)
        feeds = make_feeds(meta, batches, size)
        expected = reference_outputs(TorchRunner(lambda: target.model, meta.inputs, meta.outputs), feeds)
        throughput: dict[tuple[str, int], list[float]] = defaultdict(list)
        latency: dict[tuple[str, int], list[float]] = defaultdict(list)
        invalid: dict[str, str] = {}
        info: dict[str, dict[str, Any]] = {}
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
                info[name] = result.info
                for t in result.timings:
                    throughput[name, t.batch].append(t.images_per_s)
                    latency[name, t.batch].append(t.median_ms)
            print(f"  [{label}] round {r + 1}/{rounds} done", flush=True)
    run = ModelRun(flops.gmac_per_image, batches,
                   {key: statistics.median(runs) for key, runs in throughput.items()}, invalid, info)
    print(f"\n{label}: {meta.model} ({meta.task}, {meta.num_bands} bands) at {size}x{size}, "
          f"{flops.gmac_per_image:.2f} GMAC/image (folded, generator excluded), {rounds} interleaved rounds")
    header = f"{'backend':>12} {'batch':>5} {'p50 ms':>9} {'img/s med':>10} {'spread (min..max)':>20} " \
             f"{'vs torch':>9} {'GFLOP/s':>8} {'of ceiling':>10}"
    print(header)
    print("-" * len(header))
    for batch in batches:
        for name in BACKENDS:
            runs = throughput.get((name, batch))
            if not runs:
                continue
            med = run.throughput[name, batch]
            ratio = run.speedup(name, batch)
            spread = f"{min(runs):.2f}..{max(runs):.2f} ({(max(runs) - min(runs)) / med:.0%})"
            print(f"{name:>12} {batch:>5} {statistics.median(latency[name, batch]):>9.1f} {med:>10.2f} "
                  f"{spread:>20} {f'{ratio:.2f}x' if ratio else 'n/a':>9} {2 * run.gmac_per_image * med:>8.1f} "
                  f"{run.ceiling_fraction(name, batch, ceiling):>10.1%}")
    for name, reason in invalid.items():
        print(f"{name:>12}  NOT TIMED: {reason}")
    return run


def best_ceiling_batch(run: ModelRun, ceiling: float) -> tuple[int, float] | None:
    """The default backend's best batch and its fraction of the ceiling ("reaches" the aim at some batch)."""
    fractions = {b: f for b in run.batches if (f := run.ceiling_fraction(DEFAULT_CPU_BACKEND, b, ceiling)) is not None}
    if not fractions:
        return None
    batch = max(fractions, key=fractions.__getitem__)
    return batch, fractions[batch]


def profile_onnxruntime(onnx: Path, feed: dict[str, np.ndarray], threads: int) -> OrtProfile:
    """ONNX Runtime's own kernel times per op type, to tell where the run's time goes.

    The session has the benchmarked runner's settings (SessionFromOnnx: all graph optimisations, the CPU
    execution provider, ``threads`` intra-op threads) plus profiling. The first run (allocation, kernel
    selection) is left out; PROFILE_RUNS runs after it are averaged. Run time not inside any kernel is the
    executor's own work between nodes.
    """
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.enable_profiling = True
    with tempfile.TemporaryDirectory(prefix="trtbench-profile-") as tmp:
        options.profile_file_prefix = str(Path(tmp) / "ort")
        session = ort.InferenceSession(str(onnx), options, providers=["CPUExecutionProvider"])
        for _ in range(PROFILE_RUNS + 1):
            session.run(None, feed)
        events = json.loads(Path(session.end_profiling()).read_text())
    runs = sorted((e for e in events if e["name"] == "model_run"), key=lambda e: e["ts"])[1:]
    op_us: Counter[str] = Counter()
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and e["ts"] >= runs[0]["ts"]:
            op_us[e["args"]["op_name"]] += e["dur"]
    batch = next(iter(feed.values())).shape[0]
    return OrtProfile(batch, sum(e["dur"] for e in runs) / PROFILE_RUNS / 1e3,
                      {op: us / PROFILE_RUNS / 1e3 for op, us in op_us.items()})


def explain_ceiling(profile: OrtProfile, run: ModelRun, ceiling: float) -> None:
    """Split the ceiling fraction into its two measured factors.

    fraction of ceiling = (GEMM time / run time) x (GFLOP/s inside the GEMMs / ceiling), exactly, since all
    counted MACs are matrix products. The smaller factor is the larger loss: time outside the GEMMs
    (softmax, norms, GELU, transposes, ...; fusing or removing them helps) or the GEMMs themselves
    running below the ceiling (shapes, threading, memory bandwidth; only faster kernels help).
    Profiling adds time per node, so the unprofiled median of the table is printed beside the profiled run.
    """
    gflop = 2 * run.gmac_per_image * profile.batch   # per run
    timed_ms = profile.batch / run.throughput[DEFAULT_CPU_BACKEND, profile.batch] * 1e3
    gemm_share = profile.gemm_ms / profile.run_ms
    gemm_gflops = gflop / (profile.gemm_ms / 1e3)
    overall = gflop / (profile.run_ms / 1e3) / ceiling

    def shares(gemm: bool) -> str:
        ops = sorted(((ms, op) for op, ms in profile.op_ms.items() if (op in GEMM_OPS) == gemm), reverse=True)
        return ", ".join(f"{op} {ms / profile.run_ms:.1%}" for ms, op in ops[:6])

    print(f"    why (ONNX Runtime profile of Clay, batch {profile.batch}, mean of {PROFILE_RUNS} runs after a warm-up: "
          f"{profile.run_ms:.1f} ms/run = {overall:.1%} of ceiling; unprofiled {timed_ms:.1f} ms):")
    print(f"      GEMM ops      {gemm_share:>6.1%} of run time ({shares(True)}); inside them "
          f"{gemm_gflops:.1f} GFLOP/s = {gemm_gflops / ceiling:.1%} of ceiling")
    other_ms = sum(ms for op, ms in profile.op_ms.items() if op not in GEMM_OPS)
    print(f"      other ops     {other_ms / profile.run_ms:>6.1%} of run time (top: {shares(False)})")
    print(f"      between ops   {1 - (profile.gemm_ms + other_ms) / profile.run_ms:>6.1%} of run time (executor, and profiling itself)")
    limits = {"time outside GEMMs": gemm_share, "GEMM efficiency": gemm_gflops / ceiling}
    below = [f"{name} caps it at {cap:.0%}" for name, cap in limits.items() if cap < CEILING_AIM]
    print(f"      => {'; '.join(below) or 'neither factor alone is below the aim'}; "
          f"larger loss: {min(limits, key=limits.__getitem__)}")


def verdict(met: bool | None, aim: str, measured: str) -> None:
    print(f"  {'not measured' if met is None else 'met' if met else 'NOT met':>12}  {aim}: {measured}")


def speed_verdict(label: str, run: ModelRun | None, skipped: str) -> None:
    """Aim: the default backend is at least SPEEDUP_AIMS[label] x torch eager at every batch ("never slower")."""
    aim = f"{DEFAULT_CPU_BACKEND} >= {SPEEDUP_AIMS[label]:.1f}x torch eager on {label}, every batch"
    if run is None:
        return verdict(None, aim, skipped)
    for backend, met in ((DEFAULT_CPU_BACKEND, False), ("torch", None)):   # an untimed default backend fails
        if backend in run.invalid:
            return verdict(met, aim, f"{backend} not timed ({run.invalid[backend]})")
    ratios = {b: run.speedup(DEFAULT_CPU_BACKEND, b) for b in run.batches}
    worst = min(ratios, key=ratios.__getitem__)
    verdict(ratios[worst] >= SPEEDUP_AIMS[label], aim, f"worst {ratios[worst]:.2f}x at batch {worst} ("
            + ", ".join(f"batch {b}: {r:.2f}x" for b, r in ratios.items()) + ")")


def ceiling_verdict(run: ModelRun, ceiling: float, profile: OrtProfile | None, no_profile: bool) -> None:
    """Aim: the default backend reaches CEILING_AIM of the matmul ceiling on Clay; if not, the measured why."""
    aim = f"{DEFAULT_CPU_BACKEND} >= {CEILING_AIM:.0%} of the matmul ceiling on Clay"
    best = best_ceiling_batch(run, ceiling)
    if best is None:
        return verdict(False, aim, f"{DEFAULT_CPU_BACKEND} not timed ({run.invalid.get(DEFAULT_CPU_BACKEND)})")
    batch, fraction = best
    verdict(fraction >= CEILING_AIM, aim, f"{fraction:.1%} at batch {batch} (its best batch; ceiling {ceiling:.1f} "
            f"GFLOP/s)")
    if profile is not None:
        explain_ceiling(profile, run, ceiling)
    elif fraction < CEILING_AIM and no_profile:
        print("    why: not profiled (--no-profile)")


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
    parser.add_argument("--no-profile", action="store_true",
                        help="Do not profile ONNX Runtime when Clay misses the matmul-ceiling aim.")
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
    with open_target("clay", ModelSpec(variant=args.variant, random_init=True, input_size=args.size)) as target:
        clay = bench_model("Clay", target, args.size, batches, args.rounds, config, args.threads, peak)
        best = best_ceiling_batch(clay, peak)
        profile = None
        if best is not None and best[1] < CEILING_AIM and not args.no_profile:
            print(f"  [Clay] profiling {DEFAULT_CPU_BACKEND} at batch {best[0]}", flush=True)
            profile = profile_onnxruntime(target.onnx, make_feeds(target.metadata, [best[0]], args.size)[0],
                                          args.threads)
    unet, unet_skipped = None, "--no-unet" if args.no_unet else "no `unet` model in the registry"
    if not args.no_unet and "unet" in list_models():
        spec = ModelSpec(random_init=True, task="segmentation", head=None, num_classes=2, input_size=args.size)
        with open_target("unet", spec) as target:
            unet = bench_model("UNet baseline", target, args.size, batches, args.rounds, config, args.threads, peak)

    providers = ", ".join(clay.info.get(DEFAULT_CPU_BACKEND, {}).get("providers", [])) or "not run"
    caveat = "" if (args.variant, args.size) == ("base", 224) else \
        f"; this run is Clay {args.variant} at {args.size}, so the Clay verdicts are indicative only"
    print(f"\nIssue 3 aims (stated for Clay base at 224{caveat}); default CPU backend: {DEFAULT_CPU_BACKEND} "
          f"(trtbench's default backend; providers here: {providers})")
    speed_verdict("Clay", clay, "")
    speed_verdict("UNet baseline", unet, unet_skipped)
    ceiling_verdict(clay, peak, profile, args.no_profile)


if __name__ == "__main__":
    main()
