"""Count every registered model's GFLOPs at its input size and write ``trtbench/models/gflops.json``.

``trtbench models`` reads the counts from that file (counting them all takes minutes); run this after a model
is registered or its input size changes. Counts are :func:`trtbench.models.command.count_gflops`'s
(``trtbench flops NAME --sensor S``, on Sentinel-2 L1C where the model takes it). Models already counted at the same input size are kept
unless ``--all`` is given; the file is replaced atomically, keyed by ``name@input_size``.

    python scripts/count_model_gflops.py           # count the missing ones
    python scripts/count_model_gflops.py --all     # recount everything
"""

from __future__ import annotations

import argparse
import json
import time

from trtbench.fileio import atomic_output
from trtbench.models import list_models
from trtbench.models.build import parameter_count
from trtbench.models.command import GFLOPS_FILE, cached_gflops, count_gflops, gflops_key
from trtbench.models.registry import get_spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="Recount the models already in the file too.")
    args = parser.parse_args()
    counts = {} if args.all else cached_gflops()
    wanted = {gflops_key(name): name for name in list_models()}
    counts = {key: value for key, value in counts.items() if key in wanted}   # drop models no longer registered
    # smallest first: an interrupted run has counted as many models as it could
    for key, name in sorted(wanted.items(), key=lambda item: parameter_count(item[1])):
        if key in counts:
            continue
        spec = get_spec(name)
        twin = next((k for k, n in wanted.items() if k in counts and get_spec(n).facts == spec.facts), None)
        start = time.perf_counter()
        counts[key] = counts[twin] if twin else count_gflops(name)   # an alias (clay_v1 = clay_base): one count
        print(f"{key}: {counts[key]['gflops']:.3f} GFLOPs on {counts[key]['sensor']} "
              f"({time.perf_counter() - start:.1f} s)", flush=True)
        with atomic_output(GFLOPS_FILE) as tmp:   # after each model: an interrupted run keeps what it counted
            tmp.write_text(json.dumps(dict(sorted(counts.items())), indent=1) + "\n")
    print(f"{len(counts)} models in {GFLOPS_FILE}")


if __name__ == "__main__":
    main()
