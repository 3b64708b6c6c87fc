"""segzoo's trainer against a plain PyTorch loop on segmentation_models_pytorch (smp): same network, recipe and data.

For one segzoo training recipe (``configs/<name>.json``) this trains the same architecture twice on the same machine,
each side as its own process with one thread, both at the same time on CPUs of their own that they swap every 20 s
(``--order parallel``, the default: both then see the same machine load on the same cores) or one after the other:

* segzoo: ``segzoo train --config <recipe>`` (with ``--threads 1 --num-workers 0 --device cpu``);
* smp: the smp network trained by the plain loop below: PIL/numpy reading of the same files, the same augmentation,
  batch, iterations, AdamW, warm-up + poly schedule, loss, precision, seed and validation protocol.

and records the final validation metric (CamVid: mIoU; DRIVE: vessel Dice) and the training + validation time of
each side (and the whole process's wall time when it launched it) in ``docs/smp-comparison.json``, rendered as
``docs/smp-comparison.md``. The smp side does not use segzoo: it is the loop a user of smp would write, so that the
comparison measures segzoo's trainer, not a copy of it.

    python benchmarks/compare_smp.py --recipe benchmarks/recipes/unet-mobilenetv3-camvid.json   # full run, both sides
    python benchmarks/compare_smp.py --recipe benchmarks/recipes/unet-classic16-drive.json --only smp
    python benchmarks/compare_smp.py --recipe benchmarks/recipes/unet-classic16-drive.json --only smp \
        --segzoo-run runs/drive/cv/fold-4        # segzoo side: a run that trained exactly the recipe
    python benchmarks/compare_smp.py --recipe benchmarks/recipes/unet-classic16-drive.json --max-iters 10  # smoke test
    python benchmarks/compare_smp.py --recipe benchmarks/recipes/unet-classic16-drive.json --check  # no training
    python benchmarks/compare_smp.py --report-only                                      # re-render the Markdown

``benchmarks/recipes/`` keeps a recipe as it was compared once the catalog model's own recipe has moved on:
unet-mobilenetv3-camvid's comparison ran its 1200-iteration recipe, before the checkpoint's recipe added colour
jitter (which the plain loop does not implement) and 2400 iterations; unet-classic16-drive's ran on 16 images with 4
held out, before the shipped weights were trained on all 20 (a comparison needs a validation split).

A run with another number of iterations or another precision than the recipe's (``--max-iters``, ``--precision``:
fp32 on a CPU that would emulate the recipes' bf16) is a smoke test: it writes to ``--out`` (default
``runs/smp-comparison/smoke.json``), never to ``docs/``. Run directories and logs go to
``runs/smp-comparison/<recipe>-<side>-<iterations>it/``.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import segmentation_models_pytorch as smp
import torch
import torch.nn.functional as F
from PIL import Image
from segmentation_models_pytorch.encoders._base import EncoderMixin
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
DOCS_JSON = ROOT / "docs" / "smp-comparison.json"
SMOKE_JSON = ROOT / "runs" / "smp-comparison" / "smoke.json"
WORK_DIR = ROOT / "runs" / "smp-comparison"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IGNORE = 255
#: Both processes get these: one thread, and no OpenMP busy-waiting that would steal a shared core.
THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
#: Recipe options the segzoo side overrides so both sides get the same resources: one thread, data loaded in the
#: training process (the smp loop has no DataLoader workers), the CPU even where a GPU exists.
SEGZOO_OVERRIDES = {"threads": 1, "num_workers": 0, "device": "cpu"}
#: Recipe keys the plain loop implements; any other key in a recipe is refused rather than silently ignored.
SUPPORTED_KEYS = set(
    "architecture encoder model_options dataset data_root train_split val_split dataset_options resize crop_size "
    "scale_range hflip batch_size val_batch_size num_workers cache_decoded max_iters optimizer lr weight_decay betas "
    "schedule poly_power warmup_iters warmup_start_factor loss loss_options precision eval_every checkpoint_every "
    "seed threads output channels_last".split()
)


# -- recipe ----------------------------------------------------------------------------------------------------------
def load_recipe(path: Path) -> dict[str, Any]:
    """The recipe as segzoo reads it, refusing options the plain loop does not reproduce."""
    recipe = json.loads(path.read_text())
    unknown = sorted(set(recipe) - SUPPORTED_KEYS)
    if unknown:
        raise SystemExit(f"{path}: the smp loop does not implement {', '.join(unknown)}")
    if recipe.get("optimizer") != "adamw" or recipe.get("schedule") != "poly":
        raise SystemExit(f"{path}: only optimizer adamw with schedule poly is implemented")
    if recipe["dataset"] not in ("camvid", "drive"):
        raise SystemExit(f"{path}: dataset {recipe['dataset']!r}: only camvid and drive are implemented")
    return recipe


def task_name(recipe_path: Path) -> str:
    return recipe_path.stem


def crop_hw(recipe: dict[str, Any]) -> tuple[int, int]:
    size = recipe["crop_size"]
    if isinstance(size, int):
        return size, size
    return (size[0], size[0]) if len(size) == 1 else (size[0], size[1])


def metric_name(recipe: dict[str, Any]) -> str:
    return "mIoU" if recipe["dataset"] == "camvid" else "vessel Dice"


# -- data: plain PIL / numpy reading of the files segzoo's dataset readers use ---------------------------------------
def parse_split(spec: str) -> tuple[str, slice]:
    """``"train[:16]"`` -> ``("train", slice(None, 16))`` (segzoo's split syntax; Python slice rules)."""
    m = re.fullmatch(r"([^\[\]]+)(?:\[(-?\d*):(-?\d*)\])?", spec)
    if m is None:
        raise SystemExit(f"bad split {spec!r}")
    start, stop = m.group(2), m.group(3)
    return m.group(1), slice(int(start) if start else None, int(stop) if stop else None)


def camvid_files(root: Path, split: str) -> list[tuple[Path, Path]]:
    """SegNet's CamVid: ``<split>/*.png`` images, ``<split>annot/*.png`` labels with the same names."""
    images = sorted((root / split).glob("*.png"))
    return [(p, root / f"{split}annot" / p.name) for p in images]


def drive_files(root: Path, split: str) -> list[tuple[Path, Path]]:
    """DRIVE's official layout: ``training/images/NN_training.tif`` and ``1st_manual/NN_manual1.gif``, by number."""
    if (root / "DRIVE").is_dir():
        root = root / "DRIVE"
    sub = {"train": "training", "test": "test"}[split]
    images = sorted((root / sub / "images").glob("*.tif"), key=lambda p: int(p.name.split("_")[0]))
    return [(p, root / sub / "1st_manual" / f"{p.name.split('_')[0]}_manual1.gif") for p in images]


def split_files(recipe: dict[str, Any], spec: str) -> list[tuple[Path, Path]]:
    name, part = parse_split(spec)
    root = ROOT / recipe["data_root"]
    files = camvid_files(root, name) if recipe["dataset"] == "camvid" else drive_files(root, name)
    return files[part]


def label_table(recipe: dict[str, Any]) -> np.ndarray:
    """Raw label value -> class id (255 = ignored): CamVid 0..10 and void 11 -> 255; DRIVE 0 -> 0, 255 -> 1."""
    table = np.full(256, IGNORE, dtype=np.uint8)
    if recipe["dataset"] == "camvid":
        table[:11] = np.arange(11)
    else:
        options = recipe.get("dataset_options", {})
        if options.get("fov_as_ignore", True) is not False or set(options) - {"fov_as_ignore"}:
            raise SystemExit("drive: only dataset_options {'fov_as_ignore': false} (every pixel counts) is implemented")
        table[0], table[255] = 0, 1
    return table


class Samples:
    """``(image, label)`` PIL pairs of a list of files; decoded once and kept when the recipe says cache_decoded."""

    def __init__(self, files: list[tuple[Path, Path]], table: np.ndarray, cache: bool) -> None:
        self.files, self.table, self.cache = files, table, cache
        self.kept: dict[int, tuple[Image.Image, Image.Image]] = {}

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[Image.Image, Image.Image]:
        if i in self.kept:
            return self.kept[i]
        image_path, label_path = self.files[i]
        with Image.open(image_path) as im:
            image = im.convert("RGB")
        with Image.open(label_path) as im:
            label = im.convert("L").point(self.table.tolist())
        if self.cache:
            self.kept[i] = (image, label)
        return image, label


def to_tensors(image: Image.Image, label: Image.Image) -> tuple[torch.Tensor, torch.Tensor]:
    """PIL -> normalised float (3, H, W) image (ImageNet mean/std, the default of both libraries) and int64 labels."""
    x = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)
    x = (x - torch.tensor(IMAGENET_MEAN).view(3, 1, 1)) / torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return x, torch.from_numpy(np.asarray(label, dtype=np.int64))


