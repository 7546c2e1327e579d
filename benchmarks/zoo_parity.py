"""Every zoo-II model at its released size, exported to fp32 ONNX and compared with its PyTorch reference on
real chips from ``../shared/data`` (issue 14's acceptance, at the sizes the unit tests leave to tiny variants).

Per model: ``trtbench export NAME --random-init`` in a child process (so each model's memory is freed), then
``trtbench eval`` on ONNX Runtime over every pixel of its real chip: the Sen1Floods11 Sentinel-2 chip (13 L1C
bands, or the bands a model takes: Scale-MAE its RGB, Prithvi the HLS-like B02 B03 B04 B8A B11 B12), the
Sentinel-2 + Sentinel-1 pair stacked for CROMA and TerraMind, with dates for the Prithvi TL variants.
Seeded random weights: parity does not depend on the weights' values, only on the graph. Prints one line per
model and a Markdown table; exits 1 if any model fails its parity bound (1e-4 of the output scale).

    python benchmarks/zoo_parity.py                      # all of zoo II (long: large models on 2 cores)
    python benchmarks/zoo_parity.py --models vit_base,croma_base
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("TRTBENCH_SHARED_DATA", REPO.parent / "shared" / "data"))
S2 = SHARED_DATA / "sen1floods11" / "Spain_7370579_S2Hand.tif"
S1 = SHARED_DATA / "sen1floods11" / "Spain_7370579_S1Hand.tif"
S2_L1C = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]   # file order
HLS_LIKE = ["B02", "B03", "B04", "B8A", "B11", "B12"]
NO_B10 = [b for b in S2_L1C if b != "B10"]

# model -> (export options, the chip's layers: ("s2", bands) / ("s1", bands), eval options)
ZOO_II = {
    "vit_base": (["--sensor", "sentinel-2-l1c"], [("s2", S2_L1C)], []),
    "resnet50": (["--sensor", "sentinel-2-l1c"], [("s2", S2_L1C)], []),
    "ssl4eo_vit_small": (["--sensor", "sentinel-2-l1c"], [("s2", S2_L1C)], []),
    "ssl4eo_resnet50": (["--sensor", "sentinel-2-l1c"], [("s2", S2_L1C)], []),
    "scalemae_large": (["--sensor", "sentinel-2-l1c", "--bands", "B04,B03,B02"], [("s2", ["B04", "B03", "B02"])], []),
    "prithvi_eo_v2_300": (["--sensor", "sentinel-2-l1c", "--bands", ",".join(HLS_LIKE)], [("s2", HLS_LIKE)], []),
    "prithvi_eo_v2_300_tl": (["--sensor", "sentinel-2-l1c", "--bands", ",".join(HLS_LIKE)], [("s2", HLS_LIKE)],
                             ["--dates", "2019-09-18"]),
    "prithvi_eo_v2_600": (["--sensor", "sentinel-2-l1c", "--bands", ",".join(HLS_LIKE)], [("s2", HLS_LIKE)], []),
    "prithvi_eo_v2_600_tl": (["--sensor", "sentinel-2-l1c", "--bands", ",".join(HLS_LIKE)], [("s2", HLS_LIKE)],
                             ["--dates", "2019-09-18"]),
    "croma_base": ([], [("s2", NO_B10), ("s1", ["VV", "VH"])], []),
    "croma_large": ([], [("s2", NO_B10), ("s1", ["VV", "VH"])], []),
    "terramind_v1_base": (["--sensor", "sentinel-2-l1c+sentinel-1-rtc", "--bands", ",".join([*NO_B10, "VV", "VH"])],
                          [("s2", NO_B10), ("s1", ["VV", "VH"])], []),
    "terramind_v1_large": (["--sensor", "sentinel-2-l1c+sentinel-1-rtc", "--bands", ",".join([*NO_B10, "VV", "VH"])],
                           [("s2", NO_B10), ("s1", ["VV", "VH"])], []),
}


def write_chip(path: Path, layers: list[tuple[str, list[str]]]) -> Path:
    """The real chip's chosen bands (S2 and/or S1 of the same 512 x 512 grid) as one GeoTIFF naming each band."""
    arrays, names = [], []
    for layer, bands in layers:
        source = S2 if layer == "s2" else S1
        order = S2_L1C if layer == "s2" else ["VV", "VH"]
        with rasterio.open(source) as src:
            arrays.append(src.read([order.index(b) + 1 for b in bands]).astype(np.float32))
            profile = src.profile
        names += bands
    pixels = np.concatenate(arrays)
    profile.update(count=len(names), dtype="float32", nodata=float("nan"))   # S1 marks missing pixels NaN
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(pixels)
        dst.descriptions = tuple(names)
    return path


