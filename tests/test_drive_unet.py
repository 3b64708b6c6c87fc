"""The first-party DRIVE U-Net, trained on all 20 DRIVE training images: its catalog numbers are the pooled 5-fold
cross-validation of its recipe shipped beside the weights; `segzoo eval` by name applies the entry's protocol, and its
vessel Dice equals one computed independently, with numpy, from the mask PNGs `segzoo predict` writes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import torch

import segzoo
from quick_bench import QUICK_BENCH

ROOT = Path(__file__).resolve().parents[1]
DRIVE = Path(os.environ.get("SEGZOO_DATA", ROOT.parent / "shared" / "datasets")) / "drive" / "DRIVE"
NAME = "unet-classic16-drive"
FOLDER = ROOT / "checkpoints" / NAME
IMAGES = [f"{n}_training" for n in range(37, 41)]  # seen in training: eval and predict agree, on any image

pytestmark = [
    pytest.mark.skipif(not (DRIVE / "training" / "1st_manual").is_dir(), reason=f"DRIVE not found at {DRIVE}"),
    pytest.mark.skipif("unet-original" not in segzoo.list_architectures(), reason="segzoo-unet is not installed"),
]


def _script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("train_drive_unet", ROOT / "scripts" / "train_drive_unet.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


def test_catalog_entry_says_how_it_was_measured():
    entry = segzoo.info(NAME)
    assert entry["dataset"]["eval_split"] == "test" and entry["inference"] == {"mode": "whole"}
    assert entry["metrics"]["cross_validation"] == {"folds": 5, "split": "train"}
    assert "resize" not in entry["preprocessing"]  # whole images at the native 565x584
    assert segzoo.load(FOLDER).config["preprocessing"] == entry["preprocessing"]


def test_catalog_numbers_are_the_pooled_cross_validation_shipped_with_the_weights():
    from segzoo.train.data import parse_split, split_indices

    script = _script()
    cv = json.loads((FOLDER / "cross-validation.json").read_text())
    held_out = []
    for fold in cv["folds"]:
        train, held = (split_indices(20, parse_split(fold[k])[1]) for k in ("train", "held_out"))
        assert not set(train) & set(held) and sorted(train + held) == list(range(20))
        held_out += held
        c = fold["counts"]  # the fold's own Dice and its pixel counts agree
        assert round(200 * c["tp"][1] / (c["labelled"][1] + c["predicted"][1]), 2) == fold["Dice"]
        assert sum(c["labelled"]) == sum(c["predicted"]) == 4 * 584 * 565  # every pixel of 4 images
    assert sorted(held_out) == list(range(20))  # every training image scored once, by a model that never saw it
    values = segzoo.info(NAME)["metrics"]["values"]
    assert script.pool(cv["folds"]) == cv["pooled"] == values
    assert min(f["Dice"] for f in cv["folds"]) < values["Dice"] < max(f["Dice"] for f in cv["folds"])


@pytest.mark.slow
def test_eval_dice_is_an_independent_one_of_the_predicted_masks(tmp_path, capsys):
    from segzoo.cli import main as cli

    out = tmp_path / "eval.json"
    common = ["--dataset", "drive", "--root", str(DRIVE.parent), "--split", "train[16:]", "--engine", "eager"]
    every = ["--dataset-option", "fov_as_ignore=false", "--num-workers", "0", "--no-progress", "--json", str(out)]
    assert cli(["eval", str(FOLDER), *common, *every]) == 0
    images = [DRIVE / "training" / "images" / f"{stem}.tif" for stem in IMAGES]
    assert cli(["predict", str(FOLDER), *map(str, images), "--out", str(tmp_path / "masks"), "--no-progress"]) == 0
    capsys.readouterr()
    measured = json.loads(out.read_text())
    assert measured["images"] == 4
    tp = fp = fn = 0
    model = segzoo.load(FOLDER).eval()
    for stem in IMAGES:
        pred = np.asarray(Image.open(tmp_path / "masks" / f"{stem}_mask.png")) == 1
        # an evaluator's own loop gives the same mask: model(x) takes the 584x565 frame, padded inside
        with torch.inference_mode():
            logits = model(model.transforms()(Image.open(images[IMAGES.index(stem)]).convert("RGB"))[None])
        assert (logits.argmax(1)[0].numpy() == pred).mean() > 0.9999
        label = np.asarray(Image.open(DRIVE / "training" / "1st_manual" / f"{stem.split('_')[0]}_manual1.gif")) == 255
        assert pred.shape == label.shape == (584, 565)
        tp += int((pred & label).sum())
        fp += int((pred & ~label).sum())
        fn += int((~pred & label).sum())
    dice = 2 * tp / (2 * tp + fp + fn)
    assert measured["metrics"]["dice"][1] == pytest.approx(dice, abs=1e-12)
    assert dice > 0.7  # a trained vessel model (an empty prediction scores 0)


def _as_test_split(root: Path, numbers) -> Path:
    """DRIVE training images linked under the test split's file names (01_test.tif, 01_manual1.gif,
    01_test_mask.gif, ...), in the official layout: what the independent evaluation reads."""
    for folder in ("images", "1st_manual", "mask"):
        (root / "test" / folder).mkdir(parents=True)
    for i, n in enumerate(numbers, 1):
        for source, target in [
            (f"images/{n}_training.tif", f"images/{i:02d}_test.tif"),
            (f"1st_manual/{n}_manual1.gif", f"1st_manual/{i:02d}_manual1.gif"),
            (f"mask/{n}_training_mask.gif", f"mask/{i:02d}_test_mask.gif"),
        ]:
            (root / "test" / target).symlink_to(DRIVE / "training" / source)
    return root


@pytest.mark.slow
def test_eval_by_name_applies_the_entrys_protocol(tmp_path, hub_server, hf_env, capsys):
    """`segzoo eval NAME` and `segzoo bench --models NAME` take the entry's split (DRIVE test) and its eval_options
    (fov_as_ignore=false: every pixel, as mmseg reports DRIVE); a cross-validation estimate is never flagged as a
    failed reproduction."""
    from segzoo.cli import main as cli
    from segzoo.hub.serialization import publish_directory

    entry = segzoo.info(NAME)
    assert entry["dataset"]["eval_options"] == {"fov_as_ignore": False}
    publish_directory(FOLDER, entry["weights"]["hub"]["repo_id"])
    out = tmp_path / "eval.json"
    options = ["--engine", "eager", "--num-workers", "0", "--no-progress", "--json", str(out)]
    drive = ["--dataset", "drive", "--root", str(DRIVE.parent), *options]
    if not (DRIVE / "test" / "1st_manual").is_dir():  # ../shared has the training images only
        assert cli(["eval", NAME, *drive]) != 0
        assert "test" in capsys.readouterr().err
    assert cli(["eval", NAME, *drive, "--split", "train[16:]"]) == 0
    measured = json.loads(out.read_text())
    assert (measured["split"], measured["dataset_options"]) == ("train[16:]", {"fov_as_ignore": False})
    # the same four images under the official test split's names: by name, the entry's split and options apply;
    # so they do to the checkpoint folder, whose config.json records them as the entry does
    other_root = ["--dataset", "drive", "--root", str(_as_test_split(tmp_path / "DRIVE", range(37, 41))), *options]
    assert cli(["eval", NAME, *other_root]) == 0
    assert json.loads(out.read_text())["metrics"] == measured["metrics"]
    assert cli(["eval", str(FOLDER), *other_root]) == 0
    by_folder = json.loads(out.read_text())
    assert (by_folder["split"], by_folder["dataset_options"]) == ("test", {"fov_as_ignore": False})
    assert by_folder["metrics"] == measured["metrics"]
    # asked for explicitly, the FOV-only score differs: the option is really applied
    assert cli(["eval", NAME, *drive, "--split", "train[16:]", "--dataset-option", "fov_as_ignore=true"]) == 0
    fov = json.loads(out.read_text())
    assert fov["dataset_options"] == {"fov_as_ignore": True}
    assert fov["metrics"]["mIoU"] != measured["metrics"]["mIoU"]
    board = tmp_path / "drive.md"
    bench = ["bench", "--models", NAME, "--dataset", "drive", "--root", str(DRIVE.parent), "--split", "train[16:]"]
    bench += [*QUICK_BENCH, "--markdown", str(board)]
    assert cli(bench) == 0
    capsys.readouterr()
    [result] = json.loads(board.with_suffix(".json").read_text())["results"]
    assert (result["published_metric"], result["published"]) == ("mIoU", entry["metrics"]["values"]["mIoU"])
    assert result["delta_published"] == pytest.approx(100 * measured["metrics"]["mIoU"] - result["published"])
    assert result["flagged"] is False


def test_cross_validation_folds_score_every_image_once_by_a_model_that_never_saw_it():
    from segzoo.train.data import parse_split, split_indices

    script = _script()
    held_out = []
    for fold in range(5):
        train, held = (split_indices(20, parse_split(s)[1]) for s in script.fold_splits(fold, 5))
        assert not set(train) & set(held) and sorted(train + held) == list(range(20)) and len(held) == 4
        held_out += held
    assert sorted(held_out) == list(range(20))
    recipe = script.recipe()
    assert (recipe["train_split"], recipe["val_split"]) == ("train", None)  # the shipped weights saw all 20


def test_export_tells_the_recipes_runs_from_a_variants(tmp_path):
    """A fold run differs from the recipe in its paths, splits and threads only; the experiment at twice the
    iterations is told apart, so its results cannot be exported as the recipe's."""
    from segzoo.train import TrainConfig

    script = _script()
    recipe = TrainConfig.from_json(script.RECIPE)
    train, held = script.fold_splits(1, 5)
    fold = recipe.replace(train_split=train, val_split=held, output=str(tmp_path), threads=2, quiet=True)
    variant = TrainConfig.from_json(ROOT / "configs" / "experiments" / f"{NAME}-6k.json")
    for run, config in (("fold", fold), ("variant", variant.replace(train_split=train, val_split=held))):
        (tmp_path / run).mkdir()
        (tmp_path / run / "config.json").write_text(json.dumps(config.to_dict()))
    assert script.recipe_differences(tmp_path / "fold") == {}
    assert script.recipe_differences(tmp_path / "variant") == {"max_iters": (3000, 6000)}