def augment(
    image: Image.Image, label: Image.Image, recipe: dict[str, Any], rng: random.Random
) -> tuple[torch.Tensor, torch.Tensor]:
    """Resize (shorter side) -> random scale -> random crop (padded right/bottom, labels with 255) -> h-flip."""
    bilinear, nearest = Image.Resampling.BILINEAR, Image.Resampling.NEAREST
    if recipe.get("resize"):
        w, h = image.size
        short = recipe["resize"]
        size = (short, int(short * h / w)) if w <= h else (int(short * w / h), short)
        image, label = image.resize(size, bilinear), label.resize(size, nearest)
    lo, hi = recipe["scale_range"]
    if (lo, hi) != (1.0, 1.0):
        s = rng.uniform(lo, hi)
        w, h = image.size
        size = (max(1, round(w * s)), max(1, round(h * s)))
        image, label = image.resize(size, bilinear), label.resize(size, nearest)
    th, tw = crop_hw(recipe)
    w, h = image.size
    if w < tw or h < th:
        padded_image = Image.new("RGB", (max(w, tw), max(h, th)), (0, 0, 0))
        padded_label = Image.new("L", padded_image.size, IGNORE)
        padded_image.paste(image, (0, 0))
        padded_label.paste(label, (0, 0))
        image, label = padded_image, padded_label
        w, h = image.size
    top, left = rng.randint(0, h - th), rng.randint(0, w - tw)
    box = (left, top, left + tw, top + th)
    image, label = image.crop(box), label.crop(box)
    if rng.random() < recipe["hflip"]:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        label = label.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return to_tensors(image, label)


# -- networks --------------------------------------------------------------------------------------------------------
def num_classes(recipe: dict[str, Any]) -> int:
    return 11 if recipe["dataset"] == "camvid" else 2


