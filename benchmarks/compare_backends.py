"""Clay base at 224x224 on every CPU runner and precision, side by side in one process (issues 3 and 16).

Every runner is parity-checked against the PyTorch reference before it is timed (trtbench.bench), at its
precision's tolerance (fp32 1e-4, bf16 5e-2, int8 1e-1). Rounds are interleaved (torch, onnxruntime, ...,
torch, ...) so drift in machine load hits all runners alike, and **each round re-measures the GEMM
ceiling** (trtbench.hardware) just before its runners, so every "% of ceiling" divides a model rate and a
GEMM rate measured under the same load; the spread over rounds is printed beside the median.

Runners: torch eager, ONNX Runtime (plain and with its transformer fusions), OpenVINO fp32, OpenVINO and
torch in bf16 (skipped, with the reason, on CPUs without AMX/AVX512-BF16), and the same model quantised
to Q/DQ int8 on ONNX Runtime and on OpenVINO. The default backend is what ``--backend auto`` picks on this
machine (trtbench.backends.auto), named with its reason. A UNet baseline is added when the registry has one.

After the tables, a verdict per aim of issue 16 (met / NOT met / unavailable on this CPU / not measured).
When the default backend is ONNX Runtime and Clay misses the ceiling aim, one ONNX Runtime run is profiled
to show whether the gap is time outside the matrix products or the matrix products themselves.
Usage: ``python benchmarks/compare_backends.py --help``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch

from trtbench.backends import Runner, TorchRunner, runner_for_artifact
from trtbench.backends.auto import auto_backend
from trtbench.bench import BenchTarget, ModelSpec, TimingConfig, count_flops, make_feeds, open_target
from trtbench.bench.compare import bench_backend, reference_outputs
from trtbench.bench.run import machine_info, make_candidates, tolerances, torch_threads
from trtbench.hardware import CpuFeatures, measure_gemm_ceiling, read_cpu_features
from trtbench.models import list_models
from trtbench.parity import tolerance_for

FP32 = ("torch", "onnxruntime", "onnxruntime-fused", "openvino")
BF16 = ("openvino-bf16", "torch-bf16")
INT8 = ("int8-onnxruntime", "int8-openvino")   # the Q/DQ int8 artifact of the same model on each runtime
SPEEDUP_AIMS = {"Clay": 1.1, "UNet baseline": 1.3}   # issue 16: default (auto) backend / torch eager, every batch
CEILING_AIM = 0.85       # issue 16: default backend on Clay base, of the fp32 GEMM ceiling of the same rounds
BF16_AIM, BF16_COSINE = 2.5, 0.999   # bf16 / fastest fp32 runner, with output cosine
INT8_AIM = 2.0                       # int8 / fastest fp32 runner
CHIP = Path(__file__).resolve().parents[2] / "shared" / "data" / "sen1floods11" / "Spain_7370579_S2Hand.tif"
# ONNX Runtime op types (after its graph optimisations) that carry the counted MACs: the matrix products.
GEMM_OPS = frozenset({"MatMul", "FusedMatMul", "Gemm", "FusedGemm", "Conv", "FusedConv"})
PROFILE_RUNS = 3   # profiled runs, after one warm-up run that is left out


@dataclass
class ModelRun:
    """Medians per (runner, batch) over the rounds, and why any runner was not timed."""

    gmac_per_image: float
    batches: list[int]
    default: str                                   # the runner `--backend auto` picks here
    choice: str                                    # that pick and its reason, as eval/predict print it
    throughput: dict[tuple[str, int], float]
    fraction: dict[tuple[str, int], float]         # median over rounds of rate / that round's fp32 ceiling
    invalid: dict[str, str]
    info: dict[str, dict[str, Any]]                # runner -> describe()
    cosine: dict[str, float] = field(default_factory=dict)   # runner -> worst output cosine vs the reference

    def speedup(self, backend: str, batch: int, baseline: str = "torch") -> float | None:
        base, rate = self.throughput.get((baseline, batch)), self.throughput.get((backend, batch))
        return rate / base if base and rate else None

    def fastest(self, names: tuple[str, ...], batch: int) -> tuple[str, float] | None:
        rates = {n: r for n in names if (r := self.throughput.get((n, batch)))}
        return max(rates.items(), key=lambda kv: kv[1]) if rates else None


def int8_artifact(target: BenchTarget, folder: Path, samples: int) -> Path | str:
    """The model quantised to Q/DQ int8 on tiles of the real Sen1Floods11 chip, or why it could not be."""
    from trtbench.export.precision import quantize_int8

    try:
        return quantize_int8(target.onnx, folder / "int8.onnx", [CHIP], samples=samples)
    except Exception as exc:  # noqa: BLE001 - reported as the int8 runners' reason, the others still run
        return f"no int8 artifact: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"


def round_candidates(target: BenchTarget, names: tuple[str, ...], int8: Path | str | None,
                     threads: int) -> dict[str, Runner | str]:
    candidates, _ = make_candidates(target, names, threads)
    if int8 is not None:
        for name in INT8:
            candidates[name] = int8 if isinstance(int8, str) else \
                runner_for_artifact(int8, name.split("-", 1)[1], threads=threads)
    return candidates


def bench_model(label: str, target: BenchTarget, size: int, batches: list[int], rounds: int, config: TimingConfig,
                threads: int, features: CpuFeatures, int8: Path | str | None) -> ModelRun:
    """Every runner on ``target`` in interleaved rounds, each round after its own ceiling; print the table."""
    choice = auto_backend(target.onnx)
    default = choice.backend
    with torch_threads(threads):
        meta = target.metadata
        flops = count_flops(target.model, (1, meta.num_bands, size, size), cross_check=False)
        feeds = make_feeds(meta, batches, size)
        expected = reference_outputs(TorchRunner(lambda: target.model, meta.inputs, meta.outputs), feeds)
        allowed = tolerances(meta.precision, (*FP32, *BF16), None) | {n: tolerance_for("int8") for n in INT8}
        throughput: dict[tuple[str, int], list[float]] = defaultdict(list)
        fraction: dict[tuple[str, int], list[float]] = defaultdict(list)
        latency: dict[tuple[str, int], list[float]] = defaultdict(list)
        ceilings: list[dict[str, float]] = []
        invalid: dict[str, str] = {}
        info: dict[str, dict[str, Any]] = {}
        cosine: dict[str, float] = {}
        for r in range(rounds):
            ceiling = measure_gemm_ceiling(features, n=2048, reps=3, threads=threads)
            ceilings.append(ceiling.gflops)
            for name, runner in round_candidates(target, (*FP32, *BF16), int8, threads).items():
                if isinstance(runner, str) or name in invalid:
                    invalid.setdefault(name, runner if isinstance(runner, str) else invalid[name])
                    continue
                result = bench_backend(name, runner, feeds, expected, config, tolerance=allowed[name])
                if not result.valid:
                    invalid[name] = f"{result.status}: {result.reason}"
                    continue
                info[name] = result.info
                cosine[name] = min(p.cosine for p in result.parity)
                for t in result.timings:
                    throughput[name, t.batch].append(t.images_per_s)
                    latency[name, t.batch].append(t.median_ms)
                    fraction[name, t.batch].append(2 * flops.gmac_per_image * t.images_per_s / ceiling.gflops["fp32"])
            print(f"  [{label}] round {r + 1}/{rounds} done (fp32 GEMM ceiling this round "
                  f"{ceiling.gflops['fp32']:.1f} GFLOP/s)", flush=True)
    run = ModelRun(flops.gmac_per_image, batches, default, choice.line(),
                   {k: statistics.median(v) for k, v in throughput.items()},
                   {k: statistics.median(v) for k, v in fraction.items()}, invalid, info, cosine)
    fp32 = [c["fp32"] for c in ceilings]
    print(f"\n{label}: {meta.model} ({meta.task}, {meta.num_bands} bands) at {size}x{size}, "
          f"{flops.gmac_per_image:.2f} GMAC/image (folded, generator excluded), {rounds} interleaved rounds; "
          f"fp32 GEMM ceiling per round {', '.join(f'{c:.1f}' for c in fp32)} GFLOP/s"
          + "".join(f"; {p} {', '.join(f'{c[p]:.1f}' for c in ceilings)}" for p in ("bf16", "int8") if p in ceilings[0]))
    header = f"{'runner':>18} {'batch':>5} {'p50 ms':>9} {'img/s med':>10} {'spread (min..max)':>20} " \
             f"{'vs torch':>9} {'GFLOP/s':>8} {'of ceiling':>10}"
    print(header)
    print("-" * len(header))
    for batch in batches:
        for name in (*FP32, *BF16, *INT8):
            runs = throughput.get((name, batch))
            if not runs:
                continue
            med = run.throughput[name, batch]
            ratio = run.speedup(name, batch)
            spread = f"{min(runs):.2f}..{max(runs):.2f} ({(max(runs) - min(runs)) / med:.0%})"
            mark = "*" if name == default else " "
            print(f"{name + mark:>18} {batch:>5} {statistics.median(latency[name, batch]):>9.1f} {med:>10.2f} "
                  f"{spread:>20} {f'{ratio:.2f}x' if ratio else 'n/a':>9} {2 * run.gmac_per_image * med:>8.1f} "
                  f"{run.fraction[name, batch]:>10.1%}")
    for name, reason in invalid.items():
        print(f"{name:>18}  NOT TIMED: {reason}")
    print(f"  * the default backend here (`--backend auto`): {default}")
    return run


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


@dataclass
class OrtProfile:
    """ONNX Runtime's per-node kernel times of a few runs of one batch, in ms per run, by op type."""

    batch: int
    run_ms: float
    op_ms: dict[str, float]

    @property
    def gemm_ms(self) -> float:
        return sum(ms for op, ms in self.op_ms.items() if op in GEMM_OPS)


