"""Train, evaluate and export segzoo's first-party DRIVE U-Net (``checkpoints/unet-classic16-drive/``).

A narrow classic U-Net (BatchNorm, 16..256 channels, bilinear up-sampling, 1.8M parameters) trained from scratch on
16 of the 20 DRIVE training images (21-36) with ``segzoo train --config configs/unet-classic16-drive.json``; images
37-40 are held out for validation, since the DRIVE test split is not available where it was trained. The exported
weights are the last ones (no checkpoint selection on the held-out images), stored as float16. Public API only.

    python scripts/train_drive_unet.py              # train, then export
    python scripts/train_drive_unet.py export --catalog /tmp/drive.json
    python scripts/train_drive_unet.py command      # print the segzoo train command
    python scripts/train_drive_unet.py cv           # 5-fold cross-validation of the recipe over the 20 images

Options: ``--data-root`` (default ../shared/datasets/drive, the official DRIVE layout), ``--runs`` (default
runs/drive), ``--out`` (default checkpoints), ``--threads`` (1: on 2 shared cores one thread was faster than two),
``--folds`` and ``--parallel`` (cv).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NAME = "unet-classic16-drive"
RECIPE = ROOT / "configs" / f"{NAME}.json"
HELD_OUT = "train[16:]"
LICENSE = "research use only (DRIVE: Staal et al. 2004, distributed for research and benchmarking)"
PROTOCOL = (
    "DRIVE training images 37-40 (4 images held out of training; the DRIVE test split was not available), single "
    "scale, whole image at the native 565x584, zero-padded to a multiple of 16, vessel Dice and mIoU over all pixels "
    "(as mmsegmentation reports DRIVE: the entry's eval_options fov_as_ignore=false, which segzoo eval applies); "
    "float16-stored weights run in float32"
)
DESCRIPTION = (
    "Classic U-Net (BatchNorm, 16-256 channels, bilinear up-sampling) trained from scratch by segzoo on 16 DRIVE "
    "training images, 128x128 crops, cross-entropy + Dice, in 35 minutes of one CPU core"
)


def recipe() -> dict[str, Any]:
    return json.loads(RECIPE.read_text())


def command(args: argparse.Namespace, output: Path | None = None, splits: tuple[str, str] | None = None) -> list[str]:
    """The ``segzoo train`` command of the recipe; ``splits`` (train, val) and ``output`` replace the recipe's."""
    return [
        sys.executable,
        "-m",
        "segzoo.train",
        "--config",
        str(RECIPE.relative_to(ROOT)),
        "--data-root",
        args.data_root,
        *(["--train-split", splits[0], "--val-split", splits[1]] if splits else []),
        "--threads",
        str(args.threads),
        "-o",
        str(output or Path(args.runs) / NAME),
        "--resume",
        "auto",
        "--quiet",
    ]


def eval_command(directory: Path, data_root: str, *, fov: bool = False, split: str = HELD_OUT) -> list[str]:
    """``segzoo eval`` on held-out images: over all pixels (mmseg's DRIVE numbers), or inside the FOV only."""
    return [
        "segzoo",
        "eval",
        str(directory),
        "--dataset",
        "drive",
        "--root",
        data_root,
        "--split",
        split,
        "--engine",
        "eager",
        "--precision",
        "fp32",
        *([] if fov else ["--dataset-option", "fov_as_ignore=false"]),
    ]


def segzoo_eval(
    directory: Path, args: argparse.Namespace, json_path: Path, *, fov: bool = False, split: str = HELD_OUT
) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "segzoo", *eval_command(directory, args.data_root, fov=fov, split=split)[1:]]
    cmd += ["--json", str(json_path), "--no-progress", "--num-workers", "0"]
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return json.loads(json_path.read_text())["metrics"]


def _pct(v: float) -> float:
    return round(100 * v, 2)


