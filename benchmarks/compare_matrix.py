"""The deployment matrix of issue 15 on this machine: ``trtbench compare`` over Clay base, the UNet and every
registered zoo model x the CPU backends x every precision (bf16 where the CPU has it) x batch 1 and 8 at
224 px, then the table.

The evaluation set is the real Sen1Floods11 chip with its hand label (``../shared/data``, or
``TRTBENCH_SHARED_DATA``), written as a labelled chip folder into the output folder. Weights are seeded
random ones (speed, memory, GFLOPs and parity do not depend on them; the task metrics of random heads are
not meaningful, and the table's assumptions say so). Tiny and small test variants are left out of the real
matrix, and of models registered under several names (``clay_v1`` = ``clay_base``) the first is kept.
The comparison resumes: run it again with the same ``--out`` and only missing or failed cells are done.
``--quick`` runs the same code on two tiny models at 64 px in a few minutes, to check it works.

    python benchmarks/compare_matrix.py                    # the real matrix (long: run it on a quiet machine)
    python benchmarks/compare_matrix.py --quick --out /tmp/cmp_quick
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import rasterio

from trtbench.cli import main as trtbench_main

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("TRTBENCH_SHARED_DATA", REPO.parent / "shared" / "data"))
FLOODS = SHARED_DATA / "sen1floods11"
BACKENDS = ("torch", "onnxruntime", "openvino")
PRECISIONS = ("fp32", "fp16", "int8", "bf16")   # bf16 cells say why where the CPU lacks AMX/AVX512-BF16
QUICK_MODELS = ("clay_tiny", "unet_small")
TEST_VARIANTS = ("tiny", "small", "vit_tiny", "resnet_tiny")   # test-sized variants


def real_models() -> list[str]:
    """Clay base, the UNet, then every other registered model once, without the test-sized variants."""
    from trtbench.models import list_models
    from trtbench.models.registry import get_spec

    seen, names = set(), []
    for name in ["clay_base", "unet", *list_models()]:
        spec = get_spec(name)
        if spec.facts.variant in TEST_VARIANTS or (spec.family, spec.facts.variant) in seen:
            continue
        seen.add((spec.family, spec.facts.variant))
        names.append(name)
    return names


def write_chip_folder(root: Path) -> Path:
    """images/spain.tif and masks/spain.tif: the real flood chip and its hand label (linked, not copied)."""
    for sub, name in (("images", "Spain_7370579_S2Hand.tif"), ("masks", "Spain_7370579_LabelHand.tif")):
        (root / sub).mkdir(parents=True, exist_ok=True)
        link = root / sub / "spain.tif"
        if not link.exists():
            link.symlink_to(FLOODS / name)
    with rasterio.open(root / "images" / "spain.tif") as ds:   # fail here, not in every cell, if the data is missing
        assert ds.count == 13, f"{FLOODS} does not hold the 13-band Sen1Floods11 chip"
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Two tiny models at 64 px, batch 1 and 2, one round.")
    parser.add_argument("--out", type=Path, default=Path("compare_matrix_out"), help="Output folder (resumable).")
    parser.add_argument("--models", help="Comma-separated registry names instead of the matrix's models.")
    parser.add_argument("--rounds", type=int, default=2, help="Interleaved timing rounds (real matrix).")
    parser.add_argument("--scheduler", help="Dask scheduler address for the exports and accuracy cells.")
    args = parser.parse_args()
    chips = write_chip_folder(args.out / "chips")
    models = args.models or ",".join(QUICK_MODELS if args.quick else real_models())
    size, batches, timing = ("64", "1,2", ["--rounds", "1", "--min-iters", "2", "--min-time", "0"]) if args.quick \
        else ("224", "1,8", ["--rounds", str(args.rounds), "--min-iters", "3", "--min-time", "0.5"])
    argv = ["compare", "--models", models, "--data", str(chips), "--sensor", "sentinel-2-l1c",
            "--backends", ",".join(BACKENDS), "--precisions", ",".join(PRECISIONS), "--batch", batches,
            "--input-size", size, *timing, "-o", str(args.out / "cmp")]
    if args.scheduler:
        argv += ["--scheduler", args.scheduler]
    print("trtbench " + " ".join(argv), flush=True)
    sys.argv = ["trtbench", *argv]
    trtbench_main()   # prints the table (results.md) and the files written


if __name__ == "__main__":
    main()