def explain_ceiling(profile: OrtProfile, run: ModelRun) -> None:
    """Split the ceiling fraction into its two measured factors.

    fraction of ceiling = (GEMM time / run time) x (GFLOP/s inside the GEMMs / ceiling), exactly, since all
    counted MACs are matrix products. The smaller factor is the larger loss: time outside the GEMMs
    (softmax, norms, GELU, transposes, ...; fusing or removing them helps) or the GEMMs themselves
    running below the ceiling (shapes, threading, memory bandwidth; only faster kernels help).
    """
    fraction = run.fraction["onnxruntime", profile.batch]
    rate = run.throughput["onnxruntime", profile.batch]
    ceiling = 2 * run.gmac_per_image * rate / fraction   # the rounds' median ceiling, as the table used
    gflop = 2 * run.gmac_per_image * profile.batch
    gemm_share = profile.gemm_ms / profile.run_ms
    gemm_gflops = gflop / (profile.gemm_ms / 1e3)

    def shares(gemm: bool) -> str:
        ops = sorted(((ms, op) for op, ms in profile.op_ms.items() if (op in GEMM_OPS) == gemm), reverse=True)
        return ", ".join(f"{op} {ms / profile.run_ms:.1%}" for ms, op in ops[:6])

    print(f"    why (ONNX Runtime profile of Clay, batch {profile.batch}, mean of {PROFILE_RUNS} runs after a warm-up: "
          f"{profile.run_ms:.1f} ms/run; unprofiled {profile.batch / rate * 1e3:.1f} ms):")
    print(f"      GEMM ops      {gemm_share:>6.1%} of run time ({shares(True)}); inside them "
          f"{gemm_gflops:.1f} GFLOP/s = {gemm_gflops / ceiling:.1%} of ceiling")
    other_ms = sum(ms for op, ms in profile.op_ms.items() if op not in GEMM_OPS)
    print(f"      other ops     {other_ms / profile.run_ms:>6.1%} of run time (top: {shares(False)})")
    limits = {"time outside GEMMs": gemm_share, "GEMM efficiency": gemm_gflops / ceiling}
    below = [f"{name} caps it at {cap:.0%}" for name, cap in limits.items() if cap < CEILING_AIM]
    print(f"      => {'; '.join(below) or 'neither factor alone is below the aim'}; "
          f"larger loss: {min(limits, key=limits.__getitem__)}")