def export(args: argparse.Namespace) -> dict[str, Any]:
    """Write ``checkpoints/unet-classic16-drive/`` (float16 weights, model card, curves) and its catalog entry."""
    import torch

    import segzoo

    torch.set_num_threads(args.threads)
    run = Path(args.runs) / NAME
    model = segzoo.load(run / "final").float().eval()
    pre = model.transforms()
    kept = {k: v for k, v in pre.as_dict().items() if v is not None}  # no resize: whole images at 565x584
    preprocessing = {**kept, "ignore_index": 255, "reduce_zero_label": False}
    for key, tensor in model.state_dict().items():
        if tensor.is_floating_point() and tensor.abs().max() > 6e4:
            raise SystemExit(f"{key} exceeds the float16 range")
    ds = segzoo.create_dataset("drive", args.data_root, "train")
    half = copy.deepcopy(model).half()
    half.config.update(name=NAME, class_names=list(ds.classes), preprocessing=preprocessing, license=LICENSE)
    target = Path(args.out) / NAME
    half.save_pretrained(target, model_card="(written below)\n")
    weights = target / "model.safetensors"
    shutil.copyfile(run / "curves.png", target / "curves.png")

    every = segzoo_eval(target, args, run / "eval-all-pixels.json")
    fov = segzoo_eval(target, args, run / "eval-fov.json", fov=True)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    evals = [r for r in records if "val" in r]
    summary = json.loads((run / "summary.json").read_text())
    r = {
        "Dice": _pct(every["dice"][1]),
        "mDice": _pct(every["mDice"]),
        "mIoU": _pct(every["mIoU"]),
        "Dice_fov": _pct(fov["dice"][1]),
        "params": sum(p.numel() for p in model.parameters()),
        "size_bytes": weights.stat().st_size,
        "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
        "iterations": summary["iterations"],
        "train_s": round(records[-1]["time"] - sum(x.get("eval_time", 0.0) for x in records)),
        "curve": [(x["iteration"], _pct(x["val"]["dice"][1])) for x in evals],
        "eval_command": shlex.join(eval_command(Path("checkpoints") / NAME, "../shared/datasets/drive")),
    }
    (target / "README.md").write_text(model_card(r))
    (run / "results.json").write_text(json.dumps(r, indent=2) + "\n")
    entry = catalog_entry(r, list(ds.classes), preprocessing)
    if args.catalog:
        Path(args.catalog).write_text(json.dumps({"schema_version": 1, "models": [entry]}, indent=2) + "\n")
    print(
        f"[{NAME}] held-out vessel Dice {r['Dice']} (all pixels), {r['Dice_fov']} (FOV), mIoU {r['mIoU']}, "
        f"{r['size_bytes'] / 1e6:.2f} MB",
        flush=True,
    )
    return r


def fold_splits(fold: int, folds: int, n: int = 20) -> tuple[str, str]:
    """(train, held-out) splits of fold ``fold`` of ``folds`` over DRIVE's ``n`` training images in their sorted
    order; the last fold is the recipe's own (``train[:16]`` / ``train[16:]`` for 5 folds)."""
    a, b = fold * n // folds, (fold + 1) * n // folds
    held = f"train[{a}:]" if b == n else f"train[{a}:{b}]"
    parts = [p for p in (f":{a}" if a else "", f"{b}:" if b < n else "") if p]
    return f"train[{','.join(parts)}]", held


