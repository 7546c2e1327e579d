#!/usr/bin/env bash
# One GPU check: every GPU-only test (`pytest -m gpu`), the kernel tests compiled on the GPU, and a short
# Clay-base benchmark (PyTorch CUDA fp32/fp16, the Triton kernel, TensorRT engines fp32/fp16 and band-agnostic
# with and without the DynamicPatchEmbed plugin), then a one-page summary of what ran, what passed and what
# was NOT run and why. Exit 0 when nothing that ran failed (parts that cannot run here are listed, not failed),
# 1 when something failed. Offline; at most GPU_CHECK_TOTAL_S (default 450 s) of stages on one GPU: each stage
# gets its own limit, cut to what is left, and a stage that runs out is reported as not run / stopped.
#
#   bash scripts/gpu_check.sh [OUT_DIR]        # default OUT_DIR: a new temporary folder, printed at the end
#
# Environment: PYTHON (default .venv/bin/python, else python3), GPU_CHECK_TOTAL_S (default 450),
# GPU_CHECK_TEST_S (GPU tests, default 240), GPU_CHECK_OPT_LEVEL (engine builds, default 2).
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
OUT=${1:-$(mktemp -d "${TMPDIR:-/tmp}/trtbench-gpu-check.XXXXXX")}
mkdir -p "$OUT" || { echo "error: cannot create $OUT"; exit 2; }
OUT=$(cd "$OUT" && pwd)
if [[ -n "${PYTHON:-}" ]]; then PY=$PYTHON
elif [[ -x .venv/bin/python ]]; then PY=$REPO/.venv/bin/python
else PY=$(command -v python3 || command -v python); fi
TOTAL_S=${GPU_CHECK_TOTAL_S:-450}
TEST_S=${GPU_CHECK_TEST_S:-240}
SECONDS=0
limit() { local left=$(( TOTAL_S - SECONDS - 15 )); echo $(( $1 < left ? $1 : left )); }   # limit DEFAULT_S
export GPU_CHECK_OPT_LEVEL=${GPU_CHECK_OPT_LEVEL:-2}
export GPU_CHECK_OUT=$OUT
: > "$OUT/notes.txt"   # "STATUS<TAB>what<TAB>why" lines for the summary
note() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$OUT/notes.txt"; }

# --- 1. what this machine has ------------------------------------------------------------------------------
probe() {
  "$PY" - <<'PY' > "$OUT/env.json" 2> "$OUT/probe.log"
import importlib, importlib.util, json, os, shutil, sys
env = {"python": sys.executable}
def version(name):
    try:
        mod = importlib.import_module(name)
    except Exception as exc:  # noqa: BLE001 - reported
        return None, f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
    return getattr(mod, "__version__", "installed"), None
env["torch"], env["torch_error"] = version("torch")
env["cuda"] = False
if env["torch"]:
    import torch
    env["cuda"] = torch.cuda.is_available()
    if env["cuda"]:
        env["gpu"] = torch.cuda.get_device_name(0)
        env["capability"] = ".".join(map(str, torch.cuda.get_device_capability(0)))
env["triton"], env["triton_error"] = version("triton") if importlib.util.find_spec("triton") else (None, "not installed")
env["tensorrt"], env["tensorrt_error"] = (version("tensorrt") if importlib.util.find_spec("tensorrt")
                                          else (None, "the tensorrt package is not installed"))
env["nvcc"], env["cmake"] = shutil.which("nvcc"), shutil.which("cmake")
roots = [os.environ.get("TensorRT_ROOT", ""), "/usr", "/usr/local/tensorrt", "/opt/tensorrt"]
env["tensorrt_headers"] = next((r for r in roots if r and (os.path.isfile(f"{r}/include/NvInfer.h") or
                                os.path.isfile(f"{r}/include/x86_64-linux-gnu/NvInfer.h"))), None)
missing = [m for m in ("numpy", "onnx", "onnxruntime", "onnxscript", "rasterio", "fvcore", "click", "torchmetrics",
                       "safetensors", "psutil", "tqdm", "pytest") if importlib.util.find_spec(m) is None]
env["missing"] = missing
try:
    import trtbench.kernels  # noqa: F401 - the package-dir mapping needs an install
    env["trtbench"] = True
except Exception as exc:  # noqa: BLE001
    env["trtbench"], env["trtbench_error"] = False, f"{type(exc).__name__}: {exc}"
env["tensorrt_supported"] = None
if env["tensorrt"] and env["trtbench"]:
    try:
        from trtbench.export.engine import check_tensorrt_version
        check_tensorrt_version(env["tensorrt"])
        env["tensorrt_supported"] = True
    except Exception as exc:  # noqa: BLE001
        env["tensorrt_supported"], env["tensorrt_error"] = False, str(getattr(exc, "problem", exc))
print(json.dumps(env))
PY
}
envget() { "$PY" -c "import json,sys; v=json.load(open('$OUT/env.json')).get('$1'); print('' if v in (None, False, []) else (','.join(v) if isinstance(v, list) else v))"; }