def verdict(met: bool | str | None, aim: str, measured: str) -> None:
    """``met`` / ``NOT met``; a string is printed as is (``unavailable on this CPU``); None: not measured."""
    word = "not measured" if met is None else met if isinstance(met, str) else "met" if met else "NOT met"
    print(f"  {word:>25}  {aim}: {measured}")


def per_batch(ratios: dict[int, float | None]) -> str:
    return ", ".join(f"batch {b}: {r:.2f}x" if r else f"batch {b}: n/a" for b, r in ratios.items())


def speed_verdict(label: str, run: ModelRun | None, skipped: str) -> None:
    """The default (auto) backend is at least SPEEDUP_AIMS[label] x torch eager at every batch."""
    aim = f"default backend >= {SPEEDUP_AIMS[label]:.1f}x torch eager on {label}, every batch"
    if run is None:
        return verdict(None, aim, skipped)
    if run.default == "torch":
        return verdict(False, aim, "auto picked torch itself: no faster runner here")
    for backend, met in ((run.default, False), ("torch", None)):
        if backend in run.invalid:
            return verdict(met, aim, f"{backend} not timed ({run.invalid[backend]})")
    ratios = {b: run.speedup(run.default, b) for b in run.batches}
    verdict(all(r and r >= SPEEDUP_AIMS[label] for r in ratios.values()), aim, f"{run.default}: {per_batch(ratios)}")