def double_conv(cin: int, cout: int) -> nn.Sequential:
    """Two 3x3 conv-BN-ReLU, the level block of the classic U-Net (with BatchNorm)."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class ClassicUNetEncoder(nn.Module, EncoderMixin):
    """The classic U-Net contracting path as an smp encoder (smp has none): double conv at 5 levels, 2x2 max pooling
    between them, the paper's He-normal initialisation.

    Features as smp's non-VGG encoders return them: the input first (dropped by smp's decoder), then the level outputs
    at strides 1, 2, 4, 8, 16, so all four skip connections of the U-Net reach smp's decoder.
    """

    def __init__(self, channels: tuple[int, ...], depth: int = 5, output_stride: int = 32) -> None:
        super().__init__()
        self._depth, self._in_channels, self._output_stride = depth, 3, 2 ** (len(channels) - 1)
        self._out_channels = [3, *channels]
        stages = [double_conv(3, channels[0])]
        stages += [nn.Sequential(nn.MaxPool2d(2), double_conv(a, b)) for a, b in zip(channels[:-1], channels[1:])]
        self.stages = nn.ModuleList(stages)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = [x]
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features


def register_classic_encoder(base_channels: int) -> str:
    """Make the classic encoder of width ``base_channels`` known to ``smp.Unet`` by name (smp's custom-encoder
    registry, ``smp.encoders.encoders``)."""
    name = f"classic-unet-bn-{base_channels}"
    channels = tuple(base_channels * 2**i for i in range(5))
    smp.encoders.encoders[name] = {
        "encoder": ClassicUNetEncoder,
        "pretrained_settings": {},
        "params": {"channels": channels},
    }
    return name


def build_smp(recipe: dict[str, Any]) -> smp.Unet:
    """The smp network for the recipe's segzoo architecture."""
    options = dict(recipe.get("model_options", {}))
    if recipe["architecture"] == "unet":
        decoder = tuple(options.pop("decoder_channels", (256, 128, 64, 32, 16)))
        if options:
            raise SystemExit(f"unet model_options {sorted(options)} are not mapped to smp")
        return smp.Unet(
            encoder_name=f"tu-{recipe['encoder']}",
            encoder_weights=None,
            decoder_channels=decoder,
            classes=num_classes(recipe),
        )
    if recipe["architecture"] == "unet-original" and recipe["encoder"] == "unet-classic-bn":
        base = options.get("encoder_options", {}).get("base_channels", 64)
        if options.get("upsampling") != "bilinear" or set(options) - {"encoder_options", "upsampling"}:
            raise SystemExit("unet-original: only upsampling 'bilinear' with encoder_options base_channels is mapped")
        widths = [base * 2**i for i in range(4)][::-1]  # segzoo's expanding path: 128, 64, 32, 16 for base 16
        return smp.Unet(
            encoder_name=register_classic_encoder(base),
            encoder_weights=None,
            encoder_depth=5,
            decoder_channels=(*widths, base),  # smp has one block per encoder level: the 5th works at full resolution
            decoder_interpolation="bilinear",
            classes=num_classes(recipe),
        )
    raise SystemExit(f"no smp counterpart written for {recipe['architecture']} + {recipe['encoder']}")


def build_segzoo(recipe: dict[str, Any]) -> nn.Module:
    """segzoo's network for the recipe, as ``segzoo train`` builds it (for parameter counts and checks only)."""
    import segzoo

    return segzoo.create(
        recipe["architecture"],
        encoder=recipe["encoder"],
        num_classes=num_classes(recipe),
        in_channels=3,
        **recipe.get("model_options", {}),
    )


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def conv_macs(model: nn.Module, height: int, width: int) -> int:
    """Multiply-accumulates of the convolutions for one ``height x width`` image (the part that differs)."""
    total = 0

    def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        nonlocal total
        total += output[0].numel() * module.weight[0].numel()

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 3, height, width))
    model.train(was_training)
    for h in handles:
        h.remove()
    return total


def differences(recipe: dict[str, Any]) -> list[str]:
    """How the smp network and its training differ from segzoo's, in words (the docs print these)."""
    common = [
        "the data order and augmentation draws come from each side's own RNG (same seed, different generators), "
        "so the two runs see different crops in a different order",
        "validation: torch.argmax in the plain loop, segzoo's class_map (max().indices: the same classes)",
    ]
    if recipe["architecture"] == "unet":
        return [
            "network: identical; smp's state dict loads into segzoo's unet through segzoo's smp converter with every "
            "key matched, and the logits agree (--check, tests/test_compare_smp.py)",
            "initialisation: timm's for the encoder on both sides; decoder and head: smp Kaiming-uniform convs and "
            "a Xavier-uniform head, segzoo PyTorch's default Conv2d initialisation",
            *common,
        ]
    return [
        "encoder: the classic contracting path written in this script as an smp custom encoder (EncoderMixin), "
        "module for module segzoo's unet-classic-bn (same parameter count), He-normal initialised on both sides",
        "up-sampling: segzoo up-samples bilinearly then halves the channels with a 1x1 conv-BN-ReLU before the "
        "concatenation (mmseg's InterpConv); smp concatenates the up-sampled feature as it is, so each block's first "
        "3x3 conv reads (deep + skip) channels, e.g. 384 instead of 256 at the deepest level",
        "depth: smp's U-Net decoder has one block per encoder level (encoder_depth 5), so after the four blocks "
        "with skips it runs a fifth block without skip, two more 3x3 conv-BN-ReLU (16 -> 16) at full resolution; "
        "the alternative, encoder_depth 4, would drop the full-resolution skip instead",
        "head: smp's segmentation head is a 3x3 conv, segzoo's unet-original head a 1x1 conv",
        "initialisation of decoder and head: smp Kaiming-uniform convs and a Xavier-uniform head; segzoo He-normal "
        "decoder convs (the paper's) and PyTorch's default for the head",
        *common,
    ]