probe || { echo "error: $PY could not run the probe (see $OUT/probe.log)"; cat "$OUT/probe.log"; exit 2; }
if [[ -z "$(envget trtbench)" ]]; then
  # trtbench is not installed (trtbench.kernels comes from the top-level kernels/ folder through pyproject's
  # package-dir): install the source tree in place, offline, without touching any other package.
  if "$PY" -m pip install --quiet --no-deps --no-build-isolation --no-index -e . > "$OUT/install.log" 2>&1; then
    note RAN "pip install --no-deps --no-index -e ." "trtbench was not installed"
  else
    # No offline install possible (e.g. an old setuptools): a package view of the source tree, by symlinks in
    # OUT_DIR, first on the path (PYTHONSAFEPATH: the repo's own trtbench/ folder must not shadow it).
    view="$OUT/pythonpath/trtbench"; mkdir -p "$view"
    for f in "$REPO"/trtbench/*; do ln -sfn "$f" "$view/${f##*/}"; done
    ln -sfn "$REPO/kernels" "$view/kernels"; ln -sfn "$REPO/export" "$view/recipes"
    export PYTHONPATH="$OUT/pythonpath${PYTHONPATH:+:$PYTHONPATH}" PYTHONSAFEPATH=1
    note RAN "trtbench from a package view of the source tree ($OUT/pythonpath)" \
         "pip install -e . failed offline (see install.log)"
  fi
  probe
fi
CUDA=$(envget cuda); TRTBENCH=$(envget trtbench); MISSING=$(envget missing)
TRT=$(envget tensorrt); TRT_OK=$(envget tensorrt_supported); TRITON=$(envget triton)
[[ -n "$TRTBENCH" ]] || note "NOT RUN" "everything that imports trtbench" "trtbench not importable: $(envget trtbench_error)"
[[ -z "$MISSING" ]] || note "NOTE" "missing packages" "$MISSING (tests needing them are reported as not run)"

# --- 2. GPU-only tests, and the kernel tests (Triton compiled on the GPU, nvcc) -----------------------------
if [[ -z "$CUDA" ]]; then
  note "NOT RUN" "GPU tests (pytest -m gpu) and Triton kernel on the GPU" "no CUDA GPU visible to PyTorch"
elif [[ -z "$TRTBENCH" ]]; then
  note "NOT RUN" "GPU tests (pytest -m gpu)" "trtbench is not importable"
