"""`segzoo eval` under torchrun: 2 CPU processes (Gloo) on real CamVid val give exactly the metrics of one process.

Each rank scores images rank, rank + 2, ... of the first 5 (odd, so the shares differ) and the confusion matrices are
summed with all_reduce; the timing keeps each rank's own numbers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
CAMVID = Path(os.environ.get("SEGZOO_DATA", ROOT.parent / "shared" / "datasets")) / "camvid"
CHECKPOINT = ROOT / "checkpoints" / "fcn-mobilenetv3-camvid"
LIMIT = 5

pytestmark = pytest.mark.skipif(not (CAMVID / "valannot").is_dir(), reason=f"CamVid not found at {CAMVID}")


def _args(out: Path) -> list[str]:
    return [
        "eval",
        str(CHECKPOINT),
        "--dataset",
        "camvid",
        "--root",
        str(CAMVID),
        "--split",
        "val",
        "--limit",
        str(LIMIT),
        "--engine",
        "eager",
        "--no-progress",
        "--json",
        str(out),
    ]


@pytest.mark.slow
def test_two_processes_give_the_single_process_metrics(tmp_path):
    import segzoo
    from segzoo.cli import main

    if "fcn" not in segzoo.list_architectures():
        pytest.skip("segzoo-fcn is not installed")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "segzoo",
        *_args(tmp_path / "two.json"),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.count("mIoU ") == 1  # rank 0 alone reports

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each torchrun process: same kernels, same rounding
    try:
        assert main(_args(tmp_path / "one.json")) == 0
    finally:
        torch.set_num_threads(threads)
    two, one = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("two", "one"))
    assert two["images"] == one["images"] == LIMIT
    assert two["metrics"] == one["metrics"]  # every count and every ratio, exactly
    assert sum(two["metrics"]["support"]) == sum(one["metrics"]["support"]) > 0
    ranks = two["timing"]["ranks"]
    assert [(r["rank"], r["images"]) for r in ranks] == [(0, 3), (1, 2)]
    assert two["timing"]["wall_s"] == max(r["wall_s"] for r in ranks)
    assert "ranks" not in one["timing"]