# -- losses (plain; the definitions of segzoo-losses' cross_entropy and dice) ----------------------------------------
def cross_entropy(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over non-ignored pixels, weighted by their class weights (F.cross_entropy's 'mean')."""
    return F.cross_entropy(logits, target, weight=weight, ignore_index=IGNORE)


def dice_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Soft Dice per class over the batch (softmax, ignored pixels left out), ``1 - 2TP / (sum p + sum t)``,
    averaged over the classes present in the target (smp's DiceLoss averages over all classes instead)."""
    k = logits.shape[1]
    valid = (target != IGNORE).unsqueeze(1).float()
    p = logits.float().softmax(dim=1) * valid
    t = F.one_hot(torch.where(target == IGNORE, 0, target), k).permute(0, 3, 1, 2).float() * valid
    tp = (p * t).sum(dim=(0, 2, 3))
    support = t.sum(dim=(0, 2, 3))
    dice = 2 * tp / (p.sum(dim=(0, 2, 3)) + support).clamp_min(1e-7)
    present = support > 0
    return (1 - dice)[present].mean() if present.any() else logits.sum() * 0


def make_criterion(recipe: dict[str, Any]) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The recipe's loss: weighted cross-entropy, or cross-entropy + w * Dice ("combined")."""
    options = recipe.get("loss_options", {})
    if recipe["loss"] == "cross_entropy" and set(options) <= {"weight"}:
        weight = torch.tensor(options["weight"]) if "weight" in options else None
        return lambda logits, target: cross_entropy(logits, target, weight)
    if recipe["loss"] == "combined" and set(options.get("losses", {})) == {"cross_entropy", "dice"}:
        w = options["losses"]
        return lambda logits, target: (
            w["cross_entropy"] * cross_entropy(logits, target) + w["dice"] * dice_loss(logits, target)
        )
    raise SystemExit(f"loss {recipe['loss']} with {options} is not implemented in the plain loop")


# -- evaluation ------------------------------------------------------------------------------------------------------
def confusion(pred: torch.Tensor, target: torch.Tensor, k: int) -> np.ndarray:
    """k x k counts, rows = target class, columns = predicted class; ignored pixels left out."""
    t, p = target.numpy().ravel(), pred.numpy().ravel()
    keep = t != IGNORE
    return np.bincount(k * t[keep] + p[keep], minlength=k * k).reshape(k, k)


def score(cm: np.ndarray, recipe: dict[str, Any]) -> float:
    """CamVid: mIoU over the classes seen in target or prediction; DRIVE: Dice of class 1 (vessel)."""
    tp = np.diag(cm).astype(np.float64)
    gt, pr = cm.sum(1), cm.sum(0)
    if recipe["dataset"] == "drive":
        return float(2 * tp[1] / (gt[1] + pr[1]))
    seen = (gt + pr) > 0
    return float(np.mean(tp[seen] / (gt + pr - tp)[seen]))


def autocast(precision: str) -> AbstractContextManager:
    """The recipe's precision: bf16 autocast on the CPU (as segzoo's trainer), or nothing for fp32."""
    if precision == "fp32":
        return nullcontext()
    return torch.autocast("cpu", dtype={"bf16": torch.bfloat16, "fp16": torch.float16}[precision])


def evaluate(model: nn.Module, val: Samples, recipe: dict[str, Any], divisor: int) -> float:
    """Whole images: resized so the shorter side is ``resize`` (if the recipe says so), zero-padded right/bottom to
    the network's divisor, logits cropped and up-sampled bilinearly to the label size, one confusion matrix."""
    k = num_classes(recipe)
    cm = np.zeros((k, k), dtype=np.int64)
    model.eval()
    batch = recipe.get("val_batch_size", 1)
    with torch.no_grad():
        for start in range(0, len(val), batch):
            pairs = [to_tensors(*val[i]) for i in range(start, min(start + batch, len(val)))]
            x, target = torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])
            h, w = x.shape[-2:]
            if recipe.get("resize"):
                s = recipe["resize"] / min(h, w)
                x = F.interpolate(x, size=(round(h * s), round(w * s)), mode="bilinear", antialias=True)
            sh, sw = x.shape[-2:]
            x = F.pad(x, (0, -sw % divisor, 0, -sh % divisor))
            with autocast(recipe["precision"]):
                logits = model(x)[..., :sh, :sw]
            if (sh, sw) != (h, w):
                logits = F.interpolate(logits.float(), size=(h, w), mode="bilinear")
            cm += confusion(logits.argmax(dim=1), target, k)
    model.train()
    return score(cm, recipe)


# -- the plain training loop (the smp side, run in its own process) --------------------------------------------------
def lr_factor(i: int, total: int, recipe: dict[str, Any]) -> float:
    """Poly decay ``(1 - i/T)^power`` times a linear warm-up from ``warmup_start_factor`` over ``warmup_iters``."""
    factor = (1 - i / total) ** recipe["poly_power"]
    warmup, start = recipe.get("warmup_iters", 0), recipe.get("warmup_start_factor", 0.001)
    if i < warmup:
        factor *= start + (1 - start) * i / warmup
    return factor


def train_smp(recipe: dict[str, Any], max_iters: int, run_dir: Path) -> dict[str, Any]:
    """Train the smp network as the recipe says and validate it; returns the metric, its curve and timings."""
    torch.set_num_threads(1)
    seed = recipe.get("seed", 0)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    rng = random.Random(seed)  # data order and augmentation

    table = label_table(recipe)
    cache = bool(recipe.get("cache_decoded", False))
    train = Samples(split_files(recipe, recipe["train_split"]), table, cache)
    val = Samples(split_files(recipe, recipe["val_split"]), table, cache)
    model = build_smp(recipe)
    model.train()
    memory_format = torch.channels_last if recipe.get("channels_last") else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    divisor = model.encoder.output_stride
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=recipe["lr"], betas=tuple(recipe["betas"]), weight_decay=recipe["weight_decay"]
    )
    criterion = make_criterion(recipe)
    batch_size, eval_every = recipe["batch_size"], recipe.get("eval_every")
    batches_per_epoch = len(train) // batch_size

    curve: list[list[float]] = []
    losses: list[float] = []
    eval_s = 0.0
    start = time.perf_counter()
    iteration = 0
    while iteration < max_iters:
        order = list(range(len(train)))
        rng.shuffle(order)
        for b in range(batches_per_epoch):
            batch = [augment(*train[i], recipe, rng) for i in order[b * batch_size : (b + 1) * batch_size]]
            images = torch.stack([x for x, _ in batch]).contiguous(memory_format=memory_format)
            labels = torch.stack([y for _, y in batch])
            for group in optimizer.param_groups:
                group["lr"] = recipe["lr"] * lr_factor(iteration, max_iters, recipe)
            with autocast(recipe["precision"]):
                logits = model(images)
            loss = criterion(logits.float(), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            iteration += 1
            last = iteration == max_iters
            epoch_end = b == batches_per_epoch - 1
            if last or (iteration % eval_every == 0 if eval_every else epoch_end):
                t0 = time.perf_counter()
                value = evaluate(model, val, recipe, divisor)
                eval_s += time.perf_counter() - t0
                curve.append([iteration, value])
                torch.save(
                    {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "iteration": iteration},
                    run_dir / "checkpoint.pt",
                )
                mean_loss = sum(losses) / len(losses)
                print(
                    f"it {iteration}/{max_iters}  loss {mean_loss:.4f}  val {metric_name(recipe)} {value:.4f}",
                    flush=True,
                )
                losses.clear()
            if last:
                break
    return {
        "metric": curve[-1][1],
        "curve": curve,
        "train_eval_s": round(time.perf_counter() - start, 3),
        "eval_s": round(eval_s, 3),
    }


# -- the two sides, each a timed process -----------------------------------------------------------------------------
def segzoo_command(recipe_path: Path, run_dir: Path, max_iters: int | None, precision: str | None) -> list[str]:
    exe = Path(sys.executable).with_name("segzoo")
    cmd = [str(exe), "train"] if exe.exists() else [sys.executable, "-m", "segzoo.train"]
    cmd += ["--config", str(recipe_path.relative_to(ROOT)), "--output", str(run_dir), "--no-plot"]
    cmd += ["--threads", "1", "--num-workers", "0", "--device", "cpu"]
    return cmd + _smoke_options(max_iters, precision)


def smp_command(recipe_path: Path, run_dir: Path, max_iters: int | None, precision: str | None) -> list[str]:
    cmd = [sys.executable, str(Path(__file__).resolve().relative_to(ROOT)), "--smp-worker", "--recipe"]
    cmd += [str(recipe_path.relative_to(ROOT)), "--run-dir", str(run_dir)]
    return cmd + _smoke_options(max_iters, precision)


def _smoke_options(max_iters: int | None, precision: str | None) -> list[str]:
    """The options both sides take for a budget or precision other than the recipe's."""
    return (["--max-iters", str(max_iters)] if max_iters is not None else []) + (
        ["--precision", precision] if precision is not None else []
    )


def read_segzoo_run(run_dir: Path, recipe: dict[str, Any]) -> dict[str, Any]:
    """Final validation metric and curve from the run's metrics.jsonl; the trainer's own elapsed time."""
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    evals = [r for r in records if "val" in r]

    def value(r: dict[str, Any]) -> float:
        return r["val"]["mIoU"] if recipe["dataset"] == "camvid" else r["val"]["dice"][1]

    summary = json.loads((run_dir / "summary.json").read_text())
    return {
        "metric": value(evals[-1]),
        "curve": [[r["iteration"], value(r)] for r in evals],
        "train_eval_s": summary["time"],
        "eval_s": round(sum(r.get("eval_time", 0) for r in evals), 3),
    }


def start_side(
    side: str, recipe_path: Path, recipe: dict[str, Any], max_iters: int | None, precision: str | None, cpu: int | None
) -> dict[str, Any]:
    """Launch one side as its own process, pinned to ``cpu`` when given; :func:`finish_side` waits for it."""
    iters = max_iters or recipe["max_iters"]
    run_dir = WORK_DIR / f"{task_name(recipe_path)}-{side}-{iters}it"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    cmd = (segzoo_command if side == "segzoo" else smp_command)(recipe_path, run_dir, max_iters, precision)
    env = {**os.environ, **THREAD_ENV}
    print(f"[{side}] {' '.join(cmd)}" + (f"  (CPU {cpu})" if cpu is not None else ""), flush=True)
    pin = None if cpu is None else (lambda: os.sched_setaffinity(0, {cpu}))
    job: dict[str, Any] = {"side": side, "run_dir": run_dir, "cmd": cmd, "cpu": cpu, "environment": environment()}
    job.update(load_start=os.getloadavg(), started=now(), t0=time.perf_counter(), log=open(run_dir / "log.txt", "w"))
    job["process"] = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=job["log"], stderr=subprocess.STDOUT, preexec_fn=pin
    )
    return job