else
  mapfile -t FILES < <(grep -l "pytest.mark.gpu" tests/test_*.py)
  t=$(limit "$TEST_S")
  timeout --kill-after=15 "$t" "$PY" -m pytest -q -p no:cacheprovider --continue-on-collection-errors \
      -m gpu "${FILES[@]}" --junitxml="$OUT/gpu_tests.xml" > "$OUT/gpu_tests.log" 2>&1
  rc=$?
  if [[ $rc -eq 124 || $rc -eq 137 ]]; then note FAILED "GPU tests" "stopped after ${t}s (see gpu_tests.log)"
  elif [[ ! -f "$OUT/gpu_tests.xml" ]]; then note FAILED "GPU tests" "pytest wrote no report (exit $rc, see gpu_tests.log)"; fi
  t=$(limit 90)
  timeout --kill-after=15 "$t" "$PY" -m pytest -q -p no:cacheprovider -m "not gpu" tests/test_kernels.py \
      --junitxml="$OUT/kernel_tests.xml" > "$OUT/kernel_tests.log" 2>&1
  rc=$?
  if [[ $rc -eq 124 || $rc -eq 137 ]]; then note FAILED "kernel tests" "stopped after ${t}s (see kernel_tests.log)"
  elif [[ ! -f "$OUT/kernel_tests.xml" ]]; then note FAILED "kernel tests" "pytest wrote no report (exit $rc, see kernel_tests.log)"; fi
fi

# --- 3. short benchmark ---------------------------------------------------------------------------------------
bench() {  # bench NAME DEFAULT_S : runs the Python on stdin; it appends JSON lines to bench.jsonl
  local name=$1 limit
  limit=$(limit "$2")
  if (( limit < 20 )); then note "NOT RUN" "$name" "the check's time budget (${TOTAL_S}s) is spent"; return; fi
  timeout --kill-after=10 "$limit" "$PY" - >> "$OUT/bench.log" 2>&1
  local rc=$?
  if [[ $rc -eq 124 || $rc -eq 137 ]]; then note "NOT RUN" "$name" "did not finish within ${limit}s (see bench.log)"
  elif [[ $rc -ne 0 ]]; then note FAILED "$name" "exit $rc (see bench.log)"; fi
}
: > "$OUT/bench.jsonl"
if [[ -z "$CUDA" || -z "$TRTBENCH" ]]; then
  note "NOT RUN" "benchmark: Clay base in PyTorch CUDA fp32/fp16, Triton kernel timing" \
       "$([[ -z "$CUDA" ]] && echo 'no CUDA GPU visible to PyTorch' || echo 'trtbench is not importable')"
else
  bench "benchmark: Clay base in PyTorch CUDA fp32/fp16" 45 <<'PY'
import json, os, torch
from trtbench.models import create_model
def cuda_ms(fn, iters=10):
    for _ in range(3): fn()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize(); start.record()
    for _ in range(iters): fn()
    end.record(); torch.cuda.synchronize()
    return start.elapsed_time(end) / iters
model = create_model("clay_base", sensor="sentinel-2-l2a", seed=0).folded().cuda().eval()
x = torch.randn(8, 10, 224, 224, device="cuda")
with torch.no_grad():
    ref = model(x)[0]
    fp32 = cuda_ms(lambda: model(x))
    half = model.half()
    out = half(x.half())[0].float()
    fp16 = cuda_ms(lambda: half(x.half()))
rel = float((out - ref).abs().max() / ref.abs().max())
with open(os.path.join(os.environ["GPU_CHECK_OUT"], "bench.jsonl"), "a") as fh:
    for precision, ms in (("fp32", fp32), ("fp16", fp16)):
        fh.write(json.dumps({"what": f"PyTorch CUDA Clay base {precision}, batch 8, 224x224 (CUDA events)",
                             "ms": ms, "rel_err_vs_fp32": rel if precision == "fp16" else 0.0}) + "\n")
PY
  if [[ -n "$TRITON" ]]; then
    bench "benchmark: Triton DynamicPatchEmbed on the GPU" 45 <<'PY'
import json, os
os.environ["TRITON_INTERPRET"] = "0"
import torch, torch.nn.functional as F
from trtbench.kernels import patch_embed_triton
def cuda_ms(fn, iters=20):
    for _ in range(3): fn()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize(); start.record()
    for _ in range(iters): fn()
    end.record(); torch.cuda.synchronize()
    return start.elapsed_time(end) / iters
