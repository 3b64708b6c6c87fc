"""benchmarks/compare_smp.py: the smp side of the published comparison trains the network, loss, schedule and data
that the segzoo side does (or, for the DRIVE U-Net, the closest smp network, with the differences it reports)."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch

pytest.importorskip("segmentation_models_pytorch")

ROOT = Path(__file__).resolve().parents[1]
CAMVID = ROOT / "benchmarks" / "recipes" / "unet-mobilenetv3-camvid.json"
DRIVE = ROOT / "benchmarks" / "recipes" / "unet-classic16-drive.json"
#: The parameter counts docs/smp-comparison.md reports for the DRIVE pair.
DRIVE_PARAMS = {"segzoo": 1_812_274, "smp": 1_969_042}


@pytest.fixture(scope="module")
def compare() -> ModuleType:
    spec = importlib.util.spec_from_file_location("compare_smp", ROOT / "benchmarks" / "compare_smp.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_camvid_smp_unet_is_segzoos_unet(compare: ModuleType) -> None:
    recipe = compare.load_recipe(CAMVID)
    if recipe["architecture"] != "unet":
        pytest.skip("the CamVid recipe no longer trains a unet")
    assert compare.unet_logits_difference(recipe) <= 1e-4
    torch.manual_seed(0)
    assert compare.count_params(compare.build_smp(recipe)) == compare.count_params(compare.build_segzoo(recipe))


def test_drive_networks_build_with_the_reported_sizes(compare: ModuleType) -> None:
    recipe = compare.load_recipe(DRIVE)
    ours, theirs = compare.build_segzoo(recipe), compare.build_smp(recipe)
    assert compare.count_params(ours) == DRIVE_PARAMS["segzoo"]
    assert compare.count_params(theirs) == DRIVE_PARAMS["smp"]
    assert compare.count_params(theirs.encoder) == compare.count_params(ours.encoder)  # the same contracting path
    x = torch.randn(1, 3, 64, 48)
    with torch.no_grad():
        assert ours.eval()(x).shape == theirs.eval()(x).shape == (1, 2, 64, 48)
    assert theirs.encoder.output_stride == ours.input_divisor == 16


@pytest.mark.parametrize("recipe_path", [CAMVID, DRIVE], ids=["camvid", "drive"])
def test_plain_loss_is_segzoos_loss(compare: ModuleType, recipe_path: Path) -> None:
    import segzoo

    recipe = compare.load_recipe(recipe_path)
    k = compare.num_classes(recipe)
    torch.manual_seed(0)
    logits, target = torch.randn(2, k, 12, 10), torch.randint(0, k, (2, 12, 10))
    target[0, :4] = compare.IGNORE
    options = {**recipe.get("loss_options", {}), "ignore_index": compare.IGNORE}
    expected = segzoo.create_loss(recipe["loss"], **options)(logits, target)
    torch.testing.assert_close(compare.make_criterion(recipe)(logits, target), expected)


def test_dice_leaves_out_absent_classes_as_segzoo_does(compare: ModuleType) -> None:
    import segzoo

    logits, target = torch.randn(1, 3, 8, 8), torch.randint(0, 2, (1, 8, 8))  # class 2 absent
    torch.testing.assert_close(compare.dice_loss(logits, target), segzoo.create_loss("dice")(logits, target))


@pytest.mark.parametrize("recipe_path", [CAMVID, DRIVE], ids=["camvid", "drive"])
def test_schedule_is_segzoos(compare: ModuleType, recipe_path: Path) -> None:
    from segzoo.train.schedule import lr_factor

    recipe = compare.load_recipe(recipe_path)
    total = recipe["max_iters"]
    options = {k: recipe[k] for k in ("poly_power", "warmup_iters", "warmup_start_factor")}
    for i in (0, 1, recipe["warmup_iters"] - 1, recipe["warmup_iters"], total // 2, total - 1):
        assert compare.lr_factor(i, total, recipe) == pytest.approx(lr_factor(i, total, schedule="poly", **options))


def test_drive_reader_matches_segzoos(compare: ModuleType) -> None:
    import numpy as np

    import segzoo

    recipe = compare.load_recipe(DRIVE)
    root = ROOT / recipe["data_root"]
    if not root.is_dir():
        pytest.skip(f"{root} is not here")
    files = compare.split_files(recipe, recipe["val_split"])
    ds = segzoo.create_dataset("drive", root, split="train", **recipe["dataset_options"])
    assert [tuple(p.resolve() for p in f) for f in files] == [tuple(p.resolve() for p in f) for f in ds.files[16:]]
    image, label = compare.Samples(files, compare.label_table(recipe), cache=False)[0]
    ref_image, ref_label = ds[16]
    assert np.array_equal(np.asarray(image), np.asarray(ref_image))
    assert np.array_equal(np.asarray(label), np.asarray(ref_label))


def test_confusion_and_scores(compare: ModuleType) -> None:
    target = torch.tensor([[0, 1, 1, 255]])
    pred = torch.tensor([[0, 1, 0, 1]])
    cm = compare.confusion(pred, target, 2)
    assert cm.tolist() == [[1, 0], [1, 1]]
    assert compare.score(cm, {"dataset": "drive"}) == pytest.approx(2 / 3)  # vessel Dice: 2*1 / (2 + 1)
    assert compare.score(cm, {"dataset": "camvid"}) == pytest.approx((1 / 2 + 1 / 2) / 2)


def _record(compare: ModuleType, iterations: int, side: str, started: str) -> dict[str, Any]:
    return {
        "budget": {"iterations": iterations},
        "recipe_sha256": "x",
        side: {"started": started, "metric": 0.5, "wall_s": 1.0},
    }


def test_merge_keeps_the_other_side_of_the_same_budget_only(compare: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    compare.merge(out, "task", _record(compare, 10, "smp", "2026-01-01T00:00:00"), ["smp"])
    data = compare.merge(out, "task", _record(compare, 10, "segzoo", "2026-01-01T00:01:00"), ["segzoo"])
    assert data["tasks"]["task"]["order"] == ["smp", "segzoo"]
    data = compare.merge(out, "task", _record(compare, 20, "segzoo", "2026-01-01T00:02:00"), ["segzoo"])
    assert "smp" not in data["tasks"]["task"] and data["tasks"]["task"]["order"] == ["segzoo"]
    assert json.loads(out.read_text()) == data


def test_a_smoke_run_refuses_to_write_docs(compare: ModuleType) -> None:
    with pytest.raises(SystemExit):
        compare.main(["--recipe", str(DRIVE), "--max-iters", "3", "--out", str(ROOT / "docs" / "x.json")])
    with pytest.raises(SystemExit):
        compare.main(["--recipe", str(DRIVE), "--precision", "fp32", "--out", str(ROOT / "docs" / "x.json")])
    assert not (ROOT / "docs" / "x.json").exists()


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="the parallel schedule needs two CPUs")
def test_both_sides_train_at_once_on_cpus_of_their_own(compare: ModuleType, tmp_path: Path) -> None:
    from segzoo._hardware import bf16_supported

    out = tmp_path / "smoke.json"
    # the recipe's bf16 where the CPU has it; emulated, its 4 whole-image evaluations took 10 minutes on AVX2
    precision = "bf16" if bf16_supported(torch.device("cpu")) else "fp32"
    argv = ["--recipe", str(DRIVE), "--max-iters", "2", "--precision", precision, "--out", str(out)]
    assert compare.main(argv) == 0
    task = json.loads(out.read_text())["tasks"]["unet-classic16-drive"]
    assert task["schedule"] == "parallel" and task["budget"]["precision"] == precision
    cpus = sorted(os.sched_getaffinity(0))[:2]
    assert task["segzoo"]["cpu"] == task["smp"]["cpu"]
    assert task["segzoo"]["cpu"].startswith(f"CPUs {cpus[0]}, {cpus[1]} in turn")
    for side in ("segzoo", "smp"):
        assert 0.0 <= task[side]["metric"] <= 1.0 and task[side]["train_eval_s"] > 0
        assert [it for it, _ in task[side]["curve"]] == [2]
    assert "each pinned to its own CPU" in out.with_suffix(".md").read_text()


def test_parallel_sides_swap_cpus(compare: ModuleType, tmp_path: Path) -> None:
    import subprocess
    import sys

    cpus = sorted(os.sched_getaffinity(0))[:2]
    if len(cpus) < 2:
        pytest.skip("needs two CPUs")
    # each child writes the CPU it may run on, ten times a second for 1.2 s, from a thread started after the first swap
    child = (
        "import os, threading, time\n"
        "seen = []\n"
        "def watch():\n"
        "    for _ in range(12):\n"
        "        seen.append(min(os.sched_getaffinity(0)))\n"
        "        time.sleep(0.1)\n"
        "time.sleep(0.3)\n"
        "t = threading.Thread(target=watch); t.start(); t.join()\n"
        "print(sorted(set(seen)))\n"
    )
    jobs = []
    for cpu in cpus:
        process = subprocess.Popen(
            [sys.executable, "-c", child],
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=lambda cpu=cpu: os.sched_setaffinity(0, {cpu}),
        )
        jobs.append({"process": process})
    jobs.append({"process": subprocess.Popen([sys.executable, "-c", "pass"])})  # ends first
    swaps = compare.rotate_cpus(jobs, cpus, every_s=0.2)
    assert 3 <= swaps <= 20
    short = jobs.pop()
    assert short["t_end"] < min(job["t_end"] for job in jobs), "each side's end is seen when it ends"
    for job in jobs:
        assert job["process"].wait(timeout=10) == 0
        assert json.loads(job["process"].stdout.read()) == cpus, "each side ran on both CPUs"