def finish_side(job: dict[str, Any], recipe: dict[str, Any]) -> dict[str, Any]:
    """Wait for a side started by :func:`start_side`; its result with the whole process's wall time."""
    side, run_dir = job["side"], job["run_dir"]
    rc = job["process"].wait()
    wall = job.get("t_end", time.perf_counter()) - job["t0"]  # t_end: when rotate_cpus saw it end
    job["log"].close()
    load_end = os.getloadavg()
    log_text = (run_dir / "log.txt").read_text()
    if rc != 0:
        raise SystemExit(f"[{side}] failed with exit code {rc}; log {run_dir / 'log.txt'}:\n{log_text[-3000:]}")
    print(log_text.rstrip(), flush=True)
    if side == "segzoo":
        result = read_segzoo_run(run_dir, recipe)
    else:
        result = json.loads((run_dir / "result.json").read_text())
    result.update(
        wall_s=round(wall, 2),
        command=" ".join(job["cmd"]),
        started=job["started"],
        environment=job["environment"],
        load_start=[round(v, 2) for v in job["load_start"]],
        load_end=[round(v, 2) for v in load_end],
        cpu=job["cpu"],
    )
    print(f"[{side}] {metric_name(recipe)} {result['metric']:.4f}  wall {wall:.1f} s", flush=True)
    return result


#: seconds between two swaps of the sides' CPUs in the parallel schedule
SWAP_EVERY_S = 20.0