def ceiling_verdict(run: ModelRun) -> None:
    aim = f"default backend >= {CEILING_AIM:.0%} of the fp32 GEMM ceiling on Clay (same rounds), every batch"
    fractions = {b: run.fraction.get((run.default, b)) for b in run.batches}
    if any(f is None for f in fractions.values()):
        return verdict(False, aim, f"{run.default} not timed ({run.invalid.get(run.default)})")
    verdict(min(fractions.values()) >= CEILING_AIM, aim,
            f"{run.default}: " + ", ".join(f"batch {b}: {f:.1%}" for b, f in fractions.items()))


def precision_verdict(run: ModelRun, names: tuple[str, ...], aim_ratio: float, precision: str,
                      features: CpuFeatures) -> None:
    """The fastest ``names`` runner over the fastest fp32 runner, per batch; "unavailable on this CPU" where
    the ISA has no instructions for ``precision`` (int8 still runs there, on emulating kernels: shown)."""
    aim = f"{precision} >= {aim_ratio:.1f}x the fastest fp32 runner on Clay, every batch"
    parts, met = [], True
    for b in run.batches:
        best, fp32 = run.fastest(names, b), run.fastest(FP32, b)
        if best is None or fp32 is None:
            parts = ["; ".join(f"{n}: {run.invalid.get(n, 'not timed')}" for n in names)]
            met = False
            break
        ratio = best[1] / fp32[1]
        met &= ratio >= aim_ratio
        parts.append(f"batch {b}: {best[0]} {ratio:.2f}x {fp32[0]}")
    cosines = {n: run.cosine[n] for n in names if n in run.cosine}
    if precision == "bf16":
        met &= bool(cosines) and all(c >= BF16_COSINE for c in cosines.values())
    measured = "; ".join(parts) + ("; cosine " + ", ".join(f"{n} {c:.5f}" for n, c in cosines.items()) if cosines else "")
    if not features.accelerated(precision):
        isa = "AMX-BF16/AVX512-BF16" if precision == "bf16" else "AMX-INT8/VNNI"
        return verdict("unavailable on this CPU", aim, f"no {isa} (ISA: {', '.join(features.isa)}); "
                       + ("runners skipped, not failed" if precision == "bf16" else f"measured anyway: {measured}"))
    verdict(met, aim, measured)


def int8_runtime_line(run: ModelRun) -> None:
    """Which runtime runs the Q/DQ int8 artifact faster, per batch (issue 16 asks which)."""
    for b in run.batches:
        rates = {n: run.throughput.get((n, b)) for n in INT8}
        if all(rates.values()):
            faster = max(rates, key=rates.__getitem__)
            print(f"    int8 batch {b}: {faster.split('-', 1)[1]} faster "
                  f"({rates['int8-openvino'] / rates['int8-onnxruntime']:.2f}x OpenVINO / ONNX Runtime)")