def trtbench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "trtbench.cli", *args], capture_output=True, text=True)


def check_model(name: str, work: Path) -> dict:
    export_options, layers, eval_options = ZOO_II[name]
    onnx = work / f"{name}.onnx"
    start = time.perf_counter()
    exported = trtbench("export", name, "--random-init", *export_options, "-o", str(onnx))
    if exported.returncode != 0:
        return {"model": name, "status": "export failed", "detail": exported.stderr.strip().splitlines()[-2:]}
    export_s = time.perf_counter() - start
    chip = write_chip(work / f"{name}_chip.tif", layers)
    report = work / f"{name}.json"
    start = time.perf_counter()
    result = trtbench("eval", "--engine", str(onnx), "--data", str(chip), "--backend", "onnxruntime",
                      "--json", str(report), *eval_options)
    if not report.is_file():
        return {"model": name, "status": "eval failed", "detail": result.stderr.strip().splitlines()[-2:]}
    data = json.loads(report.read_text())
    files = [p for p in work.iterdir() if p.name.startswith(onnx.name)]
    return {"model": name, "status": "PASS" if data["passed"] else "FAIL",
            "rel_max": max(p["rel_max"] for p in data["parity"]), "cosine": min(p["cosine"] for p in data["parity"]),
            "tolerance": data["tolerance"], "tiles": data["tiles"], "bands": len(data["metadata"]["bands"]),
            "onnx_mib": sum(p.stat().st_size for p in files) / 2**20, "external_data": len(files) > 1,
            "export_s": export_s, "eval_s": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="Comma-separated subset (default: every zoo-II model).")
    parser.add_argument("--json", dest="json_path", help="Also write the rows as JSON.")
    args = parser.parse_args()
    models = args.models.split(",") if args.models else list(ZOO_II)
    unknown = [m for m in models if m not in ZOO_II]
    if unknown:
        parser.error(f"not zoo-II models: {', '.join(unknown)} (choose from {', '.join(ZOO_II)})")
    rows = []
    with tempfile.TemporaryDirectory(prefix="zoo_parity_") as tmp:
        for name in models:
            work = Path(tmp) / name
            work.mkdir()
            row = check_model(name, work)
            rows.append(row)
            print(json.dumps(row), flush=True)
            for path in work.iterdir():   # free the disk before the next (the 600M pair is 2.4 GB)
                path.unlink()
    print("\n| model | bands | tiles | ONNX MiB | external data | max error / scale | cosine | result |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "rel_max" in r:
            print(f"| {r['model']} | {r['bands']} | {r['tiles']} | {r['onnx_mib']:.0f} | {'yes' if r['external_data'] else 'no'}"
                  f" | {r['rel_max']:.2e} (≤ {r['tolerance']:g}) | {r['cosine']:.7f} | {r['status']} |")
        else:
            print(f"| {r['model']} | | | | | | | {r['status']}: {' '.join(r['detail'])} |")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(rows, indent=1))
    sys.exit(0 if all(r["status"] == "PASS" for r in rows) else 1)


if __name__ == "__main__":
    main()