gen = torch.Generator(device="cuda").manual_seed(0)
x = torch.randn(8, 13, 224, 224, device="cuda", generator=gen)
w, b = torch.randn(768, 13, 8, 8, device="cuda", generator=gen), torch.randn(768, device="cuda", generator=gen)
expected = F.conv2d(x, w * 0.02, b, stride=8)
got = patch_embed_triton(x, w, b, 8, 8, 0, 0.02, 1.0)
rel = float((got - expected).abs().max() / expected.abs().max())
with open(os.path.join(os.environ["GPU_CHECK_OUT"], "bench.jsonl"), "a") as fh:
    fh.write(json.dumps({"what": "DynamicPatchEmbed Triton kernel, Clay base (8x13x224x224 -> 768)",
                         "ms": cuda_ms(lambda: patch_embed_triton(x, w, b, 8, 8, 0, 0.02, 1.0)),
                         "rel_err_vs_conv2d": rel}) + "\n")
    fh.write(json.dumps({"what": "same in torch conv2d (cuDNN, TF32 as torch defaults)",
                         "ms": cuda_ms(lambda: F.conv2d(x, w * 0.02, b, stride=8))}) + "\n")
PY
  else
    note "NOT RUN" "benchmark: Triton DynamicPatchEmbed on the GPU" "triton is not installed"
  fi
fi

if [[ -z "$CUDA" || -z "$TRTBENCH" || -z "$TRT" || -z "$TRT_OK" ]]; then
  if [[ -z "$CUDA" ]]; then why="no CUDA GPU visible to PyTorch"
  elif [[ -z "$TRTBENCH" ]]; then why="trtbench is not importable"
  elif [[ -z "$TRT" ]]; then why="TensorRT is not installed ($(envget tensorrt_error))"
  else why=$(envget tensorrt_error); fi
  note "NOT RUN" "benchmark: TensorRT engines of Clay base (fp32, fp16; band-agnostic with and without the plugin)" "$why"
else
  # Each engine family in its own process: the DynamicPatchEmbed plugin registry is process-wide.
  ENGINE_PY='
import json, os, sys, time
from pathlib import Path
import numpy as np
from trtbench.backends import runner_for_artifact
from trtbench.bands import bind_bands, model_feed
from trtbench.engine_meta import read_sidecar
from trtbench.export.pipeline import ExportRequest, export_artifact
from trtbench.metadata import read_onnx_metadata
from trtbench.models import create_model
OUT, LEVEL = Path(os.environ["GPU_CHECK_OUT"]), int(os.environ["GPU_CHECK_OPT_LEVEL"])
SHAPES = "min=1x{c}x224x224,opt=8x{c}x224x224,max=8x{c}x224x224"
def record(what, reference_onnx, engine, meta):
    """Time the engine and compare it with the fp32 ONNX in ONNX Runtime (CPU) on the same batch."""
    feed = model_feed(meta, np.random.default_rng(0).standard_normal((8, meta.num_bands, 224, 224)).astype(np.float32))
    with runner_for_artifact(engine, "tensorrt") as trt, runner_for_artifact(reference_onnx, "onnxruntime-cpu") as ort:
        got, ref = trt.infer(feed), ort.infer(feed)
        for _ in range(3): trt.infer(feed)
        start = time.perf_counter(); runs = 10
        for _ in range(runs): trt.infer(feed)
        ms = (time.perf_counter() - start) / runs * 1e3
    name = meta.outputs[0]
    rel = float(np.abs(got[name] - ref[name]).max() / np.abs(ref[name]).max())
    builder = read_sidecar(engine).builder
    with open(OUT / "bench.jsonl", "a") as fh:
        fh.write(json.dumps({"what": what + ", batch 8, 224x224 (infer incl. host copies)", "ms": ms,
                             "rel_err_vs_onnxruntime": rel, "tf32": builder["tf32"],
                             "plugin_layers": builder["plugin_layers"]}) + "\n")
