"""configs/<name>.json: one training recipe per first-party checkpoint, run by ``segzoo train --config``.

The recipes are not retrained here; each must describe the model its checkpoint holds, be a valid training config,
and start a real run (2 iterations of tiny crops on its real dataset, CamVid or DRIVE) with command-line overrides.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from segzoo._hardware import bf16_supported
from segzoo.train import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS = sorted(p.name for p in (ROOT / "checkpoints").iterdir() if (p / "config.json").is_file())
DATA = ROOT.parent / "shared" / "datasets"
#: each recipe's dataset: where its data is here, and the runs folder its recipe writes to
DATASETS = {"camvid": (DATA / "camvid", "runs/camvid-zoo"), "drive": (DATA / "drive", "runs/drive")}


def _dataset(name: str) -> str:
    return json.loads((ROOT / "configs" / f"{name}.json").read_text())["dataset"]


def test_every_checkpoint_has_a_recipe_and_every_recipe_a_checkpoint():
    recipes = sorted(p.stem for p in (ROOT / "configs").glob("*.json"))
    assert CHECKPOINTS and recipes == CHECKPOINTS


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_recipe_is_a_valid_config_that_builds_its_checkpoints_model(name):
    config = TrainConfig.from_json(ROOT / "configs" / f"{name}.json").validate()
    saved = json.loads((ROOT / "checkpoints" / name / "config.json").read_text())
    built = config
    if config.model is not None:  # a continuation: it starts from a committed checkpoint built by its own recipe
        start = Path(config.model)
        assert start.parent == Path("checkpoints") and (ROOT / start / "model.safetensors").is_file()
        built = TrainConfig.from_json(ROOT / "configs" / f"{start.name}.json")
    assert (built.architecture, built.encoder, built.model_options) == (
        saved["architecture"],
        saved["encoder"],
        saved["options"],
    )
    assert config.resize == (saved["preprocessing"].get("resize") or {}).get("shorter_side")
    # what a reproduction needs, written down rather than left to defaults that may change
    raw = json.loads((ROOT / "configs" / f"{name}.json").read_text())
    assert {
        "seed",
        "schedule",
        "max_iters",
        "batch_size",
        "lr",
        "optimizer",
        "crop_size",
        "scale_range",
        "hflip",
        "loss",
        "loss_options",
        "precision",
    } <= set(raw)
    assert config.output == f"{DATASETS[config.dataset][1]}/{name}"


@pytest.mark.slow
@pytest.mark.parametrize("name", CHECKPOINTS)
def test_segzoo_train_config_starts_and_runs_two_iterations(name, tmp_path, monkeypatch):
    from segzoo.train.cli import main

    data = DATASETS[_dataset(name)][0]
    if not data.is_dir():
        pytest.skip(f"needs the {_dataset(name)} data in {data}")
    monkeypatch.chdir(ROOT)  # the recipes name their data and output relative to the repository root
    out = tmp_path / "run"
    recipe = json.loads((ROOT / "configs" / f"{name}.json").read_text())
    # where bf16 is emulated, two bf16 steps of SegNet-Basic take 80 s; fp32 checks the same recipe in a second
    emulated = recipe.get("precision") == "bf16" and not bf16_supported(torch.device("cpu"))
    rc = main(
        [
            "--config",
            f"configs/{name}.json",
            "--data-root",
            str(data),
            "--max-iters",
            "2",
            "--crop-size",
            "64",
            "--batch-size",
            "2",
            "--train-split",
            "train[:4]",
            "--val-split",
            "none",
            "--num-workers",
            "0",
            "--threads",
            "1",
            "--no-plot",
            "--quiet",
            "--device",
            "cpu",
            "-o",
            str(out),
            *(["--precision", "fp32"] if emulated else []),
        ]
    )
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["iterations"] == 2
    run = json.loads((out / "config.json").read_text())
    overridden = {
        "max_iters",
        "crop_size",
        "batch_size",
        "data_root",
        "val_split",
        "train_split",
        "num_workers",
        "threads",
        "output",
        *(["precision"] if emulated else []),
    }
    kept = {k: v for k, v in recipe.items() if k not in overridden}
    assert {k: run[k] for k in kept} == kept  # the overrides changed only what they name


@pytest.mark.parametrize("path", sorted((ROOT / "configs" / "experiments").glob("*.json")), ids=lambda p: p.stem)
def test_experiment_recipes_are_variants_writing_under_runs(path):
    """configs/experiments/: measured variants and continuations (docs/camvid-zoo.md, docs/drive-unet.md), not
    catalog recipes; a continuation starts from a committed checkpoint, and each writes under runs/, never over a
    catalog model's run."""
    config = TrainConfig.from_json(path).validate()
    for spec in (config.model, config.distill_from):
        if spec is not None:
            assert (ROOT / spec / "model.safetensors").is_file(), spec
    assert config.output.startswith("runs/") and config.output.split("/")[1] not in ("camvid-zoo", "drive")