def pin_process(pid: int, cpu: int) -> None:
    """Move every thread of process ``pid`` to ``cpu`` (threads it starts later inherit the affinity)."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:  # already exited
        return
    for tid in tids:
        try:
            os.sched_setaffinity(int(tid), {cpu})
        except OSError:  # the thread ended in between
            pass


def rotate_cpus(jobs: list[dict[str, Any]], cpus: list[int], every_s: float = SWAP_EVERY_S) -> int:
    """While the jobs run, move each to the next job's CPU every ``every_s`` seconds, so that over a run each side
    spends the same time on every CPU: one core of a VM can be slower than the other (it takes the interrupts, a
    neighbour loads it), and a fixed assignment would charge that to one side. Returns the number of swaps."""
    swaps = 0
    while any(job["process"].poll() is None for job in jobs):
        deadline = time.monotonic() + every_s
        while time.monotonic() < deadline and any(job["process"].poll() is None for job in jobs):
            time.sleep(min(1.0, every_s))
            for job in jobs:
                if job["process"].poll() is not None:
                    job.setdefault("t_end", time.perf_counter())
        swaps += 1
        for i, job in enumerate(jobs):
            if job["process"].poll() is None:
                pin_process(job["process"].pid, cpus[(i + swaps) % len(cpus)])
            else:
                job.setdefault("t_end", time.perf_counter())
    return swaps


def run_sides(
    sides: list[str],
    recipe_path: Path,
    recipe: dict[str, Any],
    max_iters: int | None,
    precision: str | None,
    parallel: bool,
) -> dict[str, dict[str, Any]]:
    """Run the sides one after the other, or both at once on CPUs of their own that they swap every
    :data:`SWAP_EVERY_S` seconds: on a shared machine the second is the fairer test, since both sides then see the
    same load for the same minutes, on the same cores."""
    if not parallel:
        return {s: finish_side(start_side(s, recipe_path, recipe, max_iters, precision, None), recipe) for s in sides}
    cpus = sorted(os.sched_getaffinity(0))[: len(sides)]
    if len(cpus) < len(sides):
        raise SystemExit(f"--order parallel needs {len(sides)} CPUs, this process may use {len(cpus)}")
    jobs = [start_side(s, recipe_path, recipe, max_iters, precision, cpu) for s, cpu in zip(sides, cpus)]
    swaps = rotate_cpus(jobs, cpus)
    results = {job["side"]: finish_side(job, recipe) for job in jobs}
    for result in results.values():
        result["cpu"] = f"CPUs {', '.join(map(str, cpus))} in turn, swapped every {SWAP_EVERY_S:g} s ({swaps} swaps)"
    return results


#: keys of a run's config.json that may differ from the recipe without changing what is trained
RUN_ONLY_KEYS = {"output", "quiet", "plot", "num_workers", "device", "threads", "cache_decoded", "data_root"}


def reuse_segzoo_run(run_dir: Path, recipe: dict[str, Any]) -> dict[str, Any]:
    """The segzoo side from a finished ``segzoo train --config <recipe>`` run (e.g. the one a catalog checkpoint was
    exported from), refused unless it trained exactly the recipe. Its whole-process wall time is unknown; the
    comparison uses training + validation time, which both sides measure with their own clock."""
    from segzoo.train.config import TrainConfig

    config = json.loads((run_dir / "config.json").read_text())
    # both through TrainConfig, so that options the recipe leaves at their defaults compare equal
    wanted, ran = TrainConfig.from_dict(recipe).to_dict(), TrainConfig.from_dict(config).to_dict()
    differ = sorted(k for k in wanted if k not in RUN_ONLY_KEYS and wanted[k] != ran[k])
    if differ:
        raise SystemExit(f"{run_dir} did not train this recipe: {', '.join(differ)} differ")
    if config.get("threads") != 1:
        raise SystemExit(f"{run_dir} ran with {config.get('threads')} threads; the comparison is one thread a side")
    summary = json.loads((run_dir / "summary.json").read_text())
    if summary["iterations"] != recipe["max_iters"]:
        raise SystemExit(f"{run_dir} stopped at {summary['iterations']} of {recipe['max_iters']} iterations")
    result = read_segzoo_run(run_dir, recipe)
    metrics = run_dir / "metrics.jsonl"
    result.update(
        wall_s=None,
        command=f"segzoo train --config {config.get('output', run_dir)} (reused run {run_dir.relative_to(ROOT)})",
        started=datetime.datetime.fromtimestamp(
            (run_dir / "config.json").stat().st_mtime, datetime.timezone.utc
        ).isoformat(timespec="seconds"),
        finished=datetime.datetime.fromtimestamp(metrics.stat().st_mtime, datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
        environment=environment(),
        load_start=None,
        load_end=None,
        reused_run=str(run_dir.relative_to(ROOT)),
    )
    return result


# -- records and the Markdown report ---------------------------------------------------------------------------------
def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def git_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def environment() -> dict[str, Any]:
    import timm

    from segzoo._hardware import cpu_model

    return {
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "smp": smp.__version__,
        "timm": timm.__version__,
        "python": platform.python_version(),
        "nice": os.nice(0),
        "git": git_state(),
    }


def architecture_text(recipe: dict[str, Any]) -> dict[str, str]:
    """Both networks in one line each, for the report."""
    options = recipe.get("model_options", {})
    if recipe["architecture"] == "unet":
        smp_text = f"smp.Unet('tu-{recipe['encoder']}', decoder_channels={tuple(options['decoder_channels'])})"
    else:
        base = options["encoder_options"]["base_channels"]
        widths = (*[base * 2**i for i in range(4)][::-1], base)
        smp_text = f"smp.Unet(classic encoder, encoder_depth=5, decoder_channels={widths}, bilinear)"
    segzoo_text = f"{recipe['architecture']} + {recipe['encoder']} {json.dumps(options, separators=(',', ':'))}"
    return {"segzoo": segzoo_text, "smp": smp_text}


def networks(recipe: dict[str, Any]) -> dict[str, Any]:
    """Parameter counts and convolution MACs per training crop of both networks (built outside the timed runs)."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    h, w = crop_hw(recipe)
    ours, theirs = build_segzoo(recipe), build_smp(recipe)
    return {
        "segzoo": {"params": count_params(ours), "macs_per_crop": conv_macs(ours, h, w)},
        "smp": {"params": count_params(theirs), "macs_per_crop": conv_macs(theirs, h, w)},
    }


def merge(out: Path, name: str, record: dict[str, Any], sides: list[str]) -> dict[str, Any]:
    """Put ``record`` into ``out`` under ``name``; a side not re-run is kept only if it ran the same budget and
    recipe. ``order`` lists the sides in the order they ran."""
    data = json.loads(out.read_text()) if out.exists() else {"tasks": {}}
    old = data["tasks"].get(name, {})
    for side in ("segzoo", "smp"):
        if side in sides or side not in old:
            continue
        if old["budget"] == record["budget"] and old["recipe_sha256"] == record["recipe_sha256"]:
            record[side] = old[side]
        else:
            print(f"dropping the stored {side} result of {name}: it ran another budget or recipe", flush=True)
    ran = [s for s in ("segzoo", "smp") if s in record]
    record["order"] = sorted(ran, key=lambda s: record[s]["started"])
    data["tasks"][name] = record
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2) + "\n")
    return data


