"""Cross-validate, train and export segzoo's first-party DRIVE U-Net (``checkpoints/unet-classic16-drive/``).

A narrow classic U-Net (BatchNorm, 16..256 channels, bilinear up-sampling, 1.8M parameters) trained from scratch on
all 20 DRIVE training images with ``segzoo train --config configs/unet-classic16-drive.json``. DRIVE has no
validation split and its test split was not available where the model was trained, so the recipe is assessed by
5-fold cross-validation over the same 20 images (``cv``): every image is scored by the recipe trained on the other
16, and the folds' pixel counts are pooled. The catalog's numbers are that estimate (``metrics.cross_validation``);
the exported weights are the last ones of the 20-image run, stored as float16. Public API only.

    python scripts/train_drive_unet.py              # cross-validate, train on the 20 images, export
    python scripts/train_drive_unet.py cv           # the 5-fold cross-validation (resumable)
    python scripts/train_drive_unet.py train        # the shipped weights' run
    python scripts/train_drive_unet.py export --catalog /tmp/drive.json
    python scripts/train_drive_unet.py command      # print the segzoo train command

Options: ``--data-root`` (default ../shared/datasets/drive, the official DRIVE layout), ``--runs`` (default
runs/drive), ``--out`` (default checkpoints), ``--threads`` (1: on 2 shared cores one thread was faster than two),
``--folds`` and ``--parallel`` (cv), ``--recipe`` (cv, train: a variant's config, e.g. one of configs/experiments/,
with its own ``--runs``; ``export`` refuses runs that were not trained with the recipe).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NAME = "unet-classic16-drive"
RECIPE = ROOT / "configs" / f"{NAME}.json"
CV_FILE = "cross-validation.json"  # the folds' results, shipped beside the weights: the catalog's numbers' evidence
INFERENCE = {"mode": "whole"}  # 565x584 fits in memory: no sliding window
LICENSE = "research use only (DRIVE: Staal et al. 2004, distributed for research and benchmarking)"
PROTOCOL = (
    "5-fold cross-validation of the recipe over the 20 DRIVE training images (each image scored by the recipe "
    "trained on the other 16; the folds' pixel counts pooled), because the weights were trained on all 20 and the "
    "DRIVE test split was not available; single scale, whole image at the native 565x584, zero-padded to a multiple "
    "of 16, vessel Dice and mIoU over all pixels (as mmsegmentation reports DRIVE: the entry's eval_options "
    "fov_as_ignore=false, which segzoo eval applies); each fold's last weights, in float32"
)
DESCRIPTION = (
    "Classic U-Net (BatchNorm, 16-256 channels, bilinear up-sampling) trained from scratch by segzoo on the 20 DRIVE "
    "training images, 128x128 crops, cross-entropy + Dice, in {minutes} minutes of one CPU core"
)


def recipe() -> dict[str, Any]:
    return json.loads(RECIPE.read_text())


def recipe_differences(run: Path) -> dict[str, tuple]:
    """``{option: (recipe's, run's)}`` where the run in ``run`` was not trained with the recipe, its paths, splits and
    threads aside: a variant's results (``--recipe``) must not be published as the recipe's."""
    from segzoo.train import TrainConfig

    run_specific = frozenset({"data_root", "train_split", "val_split", "output", "threads", "quiet"})
    return TrainConfig.from_json(RECIPE).differences(TrainConfig.from_json(run / "config.json"), ignore=run_specific)


def command(args: argparse.Namespace, output: Path | None = None, splits: tuple[str, str] | None = None) -> list[str]:
    """The ``segzoo train`` command of the recipe; ``splits`` (train, val) and ``output`` replace the recipe's."""
    return [
        sys.executable,
        "-m",
        "segzoo.train",
        "--config",
        str(args.recipe),
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


def eval_command(directory: Path, data_root: str, split: str) -> list[str]:
    """``segzoo eval`` on ``split`` over all pixels, as mmseg reports DRIVE."""
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
        "--dataset-option",
        "fov_as_ignore=false",
    ]


def segzoo_eval(directory: Path, args: argparse.Namespace, json_path: Path, split: str) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "segzoo", *eval_command(directory, args.data_root, split)[1:]]
    cmd += ["--json", str(json_path), "--no-progress", "--num-workers", "0"]
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return json.loads(json_path.read_text())["metrics"]


def _pct(v: float) -> float:
    return round(100 * v, 2)