def cross_validate(args: argparse.Namespace) -> dict[str, Any]:
    """Train the recipe once per fold (``--parallel`` folds at a time, ``--threads`` each), score each fold's last
    weights on its held-out images, and pool the folds: every training image is scored once, by a model that never
    saw it. The pooled vessel Dice (sums of the folds' pixel counts, as mmseg pools a test set) estimates what the
    recipe scores on unseen images with 20 images instead of 4."""
    root = Path(args.runs) / "cv"
    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    todo = [(f, fold_splits(f, args.folds)) for f in range(args.folds)]
    running: list[subprocess.Popen] = []
    finished: list[subprocess.Popen] = []
    for fold, splits in todo:
        while len(running) >= args.parallel:
            finished.append(running.pop(0))
            finished[-1].wait()
        print(f"[cv] fold {fold + 1}/{args.folds}: train {splits[0]}, held out {splits[1]}", flush=True)
        running.append(subprocess.Popen(command(args, root / f"fold-{fold}", splits), cwd=ROOT, env=env))
    failed = [shlex.join(map(str, p.args)) for p in finished + running if p.wait() != 0]
    if failed:
        raise SystemExit("a fold's training failed (rerun cv to resume it): " + "; ".join(failed))
    folds, tp, gt, pred = [], 0.0, 0.0, 0.0
    for fold, (train, held) in todo:
        m = segzoo_eval(root / f"fold-{fold}" / "final", args, root / f"fold-{fold}" / "eval.json", split=held)
        # vessel pixels: labelled (support), found (recall x support), predicted (found / precision)
        found = m["recall"][1] * m["support"][1]
        tp, gt, pred = tp + found, gt + m["support"][1], pred + found / m["precision"][1]
        folds.append(
            {"fold": fold, "train": train, "held_out": held, "Dice": _pct(m["dice"][1]), "mIoU": _pct(m["mIoU"])}
        )
    result = {
        "recipe": str(RECIPE.relative_to(ROOT)),
        "folds": folds,
        "pooled_Dice": _pct(2 * tp / (gt + pred)),
        "mean_fold_Dice": round(sum(f["Dice"] for f in folds) / len(folds), 2),
    }
    (root / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    print("| fold | trained on | held out | vessel Dice | mIoU |\n|---|---|---|---:|---:|")
    for f in folds:
        print(f"| {f['fold'] + 1} | `{f['train']}` | `{f['held_out']}` | {f['Dice']:.2f} | {f['mIoU']:.2f} |")
    print(
        f"pooled vessel Dice over all {args.folds} folds: {result['pooled_Dice']:.2f} "
        f"(mean of folds {result['mean_fold_Dice']:.2f})"
    )
    return result


def catalog_entry(r: dict[str, Any], classes: list[str], preprocessing: dict[str, Any]) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "scripts"))
    from generate_mmseg_catalog import EVAL_OPTIONS  # DRIVE's scoring protocol, shared with the mmseg entries

    t = recipe()
    return {
        "name": NAME,
        "description": DESCRIPTION,
        "architecture": t["architecture"],
        "encoder": t["encoder"],
        "options": t["model_options"],
        "requires": "segzoo-unet",
        "num_classes": len(classes),
        "class_names": classes,
        "preprocessing": preprocessing,
        "dataset": {
            "name": "DRIVE",
            "train": "DRIVE training images 21-36 (16 images)",
            "eval": "DRIVE training images 37-40 (4 images held out)",
            "eval_split": HELD_OUT,
            "eval_options": EVAL_OPTIONS["DRIVE"],
        },
        "metrics": {
            "values": {"mIoU": r["mIoU"], "mDice": r["mDice"], "Dice": r["Dice"]},
            "source": f"{r['eval_command']} (weights trained from scratch by segzoo scripts/train_drive_unet.py: "
            f"segzoo train, {r['iterations']} iterations of {t['batch_size']} crops {t['crop_size'][0]}x"
            f"{t['crop_size'][1]} on one CPU core; see the model card)",
            "protocol": PROTOCOL,
        },
        "inference": {"mode": "whole"},
        "training": {
            "crop_size": t["crop_size"],
            "iterations": r["iterations"],
            "batch_size": t["batch_size"],
            "resources": f"one core of a shared 2-core CPU, {r['train_s'] / 60:.0f} minutes",
        },
        "license": LICENSE,
        "paper": {
            "title": "U-Net: Convolutional Networks for Biomedical Image Segmentation",
            "url": "https://arxiv.org/abs/1505.04597",
        },
        "weights": {
            "format": "segzoo",
            "hub": {"repo_id": f"segzoo/{NAME}", "filename": "model.safetensors", "revision": "main"},
            "sha256": r["sha256"],
            "size": r["size_bytes"],
            "dtype": "float16",
        },
    }