def fmt_time(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


PROTOCOL = """\
Each task trains one network twice with the same segzoo recipe: once with `segzoo train --config <recipe>`, once with
the plain PyTorch loop of [benchmarks/compare_smp.py](../benchmarks/compare_smp.py) on the segmentation_models_pytorch
(smp) network. Both read the same image and label files (the plain loop with PIL and numpy), apply the same
augmentation (resize, random scale, random crop padded with the ignore label, horizontal flip), batch size,
iterations, AdamW, warm-up + poly schedule, loss, precision (autocast), seed, ImageNet normalisation and validation
protocol (whole images, resized as the recipe says and padded to the network's divisor, logits up-sampled to the label
size, one confusion matrix over the validation split). Each side is one process with one thread (`OMP_NUM_THREADS=1`,
`torch.set_num_threads(1)`, no DataLoader workers: segzoo runs with `--threads 1 --num-workers 0 --device cpu`). By
default both sides run at the same time, each pinned to a CPU of its own, and they swap CPUs every 20 s, so that they
share the machine's load minute for minute and neither is charged for a slower core; an earlier run may have kept
each side on one CPU, or gone one after the other (its schedule is listed). The time compared is training +
periodic validation, each side by its own clock (segzoo: the trainer's `time` in metrics.jsonl; the plain loop: around
its loop), data loading and checkpoints included, start-up excluded; the whole process is timed too when the
comparison launched it. A segzoo side may be the very run a catalog checkpoint was exported from (`--segzoo-run`): it
is then refused unless it trained exactly the recipe. The metric is the last validation, not the best. One run and one
seed per side: differences of a few tenths of a point are within seed noise, and sides run at different times see
different machine load (listed below)."""


def render(data: dict[str, Any]) -> str:
    """The Markdown page for the JSON records."""
    lines = [
        "# segzoo against a plain smp training loop",
        "",
        "<!-- generated by benchmarks/compare_smp.py from smp-comparison.json; do not edit -->",
        "",
        PROTOCOL,
        "",
        "| task | architecture | budget | metric | segzoo | smp | segzoo time | smp time | smp / segzoo |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in sorted(data["tasks"].items()):
        b = r["budget"]
        budget = (
            f"{b['iterations']} it x {b['batch_size']} crops {b['crop'][0]}x{b['crop'][1]}, {b['precision']}, "
            f"{b['threads']} thread"
        )
        sz, sm = r.get("segzoo"), r.get("smp")
        cells = [
            f"{sz['metric'] * 100:.2f}" if sz else "-",
            f"{sm['metric'] * 100:.2f}" if sm else "-",
            fmt_time(sz["train_eval_s"]) if sz else "-",
            fmt_time(sm["train_eval_s"]) if sm else "-",
            f"{sm['train_eval_s'] / sz['train_eval_s']:.2f}" if sz and sm else "-",
        ]
        lines.append(
            f"| {name} | {r['architecture']['segzoo']} | {budget} | {r['metric']} | " + " | ".join(cells) + " |"
        )
    lines += [
        "",
        "## Networks",
        "",
        "| task | segzoo params | smp params | segzoo GMAC / crop | smp GMAC / crop | smp network |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in sorted(data["tasks"].items()):
        n = r["networks"]
        lines.append(
            f"| {name} | {n['segzoo']['params']:,} | {n['smp']['params']:,} | "
            f"{n['segzoo']['macs_per_crop'] / 1e9:.3f} | {n['smp']['macs_per_crop'] / 1e9:.3f} | "
            f"`{r['architecture']['smp']}` |"
        )
    for name, r in sorted(data["tasks"].items()):
        lines += ["", f"### {name}", ""]
        lines += [f"- {d}" for d in r["differences"]]
        if r.get("schedule") == "parallel":
            cpus = "; ".join(
                f"{side} on {c}" if isinstance(c := r[side]["cpu"], str) else f"{side} on CPU {c}"
                for side in r["order"]
            )
            lines.append(f"- schedule: both sides at the same time, each pinned to its own CPU ({cpus})")
        else:
            lines.append(f"- order: {' then '.join(r['order'])}")
        for side in r["order"]:
            s, env = r[side], r[side]["environment"]
            commit = env["git"]["commit"][:10] + (" (modified)" if env["git"]["dirty"] else "")
            load = (
                f"load average {s['load_start'][0]:.2f} at start, {s['load_end'][0]:.2f} at end"
                if s.get("load_start")
                else f"reused run `{s['reused_run']}` (finished {s['finished']})"
            )
            wall = f"whole process {fmt_time(s['wall_s'])}" if s.get("wall_s") else "whole process not timed"
            lines.append(
                f"- {side}: run {s['started']} on {env['cpu']} ({env['cpu_count']} cores), torch {env['torch']}, "
                f"smp {env['smp']}, timm {env['timm']}, segzoo commit {commit}; {load}; training + validation "
                f"{fmt_time(s['train_eval_s'])}, of which validation {fmt_time(s['eval_s'])}; {wall}"
            )
        lines += ["", "```console", f"python benchmarks/compare_smp.py --recipe {r['recipe']}", "```"]
    return "\n".join(lines) + "\n"


# -- checks ----------------------------------------------------------------------------------------------------------
def check(recipe: dict[str, Any]) -> int:
    """Networks, losses and data of the two sides agree where they should; prints what differs. Exit 1 on a mismatch."""
    import segzoo

    torch.set_num_threads(1)
    ok = True
    nets = networks(recipe)
    print(json.dumps(nets))
    if recipe["architecture"] == "unet":
        diff = unet_logits_difference(recipe)
        print(f"smp weights in segzoo's unet via the converter: max |logit difference| {diff:.2e}")
        ok &= diff <= 1e-4 and nets["segzoo"]["params"] == nets["smp"]["params"]
    for d in differences(recipe):
        print("difference:", d)

    torch.manual_seed(0)
    logits, target = torch.randn(2, num_classes(recipe), 16, 16), torch.randint(0, num_classes(recipe), (2, 16, 16))
    target[0, :3] = IGNORE
    options = {**recipe.get("loss_options", {}), "ignore_index": IGNORE}
    ours = segzoo.create_loss(recipe["loss"], **options)(logits, target)
    plain = make_criterion(recipe)(logits, target)
    print(f"loss: segzoo {ours.item():.6f}, plain {plain.item():.6f}")
    ok &= torch.allclose(ours, plain, atol=1e-5)

    table = label_table(recipe)
    for spec in (recipe["train_split"], recipe["val_split"]):
        name, part = parse_split(spec)
        options = recipe.get("dataset_options", {})
        ds = segzoo.create_dataset(recipe["dataset"], ROOT / recipe["data_root"], split=name, **options)
        theirs = [tuple(p.resolve() for p in f) for f in ds.files[part]]
        files = split_files(recipe, spec)
        mine = [tuple(p.resolve() for p in f) for f in files]
        same_files = sorted(mine) == sorted(theirs)
        indices = range(len(ds))[part]
        by_path = {f: i for i, f in enumerate(mine)}
        same_pixels = all(
            _same_pair(Samples(files, table, False)[by_path[theirs[j]]], ds[indices[j]]) for j in (0, len(theirs) - 1)
        )
        print(f"split {spec}: {len(mine)} files, same files as segzoo {same_files}, same pixels {same_pixels}")
        ok &= same_files and same_pixels
    print("check passed" if ok else "CHECK FAILED")
    return 0 if ok else 1


def _same_pair(a: tuple[Image.Image, Image.Image], b: tuple[Image.Image, Image.Image]) -> bool:

    return all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(a, b))


def unet_logits_difference(recipe: dict[str, Any]) -> float:
    """Max |difference| of the logits after loading random smp weights (random BatchNorm statistics too) into
    segzoo's unet with segzoo's smp converter."""
    from segzoo_unet.smp import convert_smp_unet, entry_from_smp_config

    torch.manual_seed(0)
    theirs = build_smp(recipe).eval()
    for m in theirs.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
    config = {
        "encoder_name": f"tu-{recipe['encoder']}",
        "decoder_channels": list(recipe["model_options"]["decoder_channels"]),
        "classes": num_classes(recipe),
    }
    entry = entry_from_smp_config(config)
    ours = build_segzoo(recipe).eval()
    ours.load_state_dict(convert_smp_unet(theirs.state_dict(), entry), strict=True)
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        return float((ours(x) - theirs(x)).abs().max())


# -- command line ----------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipe", type=Path, help="segzoo training recipe, e.g. configs/unet-classic16-drive.json")
    p.add_argument("--max-iters", type=int, help="iterations other than the recipe's: a smoke test, kept out of docs/")
    p.add_argument(
        "--precision",
        choices=("fp32", "bf16"),
        help="precision other than the recipe's (fp32 where bf16 would be emulated): a smoke test, kept out of docs/",
    )
    p.add_argument("--only", choices=("segzoo", "smp"), help="run one side; the stored other side is kept")
    p.add_argument(
        "--order",
        choices=("parallel", "smp-first", "segzoo-first"),
        default="parallel",
        help="both sides at once, each on its own CPU (default), or one after the other",
    )
    p.add_argument("--out", type=Path, help="results JSON (default docs/smp-comparison.json, smoke tests elsewhere)")
    p.add_argument("--report-only", action="store_true", help="re-render the Markdown from the JSON")
    p.add_argument("--check", action="store_true", help="compare networks, losses and data reading; no training")
    p.add_argument(
        "--segzoo-run",
        type=Path,
        help="take the segzoo side from this finished run of the same recipe instead of training it again",
    )
    p.add_argument("--smp-worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--run-dir", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.report_only:
        out = args.out or DOCS_JSON
        out.with_suffix(".md").write_text(render(json.loads(out.read_text())))
        print(f"wrote {out.with_suffix('.md')}")
        return 0
    if args.recipe is None:
        p.error("--recipe is required")
    recipe_path = args.recipe.resolve()
    recipe = load_recipe(recipe_path)
    precision = None if args.precision in (None, recipe["precision"]) else args.precision
    if precision is not None:
        recipe = {**recipe, "precision": precision}
    if args.smp_worker:
        result = train_smp(recipe, args.max_iters or recipe["max_iters"], args.run_dir)
        (args.run_dir / "result.json").write_text(json.dumps(result, indent=2) + "\n")
        return 0
    if args.check:
        return check(recipe)

    max_iters = None if args.max_iters in (None, recipe["max_iters"]) else args.max_iters
    full = max_iters is None and precision is None
    out = (args.out or (DOCS_JSON if full else SMOKE_JSON)).resolve()
    if not full and (ROOT / "docs") in out.parents:
        p.error(
            "a run with another budget or precision than the recipe's (--max-iters, --precision) must not write to "
            "docs/; pass --out"
        )
    sides = [args.only] if args.only else (["smp", "segzoo"] if args.order == "smp-first" else ["segzoo", "smp"])

    name = task_name(recipe_path)
    record: dict[str, Any] = {
        "task": name,
        "recipe": str(recipe_path.relative_to(ROOT)),
        "recipe_sha256": hashlib.sha256(recipe_path.read_bytes()).hexdigest(),
        "dataset": recipe["dataset"],
        "metric": metric_name(recipe),
        "architecture": architecture_text(recipe),
        "budget": {
            "iterations": max_iters or recipe["max_iters"],
            "batch_size": recipe["batch_size"],
            "crop": list(crop_hw(recipe)),
            "precision": recipe["precision"],
            "threads": 1,
        },
        "segzoo_overrides": SEGZOO_OVERRIDES,
        "networks": networks(recipe),
        "differences": differences(recipe),
    }
    if "segzoo" in sides and args.segzoo_run:
        record["segzoo"] = reuse_segzoo_run(args.segzoo_run.resolve(), recipe)
    to_run = [s for s in sides if s not in record]
    parallel = args.order == "parallel" and len(to_run) == 2
    record.update(run_sides(to_run, recipe_path, recipe, max_iters, precision, parallel))
    record["schedule"] = "parallel" if parallel else "sequential"
    data = merge(out, name, record, sides)
    out.with_suffix(".md").write_text(render(data))
    print(f"wrote {out} and {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