def fold_splits(fold: int, folds: int, n: int = 20) -> tuple[str, str]:
    """(train, held-out) splits of fold ``fold`` of ``folds`` over DRIVE's ``n`` training images in their sorted
    order (``train[4:]`` / ``train[0:4]`` for the first of 5 folds)."""
    a, b = fold * n // folds, (fold + 1) * n // folds
    held = f"train[{a}:]" if b == n else f"train[{a}:{b}]"
    parts = [p for p in (f":{a}" if a else "", f"{b}:" if b < n else "") if p]
    return f"train[{','.join(parts)}]", held


def pixel_counts(metrics: dict[str, Any]) -> dict[str, list[int]]:
    """Per class: labelled pixels, predicted pixels and true positives, from ``segzoo eval``'s support, recall and
    precision (exact integers up to float rounding)."""
    support, recall, precision = metrics["support"], metrics["recall"], metrics["precision"]
    tp = [round(r * n) for r, n in zip(recall, support)]
    return {"labelled": list(support), "predicted": [round(t / p) if p else 0 for t, p in zip(tp, precision)], "tp": tp}


def pool(folds: list[dict[str, Any]]) -> dict[str, float]:
    """Vessel Dice, mDice and mIoU over the sum of the folds' pixel counts, as mmseg pools a test set's images."""
    n = len(folds[0]["counts"]["tp"])
    tp, gt, pred = ([sum(f["counts"][k][c] for f in folds) for c in range(n)] for k in ("tp", "labelled", "predicted"))
    dice = [2 * t / (g + p) for t, g, p in zip(tp, gt, pred)]
    iou = [t / (g + p - t) for t, g, p in zip(tp, gt, pred)]
    return {"mIoU": _pct(sum(iou) / n), "mDice": _pct(sum(dice) / n), "Dice": _pct(dice[1])}


def cross_validate(args: argparse.Namespace) -> dict[str, Any]:
    """Train the recipe once per fold (``--parallel`` folds at a time, ``--threads`` each), score each fold's last
    weights on its held-out images, and pool the folds: every training image is scored once, by a model that never
    saw it. The pooled numbers estimate what the recipe scores on unseen DRIVE images, with 20 images instead of 4."""
    from segzoo.train.plot import read_metrics

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
    folds = []
    for fold, (train, held) in todo:
        run = root / f"fold-{fold}"
        m = segzoo_eval(run / "final", args, run / "eval.json", held)
        curve = [[r["iteration"], _pct(r["val"]["dice"][1])] for r in read_metrics(run / "metrics.jsonl") if "val" in r]
        folds.append(
            {
                "fold": fold + 1,
                "train": train,
                "held_out": held,
                "Dice": _pct(m["dice"][1]),
                "mIoU": _pct(m["mIoU"]),
                "counts": pixel_counts(m),
                "curve": curve,
            }
        )
    result = {"recipe": str(args.recipe), "folds": folds, "pooled": pool(folds)}
    (root / "results.json").write_text(json.dumps(result, indent=1) + "\n")
    print(fold_table(folds))
    print(f"pooled over the {args.folds} folds: {result['pooled']}")
    return result


def fold_table(folds: list[dict[str, Any]]) -> str:
    rows = [
        f"| {f['fold']} | `{f['train']}` | `{f['held_out']}` ({_images(f['held_out'])}) | {f['Dice']:.2f} | "
        f"{f['mIoU']:.2f} |"
        for f in folds
    ]
    return "\n".join(
        ["| fold | trained on | held out (DRIVE images) | vessel Dice | mIoU |", "|---|---|---|---:|---:|"] + rows
    )


def _images(split: str) -> str:
    """``train[4:8]`` -> ``25-28``: DRIVE's training images are numbered 21 to 40."""
    from segzoo.train.data import parse_split, split_indices

    held = split_indices(20, parse_split(split)[1])
    return f"{21 + held[0]}-{21 + held[-1]}"