def model_card(r: dict[str, Any]) -> str:
    t = recipe()
    curve = ", ".join(f"{it}: {d:.1f}" for it, d in r["curve"])
    return f"""---
library_name: segzoo
pipeline_tag: image-segmentation
license: other
tags: [segzoo, semantic-segmentation, unet, retinal-vessels, drive]
datasets: [drive]
---

# {NAME}

{DESCRIPTION}.

`unet-original` with encoder `unet-classic-bn` (`base_channels` 16: 16, 32, 64, 128, 256 channels), bilinear
up-sampling, a 1x1 convolution head; 2 classes (background, vessel); {r["params"] / 1e6:.2f}M parameters, stored as
float16 ({r["size_bytes"] / 1e6:.2f} MB; `segzoo.load` casts them to float32). Needs `pip install segzoo segzoo-unet`.

```python
import segzoo
from PIL import Image
model = segzoo.load("checkpoints/{NAME}")   # or the catalog name once published
x = model.transforms()(Image.open("01_test.tif").convert("RGB"))[None]   # the whole 565x584 image, normalised
mask = model.predict(x)[0]                 # (584, 565): 1 = vessel (predict pads to the input divisor)
```

## Results (DRIVE training images 37-40, held out)

| metric | value |
|---|---|
| vessel Dice, all pixels (mmseg's DRIVE "Dice") | {r["Dice"]:.2f} |
| mean Dice, all pixels (mmseg's "mDice") | {r["mDice"]:.2f} |
| mIoU, all pixels | {r["mIoU"]:.2f} |
| vessel Dice inside the field of view (the DRIVE protocol) | {r["Dice_fov"]:.2f} |

Protocol: {PROTOCOL}. Four images are a small sample: expect a few points either way on the 20 test images
(mmsegmentation's U-Net S5-D16 reports 78.67 to 79.42 vessel Dice there, with 16x the parameters and 40k
iterations of 16 crops on GPUs). Reproduce:

```console
{r["eval_command"]}
```

## Training

From scratch, with segzoo's trainer: {r["iterations"]} iterations of batch {t["batch_size"]} random
{t["crop_size"][0]}x{t["crop_size"][1]} crops (random scale {t["scale_range"][0]}-{t["scale_range"][1]}, horizontal
flip) of images 21-36, AdamW (lr {t["lr"]}, weight decay {t["weight_decay"]}), {t["warmup_iters"]} warm-up iterations
then poly decay, loss cross-entropy + 3 x Dice (mmseg's best DRIVE recipe), every pixel labelled (no FOV masking,
as mmseg), {t["precision"]} autocast, images decoded once (`cache_decoded`), seed {t["seed"]}, on one core of a shared
2-core CPU: {r["train_s"] / 60:.0f} minutes of training. Validation vessel Dice on the held-out images, all pixels, by
iteration: {curve}. The exported weights are the last ones.

![training curves: loss and validation](curves.png)

```console
segzoo train --config configs/{NAME}.json
```

## Preprocessing and inference

RGB in 0..1, normalised with ImageNet's mean and std (the trainer's default); no resize: whole images at DRIVE's
565x584, padded to a multiple of 16 (the catalog entry says `inference: whole`).

## License

DRIVE is distributed by its authors for research purposes; the weights inherit that: **{LICENSE}**. Cite Staal et
al., IEEE TMI 23(4), 2004.

## Limitations

One run (seed 0), validated on 4 images. Trained on DRIVE's 565x584 colour fundus images (Canon CR5, 45 degree
field of view) only: other cameras, resolutions or pathologies need fine-tuning.
"""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("action", nargs="?", default="all", choices=["all", "train", "export", "command", "cv"])
    p.add_argument("--data-root", default=str(ROOT.parent / "shared" / "datasets" / "drive"))
    p.add_argument("--runs", default=str(ROOT / "runs" / "drive"))
    p.add_argument("--out", default=str(ROOT / "checkpoints"))
    p.add_argument("--catalog", default=None, help="write the catalog entry there (a registry.json fragment)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--folds", type=int, default=5, help="cv: how many folds (the last is the recipe's own split)")
    p.add_argument("--parallel", type=int, default=2, help="cv: folds trained at the same time")
    args = p.parse_args(argv)
    os.chdir(ROOT)
    if args.action == "command":
        print(shlex.join(command(args)))
        return 0
    if args.action == "cv":
        cross_validate(args)
        return 0
    if args.action in ("all", "train"):
        env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
        subprocess.run(command(args), check=True, cwd=ROOT, env=env)
    if args.action in ("all", "export"):
        export(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