def fusion_verdict(run: ModelRun) -> None:
    """ONNX Runtime's transformer fusions close its gap: fused ORT >= torch eager at every batch."""
    aim = "ONNX Runtime with transformer fusions >= 1.0x torch eager on Clay, every batch (closes ORT's gap)"
    if "onnxruntime-fused" in run.invalid:
        return verdict(False, aim, run.invalid["onnxruntime-fused"])
    ratios = {b: run.speedup("onnxruntime-fused", b) for b in run.batches}
    plain = {b: run.speedup("onnxruntime-fused", b, baseline="onnxruntime") for b in run.batches}
    fused = run.info.get("onnxruntime-fused", {}).get("transformer_fusions")
    verdict(all(r and r >= 1.0 for r in ratios.values()), aim,
            f"{per_batch(ratios)}; vs plain ONNX Runtime {per_batch(plain)}; fused ops {fused}")


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
    parser.add_argument("--no-int8", action="store_true", help="Skip quantising Clay to int8 and its runners.")
    parser.add_argument("--calib-samples", type=int, default=8, help="Calibration tiles for the int8 artifact.")
    parser.add_argument("--no-profile", action="store_true",
                        help="Do not profile ONNX Runtime when it is the default and Clay misses the ceiling aim.")
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    config = TimingConfig(warmup=args.warmup, min_iters=args.min_iters, min_time=args.min_time)

    torch.set_num_threads(args.threads)
    features = read_cpu_features()
    info = machine_info(args.threads)
    print(f"machine: {info['cpu']}, {info['cpu_cores']} cores, {args.threads} threads, torch {info['torch']}")
    print(f"ISA (/proc/cpuinfo): {', '.join(features.isa) or 'none listed'}; "
          + "; ".join(f"{p}: {how}" for p, how in features.precisions().items())
          + f" (clock {features.ghz} GHz from {features.ghz_source})")
    spec = ModelSpec(variant=args.variant, random_init=True, input_size=args.size)
    with open_target("clay", spec) as target, tempfile.TemporaryDirectory(prefix="trtbench-int8-") as tmp:
        int8 = None if args.no_int8 else int8_artifact(target, Path(tmp), args.calib_samples)
        clay = bench_model("Clay", target, args.size, batches, args.rounds, config, args.threads, features, int8)
        profile = None
        worst = min(batches, key=lambda b: clay.fraction.get(("onnxruntime", b), 0.0))
        if clay.default == "onnxruntime" and clay.fraction.get(("onnxruntime", worst), 1.0) < CEILING_AIM \
                and not args.no_profile:
            print(f"  [Clay] profiling onnxruntime at batch {worst}", flush=True)
            profile = profile_onnxruntime(target.onnx, make_feeds(target.metadata, [worst], args.size)[0],
                                          args.threads)
    unet, unet_skipped = None, "--no-unet" if args.no_unet else "no `unet` model in the registry"
    if not args.no_unet and "unet" in list_models():
        spec = ModelSpec(random_init=True, task="segmentation", head=None, num_classes=2, input_size=args.size)
        with open_target("unet", spec) as target:
            unet = bench_model("UNet baseline", target, args.size, batches, args.rounds, config, args.threads,
                               features, None)

    caveat = "" if (args.variant, args.size) == ("base", 224) else \
        f"; this run is Clay {args.variant} at {args.size}, so the Clay verdicts are indicative only"
    print(f"\nIssue 16 aims (stated for Clay base at 224{caveat}); default {clay.choice}")
    speed_verdict("Clay", clay, "")
    ceiling_verdict(clay)
    if profile is not None:
        explain_ceiling(profile, clay)
    precision_verdict(clay, BF16, BF16_AIM, "bf16", features)
    verdict(None, "bf16 |delta mIoU| <= 0.5 points on the real flood chip", "needs a trained head: `trtbench eval "
            "--precision bf16 --labels` on a trained artifact reports task_delta")
    if args.no_int8:
        verdict(None, f"int8 >= {INT8_AIM:.1f}x the fastest fp32 runner", "--no-int8")
    else:
        precision_verdict(clay, INT8, INT8_AIM, "int8", features)
        int8_runtime_line(clay)
    verdict(None, "int8 |delta mIoU| <= 1 point", "needs a trained head: `trtbench eval --labels` on its int8 "
            "export reports task_delta")
    fusion_verdict(clay)
    speed_verdict("UNet baseline", unet, unet_skipped)
    verdict(None, "predict >= 0.90 of model-only throughput in every round", "measured by "
            "benchmarks/predict_throughput.py")
    missing = [name for flag, name in (("avx512f", "AVX-512"), ("amx_tile", "AMX")) if not features.has(flag)]
    verdict(True if missing else None, "runs on a CPU without AVX-512/AMX, reporting features as unavailable",
            f"this CPU lacks {', '.join(missing)}" if missing else "this CPU has AVX-512 and AMX (not exercised)")


if __name__ == "__main__":
    main()