def plot_curves(run: Path, folds: list[dict[str, Any]], path: Path) -> None:
    """The model card's curves: the shipped run's training loss, and each fold's held-out vessel Dice (validation
    during its training) with their mean."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from segzoo.train.plot import read_metrics

    records = read_metrics(run / "metrics.jsonl")
    fig = Figure(figsize=(10, 3.4), dpi=80)
    FigureCanvasAgg(fig)
    ax_loss, ax_val = fig.subplots(1, 2)
    ax_loss.plot([r["iteration"] for r in records], [r["train_loss"] for r in records], color="tab:blue", lw=0.8)
    ax_loss.set_title("train loss (the shipped run, 20 images)")
    for f in folds:
        ax_val.plot(
            *zip(*f["curve"]), marker=".", lw=0.8, alpha=0.6, label=f"fold {f['fold']} ({_images(f['held_out'])})"
        )
    its = [it for it, _ in folds[0]["curve"]]
    mean = [sum(dict(f["curve"])[it] for f in folds) / len(folds) for it in its]
    ax_val.plot(its, mean, color="black", lw=2, label="mean of the folds")
    ax_val.set_title("held-out vessel Dice, cross-validation (all pixels)")
    ax_val.legend(fontsize="x-small", ncol=2, loc="lower right")
    for ax in (ax_loss, ax_val):
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, format="png")


def export(args: argparse.Namespace) -> dict[str, Any]:
    """Write ``checkpoints/unet-classic16-drive/`` (float16 weights, model card, curves, the cross-validation's
    results) and its catalog entry; needs ``cv`` and ``train`` to have run."""
    import torch

    import segzoo
    from segzoo.catalog import measured_on
    from segzoo.train.plot import read_metrics

    torch.set_num_threads(args.threads)
    run, cv_file = Path(args.runs) / NAME, Path(args.runs) / "cv" / "results.json"
    for needed, action in ((run / "final", "train"), (cv_file, "cv")):
        if not needed.exists():
            raise SystemExit(f"{needed} is missing: run `python scripts/train_drive_unet.py {action}` first")
    cv = json.loads(cv_file.read_text())
    for trained in (run, *(cv_file.parent / f"fold-{f['fold'] - 1}" for f in cv["folds"])):
        if differs := recipe_differences(trained):
            raise SystemExit(f"{trained} was not trained with {RECIPE.relative_to(ROOT)}: {differs} (recipe, run)")
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
    # the entry's protocol (whole image; DRIVE test, every pixel): `segzoo eval` scores the folder as the entry
    half.config.update(inference=dict(INFERENCE), dataset=measured_on({"dataset": dataset_block()}))
    target = Path(args.out) / NAME
    half.save_pretrained(target, model_card="(written below)\n")
    weights = target / "model.safetensors"
    (target / CV_FILE).write_text(json.dumps(cv, indent=1) + "\n")
    plot_curves(run, cv["folds"], target / "curves.png")
    records = read_metrics(run / "metrics.jsonl")
    summary = json.loads((run / "summary.json").read_text())
    r = {
        **cv["pooled"],
        "folds": cv["folds"],
        "params": sum(p.numel() for p in model.parameters()),
        "size_bytes": weights.stat().st_size,
        "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
        "iterations": summary["iterations"],
        "train_s": round(records[-1]["time"]),
    }
    (target / "README.md").write_text(model_card(r))
    entry = catalog_entry(r, list(ds.classes), preprocessing)
    if args.catalog:
        Path(args.catalog).write_text(json.dumps({"schema_version": 1, "models": [entry]}, indent=2) + "\n")
    print(
        f"[{NAME}] cross-validated vessel Dice {r['Dice']}, mIoU {r['mIoU']} (all pixels); "
        f"{r['size_bytes'] / 1e6:.2f} MB",
        flush=True,
    )
    return r


def dataset_block() -> dict[str, Any]:
    """The entry's ``dataset``: trained on DRIVE training, scored on DRIVE test over every pixel."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from generate_mmseg_catalog import EVAL_OPTIONS  # DRIVE's scoring protocol, shared with the mmseg entries

    return {
        "name": "DRIVE",
        "train": "DRIVE training (20 images)",
        "eval": "DRIVE test (20 images); the published values are a 5-fold cross-validation over the training "
        "images, the test split was not available",
        "eval_split": "test",
        "eval_options": EVAL_OPTIONS["DRIVE"],
    }


