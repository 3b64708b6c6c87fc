"""The first-party DRIVE U-Net on the real DRIVE images it was not trained on (37-40): the catalog's numbers are what
`segzoo eval` measures over all pixels, and that vessel Dice equals one computed independently, with numpy, from the
mask PNGs `segzoo predict` writes at the label resolution."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import segzoo
from quick_bench import QUICK_BENCH

ROOT = Path(__file__).resolve().parents[1]
DRIVE = Path(os.environ.get("SEGZOO_DATA", ROOT.parent / "shared" / "datasets")) / "drive" / "DRIVE"
NAME = "unet-classic16-drive"
FOLDER = ROOT / "checkpoints" / NAME
HELD_OUT = [f"{n}_training" for n in range(37, 41)]

pytestmark = [
    pytest.mark.skipif(not (DRIVE / "training" / "1st_manual").is_dir(), reason=f"DRIVE not found at {DRIVE}"),
    pytest.mark.skipif("unet-original" not in segzoo.list_architectures(), reason="segzoo-unet is not installed"),
]


def test_catalog_entry_says_how_it_was_measured():
    entry = segzoo.info(NAME)
    assert entry["dataset"]["eval_split"] == "train[16:]" and entry["inference"] == {"mode": "whole"}
    assert "resize" not in entry["preprocessing"]  # whole images at the native 565x584
    assert segzoo.load(FOLDER).config["preprocessing"] == entry["preprocessing"]


@pytest.mark.slow
def test_eval_dice_is_the_catalogs_and_an_independent_one_of_the_predicted_masks(tmp_path, capsys):
    from segzoo.cli import main as cli

    out = tmp_path / "eval.json"
    common = ["--dataset", "drive", "--root", str(DRIVE.parent), "--split", "train[16:]", "--engine", "eager"]
    every = ["--dataset-option", "fov_as_ignore=false", "--num-workers", "0", "--no-progress", "--json", str(out)]
    assert cli(["eval", str(FOLDER), *common, *every]) == 0
    images = [DRIVE / "training" / "images" / f"{stem}.tif" for stem in HELD_OUT]
    assert cli(["predict", str(FOLDER), *map(str, images), "--out", str(tmp_path / "masks"), "--no-progress"]) == 0
    capsys.readouterr()
    measured = json.loads(out.read_text())
    assert measured["images"] == 4
    tp = fp = fn = 0
    for stem in HELD_OUT:
        pred = np.asarray(Image.open(tmp_path / "masks" / f"{stem}_mask.png")) == 1
        label = np.asarray(Image.open(DRIVE / "training" / "1st_manual" / f"{stem.split('_')[0]}_manual1.gif")) == 255
        assert pred.shape == label.shape == (584, 565)
        tp += int((pred & label).sum())
        fp += int((pred & ~label).sum())
        fn += int((~pred & label).sum())
    dice = 2 * tp / (2 * tp + fp + fn)
    assert measured["metrics"]["dice"][1] == pytest.approx(dice, abs=1e-12)
    published = segzoo.info(NAME)["metrics"]["values"]
    assert round(100 * dice, 2) == published["Dice"]
    assert round(100 * measured["metrics"]["mIoU"], 2) == published["mIoU"]
    assert dice > 0.7  # a trained vessel model (an empty prediction scores 0)


@pytest.mark.slow
def test_eval_by_name_scores_as_the_entry_says_without_options(tmp_path, hub_server, hf_env, capsys):
    """`segzoo eval NAME` and `segzoo bench --models NAME` take the entry's split and its eval_options
    (fov_as_ignore=false: every pixel, as mmseg reports DRIVE) and reproduce the published numbers."""
    from segzoo.cli import main as cli
    from segzoo.hub.serialization import publish_directory

    entry = segzoo.info(NAME)
    assert entry["dataset"]["eval_options"] == {"fov_as_ignore": False}
    publish_directory(FOLDER, entry["weights"]["hub"]["repo_id"])
    out = tmp_path / "eval.json"
    every = ["--engine", "eager", "--num-workers", "0", "--no-progress"]
    assert cli(["eval", NAME, "--dataset", "drive", "--root", str(DRIVE.parent), *every, "--json", str(out)]) == 0
    measured = json.loads(out.read_text())
    assert (measured["split"], measured["dataset_options"]) == ("train[16:]", {"fov_as_ignore": False})
    assert round(100 * measured["metrics"]["dice"][1], 2) == entry["metrics"]["values"]["Dice"]
    # asked for explicitly, the FOV-only score differs: the option is really applied
    assert (
        cli(
            [
                "eval",
                NAME,
                "--dataset",
                "drive",
                "--root",
                str(DRIVE.parent),
                *every,
                "--json",
                str(out),
                "--dataset-option",
                "fov_as_ignore=true",
            ]
        )
        == 0
    )
    fov = json.loads(out.read_text())
    assert fov["dataset_options"] == {"fov_as_ignore": True}
    assert fov["metrics"]["mIoU"] != measured["metrics"]["mIoU"]
    board = tmp_path / "drive.md"
    bench = ["bench", "--models", NAME, "--dataset", "drive", "--root", str(DRIVE.parent), *QUICK_BENCH]
    bench += ["--markdown", str(board)]
    assert cli(bench) == 0
    capsys.readouterr()
    [result] = json.loads(board.with_suffix(".json").read_text())["results"]
    assert result["published"] == entry["metrics"]["values"][result["published_metric"]]
    assert result["delta_published"] == pytest.approx(0, abs=0.005)


def test_cross_validation_folds_score_every_image_once_by_a_model_that_never_saw_it():
    import importlib.util

    from segzoo.train.data import parse_split, split_indices

    path = ROOT / "scripts" / "train_drive_unet.py"
    spec = importlib.util.spec_from_file_location("train_drive_unet", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    held_out = []
    for fold in range(5):
        train, held = (split_indices(20, parse_split(s)[1]) for s in script.fold_splits(fold, 5))
        assert not set(train) & set(held) and sorted(train + held) == list(range(20))
        held_out += held
    assert sorted(held_out) == list(range(20))
    recipe = script.recipe()
    assert script.fold_splits(4, 5) == (recipe["train_split"], recipe["val_split"])  # the shipped model's own split
