"""Load time and peak memory of a cached mmseg catalog entry against mmseg's ``init_model`` with its checkpoint.

    python benchmarks/bench_load_mmseg.py --model pspnet-r50-d8-40k-cityscapes-512x1024 --repeat 5

One random checkpoint in mmseg's format (``state_dict`` + ``meta``) is written once; each side then loads it from a
warm local cache in a fresh process, interleaved: mmseg through ``mmseg.apis.init_model(config, checkpoint)`` (its
CPU twin, :mod:`segzoo.testing.mmseg`), segzoo through ``segzoo.load(name)`` with HF_HUB_OFFLINE=1 (the converted
safetensors in segzoo's cache, as after a first download). Library imports are not part of the load.
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

CHILD = r"""
import json, re, sys, time
def status_mb(field):
    return int(re.search(field + r":\s+(\d+)", open("/proc/self/status").read()).group(1)) / 1024
side, name, config, checkpoint = sys.argv[1:5]
import torch, timm, segzoo
from segzoo.testing.mmseg import load_config
cfg = load_config(config)  # parsing the config is mmseg's catalog lookup; it also installs the mmcv stand-in
import mmseg.apis
segzoo.list_models()
before = status_mb("VmRSS")
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
start = time.perf_counter()
if side == "mmseg":
    model = mmseg.apis.init_model(cfg, checkpoint, device="cpu")
else:
    model = segzoo.load(name)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "peak_growth_mb": status_mb("VmHWM") - before,
                  "params": sum(p.numel() for p in model.parameters())}))
"""


def prepare(name: str, root: Path) -> tuple[dict[str, str], str, str]:
    """A random mmseg checkpoint, and segzoo's converted cache of it; returns (environment, config, checkpoint)."""
    import torch

    import segzoo
    from segzoo.hub import converted, download, loading, trust
    from segzoo.testing.mmseg import build_twin, load_config, randomize_

    entry = segzoo.info(name)
    config = entry["upstream"]["config"].removeprefix("configs/").removesuffix(".py")
    twin = randomize_(build_twin(load_config(config)))
    checkpoint = root / Path(entry["weights"]["url"]).name
    torch.save({"state_dict": twin.state_dict(), "meta": {}}, checkpoint)
    env = {**os.environ, "SEGZOO_CACHE": str(root / "segzoo"), "HF_HOME": str(root / "hf"), "HF_HUB_OFFLINE": "1"}
    os.environ.update(SEGZOO_CACHE=env["SEGZOO_CACHE"])
    actual = download.file_sha256(checkpoint)  # random weights: trusted on first use in this throw-away cache
    trust.check_or_remember(entry["weights"]["url"], actual, what=name)
    state = loading.converter_for(entry)(loading._read_pickle(checkpoint, name), entry)
    converted.store(
        state, name, source_sha256=actual, origin=str(checkpoint), converter=converted.converter_version(entry)
    )
    return env, config, str(checkpoint)


def run(side: str, name: str, config: str, checkpoint: str, env: dict[str, str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, side, name, config, checkpoint], env=env, capture_output=True, text=True
    )
    if out.returncode:
        raise SystemExit(f"the {side} side failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="pspnet-r50-d8-40k-cityscapes-512x1024", help="an mmseg catalog entry")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="segzoo-bench-load-mmseg-") as tmp:
        env, config, checkpoint = prepare(args.model, Path(tmp))
        results: dict[str, list[dict]] = {"mmseg": [], "segzoo": []}
        for _ in range(args.repeat):  # interleaved, so machine noise hits both sides alike
            for side in results:
                results[side].append(run(side, args.model, config, checkpoint, env))
    summary = {
        side: {
            "seconds": statistics.median(r["seconds"] for r in rs),
            "peak_growth_mb": statistics.median(r["peak_growth_mb"] for r in rs),
            "params": rs[0]["params"],
        }
        for side, rs in results.items()
    }
    mm, sz = summary["mmseg"], summary["segzoo"]
    print(
        f"{args.model}: mmseg {mm['params']:,} parameters (with the auxiliary head), segzoo {sz['params']:,}; "
        f"median of {args.repeat}, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'':<8} {'load s':>8} {'peak RSS growth MB':>20}")
    for side, s in summary.items():
        print(f"{side:<8} {s['seconds']:>8.3f} {s['peak_growth_mb']:>20.0f}")
    print(
        f"segzoo load time / mmseg: {sz['seconds'] / mm['seconds']:.2f}x; "
        f"peak memory / mmseg: {sz['peak_growth_mb'] / mm['peak_growth_mb']:.2f}x"
    )


if __name__ == "__main__":
    main()