def catalog_entry(r: dict[str, Any], classes: list[str], preprocessing: dict[str, Any]) -> dict[str, Any]:
    t = recipe()
    return {
        "name": NAME,
        "description": DESCRIPTION.format(minutes=round(r["train_s"] / 60)),
        "architecture": t["architecture"],
        "encoder": t["encoder"],
        "options": t["model_options"],
        "requires": "segzoo-unet",
        "num_classes": len(classes),
        "class_names": classes,
        "preprocessing": preprocessing,
        "dataset": dataset_block(),
        "metrics": {
            "values": {"mIoU": r["mIoU"], "mDice": r["mDice"], "Dice": r["Dice"]},
            "source": "python scripts/train_drive_unet.py cv (segzoo train of the recipe on 16 images and segzoo eval "
            f"of the other 4, five times; results in checkpoints/{NAME}/{CV_FILE}); the weights: segzoo train "
            f"--config configs/{NAME}.json, {r['iterations']} iterations of {t['batch_size']} crops "
            f"{t['crop_size'][0]}x{t['crop_size'][1]} on one CPU core; see the model card",
            "protocol": PROTOCOL,
            "cross_validation": {"folds": len(r["folds"]), "split": "train"},
        },
        "inference": dict(INFERENCE),
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
    minutes = round(r["train_s"] / 60)
    folds = r["folds"]
    return f"""---
library_name: segzoo
pipeline_tag: image-segmentation
license: other
tags: [segzoo, semantic-segmentation, unet, retinal-vessels, drive]
datasets: [drive]
---

# {NAME}

{DESCRIPTION.format(minutes=minutes)}.

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

## Results: 5-fold cross-validation of the recipe

The weights were trained on all 20 DRIVE training images, and the DRIVE test split was not available, so no image is
left to score them on. What is measured is the recipe: trained five times on 16 of the images, each time scoring the
4 it did not see (each fold's last weights, all pixels, whole image, fp32).

{fold_table(folds)}

| pooled over the 20 images | value |
|---|---|
| vessel Dice, all pixels (mmseg's DRIVE "Dice") | {r["Dice"]:.2f} |
| mean Dice, all pixels (mmseg's "mDice") | {r["mDice"]:.2f} |
| mIoU, all pixels | {r["mIoU"]:.2f} |

Pooled means the folds' pixel counts are summed before the ratio, as mmsegmentation pools a test set (mean of the
folds' vessel Dice: {sum(f["Dice"] for f in folds) / len(folds):.2f}). These numbers estimate the recipe on unseen
DRIVE images with 16 training images; the shipped weights saw 20. For scale, mmsegmentation's UNet-S5-D16 (16 times
the parameters, 40k iterations of 16 crops on GPUs) reports 78.67 to 79.42 vessel Dice on the 20 test images.
Protocol: {PROTOCOL}. The folds' pixel counts and curves: [{CV_FILE}]({CV_FILE}). Reproduce:

```console
python scripts/train_drive_unet.py cv   # five trainings, two at a time, about 1.5 hours on 2 cores
```

On the DRIVE test split (`DRIVE/test/images`, `DRIVE/test/1st_manual`):

```console
segzoo eval {NAME} --dataset drive --root DRIVE     # the entry's split (test) and options (every pixel)
```

## Training

From scratch, with segzoo's trainer: {r["iterations"]} iterations of batch {t["batch_size"]} random
{t["crop_size"][0]}x{t["crop_size"][1]} crops (random scale {t["scale_range"][0]}-{t["scale_range"][1]}, horizontal
flip) of the 20 training images, AdamW (lr {t["lr"]}, weight decay {t["weight_decay"]}), {t["warmup_iters"]} warm-up
iterations then poly decay, loss cross-entropy + 3 x Dice (mmseg's best DRIVE recipe), every pixel labelled (no FOV
masking, as mmseg), {t["precision"]} autocast, images decoded once (`cache_decoded`), seed {t["seed"]}, on one core of
a shared 2-core CPU: {minutes} minutes. No validation during training (no image is left); the exported weights are
the last ones. Left: the shipped run's loss; right: the cross-validation folds' held-out vessel Dice during their
training.

![training loss and the cross-validation's held-out vessel Dice](curves.png)

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

One run (seed 0); its estimate comes from five folds of 4 images (vessel Dice {min(f["Dice"] for f in folds):.2f} to
{max(f["Dice"] for f in folds):.2f}). Trained on DRIVE's 565x584 colour fundus images (Canon CR5, 45 degree field of
view) only: other cameras, resolutions or pathologies need fine-tuning.
"""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("action", nargs="?", default="all", choices=["all", "train", "export", "command", "cv"])
    p.add_argument("--data-root", default=str(ROOT.parent / "shared" / "datasets" / "drive"))
    p.add_argument("--recipe", type=Path, default=RECIPE.relative_to(ROOT), help="cv, train: a variant's config")
    p.add_argument("--runs", default=str(ROOT / "runs" / "drive"))
    p.add_argument("--out", default=str(ROOT / "checkpoints"))
    p.add_argument("--catalog", default=None, help="write the catalog entry there (a registry.json fragment)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--folds", type=int, default=5, help="cv: how many folds")
    p.add_argument("--parallel", type=int, default=2, help="cv: folds trained at the same time")
    args = p.parse_args(argv)
    os.chdir(ROOT)
    if args.action == "command":
        print(shlex.join(command(args)))
        return 0
    if args.action in ("all", "cv"):
        cross_validate(args)
    if args.action in ("all", "train"):
        env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
        subprocess.run(command(args), check=True, cwd=ROOT, env=env)
    if args.action in ("all", "export"):
        export(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
