#!/usr/bin/env bash
# The main job end to end on the bundled real Sentinel-2 flood chip, on the CPU:
# environment check -> export Clay (base, seeded random init, 13 S2 L1C bands, 2-class water head) to ONNX
# -> eval against PyTorch with the hand label -> a short Markdown report in demo_out/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
mkdir -p demo_out
trtbench doctor
trtbench export clay --variant base --random-init --sensor sentinel-2-l1c \
    --task segmentation --num-classes 2 --input-size 256 -o demo_out/clay_base_water.onnx
trtbench eval --engine demo_out/clay_base_water.onnx \
    --data samples/sen1floods11/Spain_7370579_S2Hand.tif --labels samples/sen1floods11/Spain_7370579_LabelHand.tif \
    --json demo_out/eval.json --markdown demo_out/eval.md
echo
cat demo_out/eval.md
