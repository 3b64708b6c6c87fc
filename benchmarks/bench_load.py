"""Load time and peak memory of a cached catalog model against torchvision loading its own cached checkpoint.

    python benchmarks/bench_load.py --model deeplabv3-resnet50 --repeat 5

Both sides load the same random weights from a warm local cache, each in a fresh process, measured in the same run:
torchvision through its real weights API (file in TORCH_HOME's hub cache), segzoo through ``segzoo.load(name)``
with HF_HUB_OFFLINE=1 (the converted safetensors in segzoo's cache). Peak memory is the process's peak RSS growth
during the load. segzoo builds on the meta device and assigns the loaded tensors, so it holds one copy of the
weights where torchvision holds two (random init + the loaded checkpoint).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _upstream import TORCHVISION  # noqa: E402

CHILD = r"""
import json, re, sys, time
def status_mb(field):  # VmRSS: now; VmHWM: peak since the last reset
    return int(re.search(field + r":\s+(\d+)", open("/proc/self/status").read()).group(1)) / 1024
side, name, builder, weights = sys.argv[1:5]
import torch, torchvision, timm  # library imports are not part of the load
import segzoo
segzoo.list_models()
before = status_mb("VmRSS")
with open("/proc/self/clear_refs", "w") as f:  # reset the peak (ru_maxrss would include the parent's)
    f.write("5")
start = time.perf_counter()
if side == "torchvision":
    from torchvision.models import segmentation
    model = getattr(segmentation, builder)(weights=getattr(segmentation, weights).COCO_WITH_VOC_LABELS_V1)
else:
    model = segzoo.load(name)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "peak_growth_mb": status_mb("VmHWM") - before,
                  "params": sum(p.numel() for p in model.parameters())}))
"""


def prepare(name: str, root: Path) -> dict[str, str]:
    """Write one random checkpoint into both caches; return the environment both children run with."""
    import torch
    from torchvision.models import segmentation

    import segzoo
    from segzoo.hub import converted, download, loading, trust

    builder, weights_enum = TORCHVISION[name]
    weights = getattr(segmentation, weights_enum).COCO_WITH_VOC_LABELS_V1
    model = getattr(segmentation, builder)(
        weights=None, weights_backbone=None, num_classes=21, aux_loss=True if "lraspp" not in builder else None
    )
    hub_dir = root / "torch" / "hub" / "checkpoints"
    hub_dir.mkdir(parents=True)
    pth = hub_dir / Path(weights.url).name
    torch.save(model.state_dict(), pth)
    env = {
        **os.environ,
        "TORCH_HOME": str(root / "torch"),
        "SEGZOO_CACHE": str(root / "segzoo"),
        "HF_HOME": str(root / "hf"),
        "HF_HUB_OFFLINE": "1",
    }
    os.environ.update(SEGZOO_CACHE=env["SEGZOO_CACHE"])
    entry = segzoo.info(name)
    actual = download.file_sha256(pth)  # random weights: trusted on first use in this throw-away cache
    trust.check_or_remember(entry["weights"]["url"], actual, what=name)
    state = loading.converter_for(entry)(loading._read_pickle(pth, name), entry)
    converted.store(state, name, source_sha256=actual, origin=str(pth), converter=converted.converter_version(entry))
    return env


def run(side: str, name: str, env: dict[str, str]) -> dict:
    builder, weights_enum = TORCHVISION[name]
    out = subprocess.run(
        [sys.executable, "-c", CHILD, side, name, builder, weights_enum],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="deeplabv3-resnet50", choices=sorted(TORCHVISION))
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="segzoo-bench-load-") as tmp:
        env = prepare(args.model, Path(tmp))
        results: dict[str, list[dict]] = {"torchvision": [], "segzoo": []}
        for _ in range(args.repeat):  # interleaved, so machine noise hits both sides alike
            for side in results:
                results[side].append(run(side, args.model, env))
    summary = {
        side: {
            "seconds": statistics.median(r["seconds"] for r in rs),
            "peak_growth_mb": statistics.median(r["peak_growth_mb"] for r in rs),
            "params": rs[0]["params"],
        }
        for side, rs in results.items()
    }
    tv, sz = summary["torchvision"], summary["segzoo"]
    assert tv["params"] == sz["params"], "the two models differ in size"
    weights_mb = tv["params"] * 4 / 2**20
    print(f"{args.model}: {tv['params']:,} parameters ({weights_mb:.0f} MB fp32), median of {args.repeat}")
    print(f"{'':<12} {'load s':>8} {'peak RSS growth MB':>20}")
    for side, s in summary.items():
        print(f"{side:<12} {s['seconds']:>8.3f} {s['peak_growth_mb']:>20.0f}")
    print(
        f"segzoo load time / torchvision: {sz['seconds'] / tv['seconds']:.2f}x; "
        f"peak memory / torchvision: {sz['peak_growth_mb'] / tv['peak_growth_mb']:.2f}x"
    )


if __name__ == "__main__":
    main()