'
  bench "benchmark: TensorRT Clay base fp32/fp16 engines" 150 <<PY
$ENGINE_PY
model = create_model("clay_base", sensor="sentinel-2-l2a", seed=0)
[onnx] = export_artifact(model, OUT / "clay_base.onnx", ExportRequest())
meta = read_onnx_metadata(onnx)
for precision in ("fp32", "fp16"):
    src = onnx if precision == "fp32" else export_artifact(onnx, OUT / "clay_base_fp16.onnx", ExportRequest(precision="fp16"))[0]
    [engine] = export_artifact(src, OUT / f"clay_base_{precision}.engine",
                               ExportRequest(format="engine", shapes=SHAPES.format(c=10), opt_level=LEVEL))
    record(f"TensorRT Clay base {precision} engine", onnx, engine, meta)
PY
  bench "benchmark: TensorRT band-agnostic Clay base, function body (no plugin)" 90 <<PY
$ENGINE_PY
from trtbench.export.dynamic_bands import export_band_agnostic
onnx = export_band_agnostic(create_model("clay_base", sensor="sentinel-2-l2a", seed=0), OUT / "clay_base_any.onnx")
[engine] = export_artifact(onnx, OUT / "clay_base_any.engine",
                           ExportRequest(format="engine", shapes=SHAPES.format(c=10), opt_level=LEVEL))
record("TensorRT band-agnostic Clay base, no plugin", onnx, engine,
       bind_bands(read_onnx_metadata(onnx), sensor="sentinel-2-l2a"))
PY
  if [[ -n "$(envget cmake)" && -n "$(envget nvcc)" && -n "$(envget tensorrt_headers)" ]]; then
    PLUGIN="cpp"
    cmake -S kernels/plugin -B "$OUT/plugin_build" -DTensorRT_ROOT="$(envget tensorrt_headers)" > "$OUT/plugin_build.log" 2>&1 \
      && timeout "$(limit 90)" cmake --build "$OUT/plugin_build" -j8 >> "$OUT/plugin_build.log" 2>&1 || PLUGIN="python"
    [[ $PLUGIN == python ]] && note NOTE "C++ plugin build" "failed (see plugin_build.log); timing the Python AOT plugin"
  else
    PLUGIN="python"
  fi
  if [[ $PLUGIN == python && -z "$TRITON" ]]; then
    note "NOT RUN" "benchmark: band-agnostic Clay base with the plugin" "no C++ plugin build tools and no triton"
  else
    REGISTER=$([[ $PLUGIN == cpp ]] && echo "PLUGINS = ['$OUT/plugin_build']" \
      || echo "from trtbench.kernels.trt_python_plugin import register_python_plugin; register_python_plugin(); PLUGINS = []")
    bench "benchmark: TensorRT band-agnostic Clay base with the $PLUGIN plugin" 90 <<PY
import os; os.environ["TRITON_INTERPRET"] = "0"
$ENGINE_PY
$REGISTER
onnx = OUT / "clay_base_any.onnx"
if not onnx.is_file():
    from trtbench.export.dynamic_bands import export_band_agnostic
    onnx = export_band_agnostic(create_model("clay_base", sensor="sentinel-2-l2a", seed=0), onnx)
[engine] = export_artifact(onnx, OUT / "clay_base_any_plugin.engine",
                           ExportRequest(format="engine", shapes=SHAPES.format(c=10), opt_level=LEVEL, plugins=PLUGINS))
record("TensorRT band-agnostic Clay base, $PLUGIN plugin", onnx, engine,
       bind_bands(read_onnx_metadata(onnx), sensor="sentinel-2-l2a"))
PY
  fi
fi

# --- 4. one-page summary ---------------------------------------------------------------------------------------
"$PY" scripts/gpu_check_summary.py "$OUT" | tee "$OUT/summary.txt"
exit "${PIPESTATUS[0]}"
