"""segzoo.train under torchrun: 2 CPU processes with Gloo.

One ``torchrun --standalone --nproc_per_node 2`` launch runs this file as a worker (``__main__`` below), which
(1) evaluates a fixed model on 7 validation samples (not divisible by 2) and (2) trains for a few iterations with the
encoder frozen at first, while an audit hook on rank 1 records every file it writes under the run directory. The
tests compare with a 1-process evaluation in this process and inspect what the run wrote.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

MODEL = dict(architecture="unet", encoder="mobilenetv3_small_050", decoder_channels=[64, 32, 16, 16, 8])
VAL_LENGTH = 7  # odd: a padded sampler would count a sample twice


def _model():
    import segzoo

    torch.manual_seed(0)
    options = {k: v for k, v in MODEL.items() if k not in ("architecture", "encoder")}
    return segzoo.create(MODEL["architecture"], encoder=MODEL["encoder"], num_classes=3, **options)


def _val_samples():
    import segzoo
    from segzoo.train.data import SeededSamples, eval_transform

    ds = segzoo.create_dataset("shapes", None, "val", length=VAL_LENGTH, size=[64, 96])
    return SeededSamples(ds, eval_transform([0.485, 0.456, 0.406], [0.229, 0.224, 0.225], 3))


def _train_config(run_dir: Path):
    from segzoo.train import TrainConfig

    return TrainConfig(
        architecture=MODEL["architecture"],
        encoder=MODEL["encoder"],
        model_options={"decoder_channels": MODEL["decoder_channels"]},
        dataset="shapes",
        dataset_options={"length": 18},
        val_dataset_options={"length": 5},
        crop_size=64,
        batch_size=2,
        epochs=2,
        freeze_encoder_iters=2,
        checkpoint_every=3,
        lr=0.02,
        output=str(run_dir),
        seed=1,
    )


# -- the worker (run by torchrun) --------------------------------------------------------------------------------------
def _worker(out: Path) -> None:
    import torch.distributed as dist

    from segzoo.train import Trainer, evaluate

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method="env://")
    rank = dist.get_rank()

    # (1) evaluation
    samples = _val_samples()
    cm = evaluate(_model(), samples, num_classes=3, ignore_index=255)
    from segzoo.train.data import EvalSampler

    mine = list(EvalSampler(len(samples), rank=rank, world_size=dist.get_world_size()))
    torch.save({"matrix": cm.matrix, "indices": mine}, out / f"eval-rank{rank}.pt")

    # (2) training; rank 1 must not write anything in the run directory
    run_dir = (out / "run").resolve()
    writes: list[str] = []
    if rank == 1:

        def audit(event, args):
            if event == "open":
                path, mode, flags = args
                writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                    mode is None and isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
                )
                paths = [path] if writing else []
            elif event in ("os.rename", "os.remove", "os.mkdir", "os.rmdir", "shutil.rmtree", "os.truncate"):
                paths = [a for a in args[:2] if isinstance(a, (str, bytes, os.PathLike))]
            else:
                return
            for p in paths:
                if isinstance(p, (str, os.PathLike)) and str(Path(os.fspath(p)).resolve()).startswith(str(run_dir)):
                    writes.append(f"{event} {p}")

        sys.addaudithook(audit)
    encoder_after_unfreeze = []

    def watch(trainer, event):
        if event == "step" and trainer.state.iteration == 2:
            encoder_after_unfreeze.append({k: v.clone() for k, v in trainer.model.encoder.state_dict().items()})

    trainer = Trainer(_train_config(run_dir), callbacks=[watch])
    summary = trainer.fit()
    report = {
        "rank": rank,
        "writes": writes,
        "summary_iterations": summary["iterations"],
        "encoder_changed_after_unfreeze": any(
            not torch.equal(v, encoder_after_unfreeze[0][k])
            for k, v in trainer.model.encoder.state_dict().items()
            if "running" not in k
        ),
    }
    torch.save(trainer.model.state_dict(), out / f"weights-rank{rank}.pt")
    (out / f"report-rank{rank}.json").write_text(json.dumps(report))
    dist.barrier()
    dist.destroy_process_group()


# -- the tests ---------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def launched(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        __file__,
        "--worker",
        str(out),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return out, proc


def test_two_process_evaluation_equals_one_process(launched):
    from segzoo.train import evaluate

    out, _ = launched
    r0, r1 = (torch.load(out / f"eval-rank{r}.pt") for r in (0, 1))
    assert sorted(r0["indices"] + r1["indices"]) == list(range(VAL_LENGTH)) and len(r0["indices"]) == 4
    torch.set_num_threads(1)
    single = evaluate(_model(), _val_samples(), num_classes=3, ignore_index=255)
    assert torch.equal(r0["matrix"], single.matrix) and torch.equal(r1["matrix"], single.matrix)
    assert int(single.matrix.sum()) == VAL_LENGTH * 64 * 96  # every pixel of every sample exactly once


def test_two_process_training_writes_only_from_rank_zero(launched):
    from segzoo.train.checkpoint import load_checkpoint

    out, _ = launched
    run = out / "run"
    reports = [json.loads((out / f"report-rank{r}.json").read_text()) for r in (0, 1)]
    assert reports[1]["writes"] == [], reports[1]["writes"]
    # 18 samples / 2 processes / batch 2 = 4 iterations per epoch, 2 epochs
    assert [r["summary_iterations"] for r in reports] == [8, 8]
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [(r["epoch"], r["iteration"]) for r in lines] == [(1, 4), (2, 8)]  # once each, not once per process
    assert sum(lines[0]["val"]["support"]) == 5 * 64 * 64
    for name in (
        "config.json",
        "checkpoint-last.pt",
        "checkpoint-best.pt",
        "best",
        "final",
        "curves.png",
        "summary.json",
    ):
        assert (run / name).exists(), name
    ckpt = load_checkpoint(run / "checkpoint-last.pt")
    assert ckpt["world_size"] == 2 and len(ckpt["ranks"]) == 2 and ckpt["trainer"]["iteration"] == 8
    # DDP kept the replicas identical, also for the encoder after it was unfrozen (DDP is rebuilt then)
    w0, w1 = (torch.load(out / f"weights-rank{r}.pt") for r in (0, 1))
    for k in w0:  # BatchNorm statistics too: rank 0's are broadcast before every evaluation
        assert torch.equal(w0[k], w1[k]), k
        assert torch.equal(w0[k], ckpt["model"][k]), k
    assert all(r["encoder_changed_after_unfreeze"] for r in reports)


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--worker":
    _worker(Path(sys.argv[2]))
