"""``segzoo eval`` / ``segzoo bench``: metrics equal a direct ConfusionMatrix, outputs have every field."""

from __future__ import annotations

import json
import math

import pytest
import torch

import segzoo
from segzoo.data.transforms import pil_to_tensor
from segzoo.errors import SegzooError
from segzoo.evaluation.bench import count_gmacs, percentile
from segzoo.evaluation.scoring import evaluate
from segzoo.inference.engine import Engine
from segzoo.inference.preprocessing import Preprocessing
from segzoo.metrics import ConfusionMatrix

CLI_MODULES = ("segzoo.evaluation.cli", "segzoo.inference.cli")


@pytest.fixture(scope="module")
def fcn():
    if "fcn" not in segzoo.list_architectures():
        pytest.skip("segzoo-fcn is not installed")
    torch.manual_seed(0)
    return segzoo.create("fcn", encoder="resnet18", num_classes=3).eval()


@pytest.fixture(scope="module")
def shapes():
    if "shapes" not in segzoo.list_datasets():
        pytest.skip("the shapes dataset (segzoo-datasets) is not installed")
    return segzoo.create_dataset("shapes", None, "val", length=4, size=64)


@pytest.fixture(scope="module")
def saved(fcn, tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "fcn18"
    fcn.save_pretrained(path)
    return path


@pytest.fixture
def cli(monkeypatch):
    import segzoo.cli

    modules = list(segzoo.cli.COMMAND_MODULES)
    modules += [m for m in CLI_MODULES if m not in modules]
    monkeypatch.setattr(segzoo.cli, "COMMAND_MODULES", modules)
    return segzoo.cli.main


def _same(a, b):
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == pytest.approx(b, abs=1e-12) if isinstance(a, float) else a == b


def test_evaluate_equals_a_direct_confusion_matrix(fcn, shapes):
    result = evaluate(Engine(fcn, "eager"), shapes, num_workers=0, progress=False, boundary=True)
    pre = Preprocessing.from_model(fcn)
    cm = ConfusionMatrix(3, ignore_index=shapes.ignore_index, class_names=shapes.classes)
    for i in range(len(shapes)):
        image, mask = shapes[i]
        with torch.inference_mode():
            pred = fcn(pre(image)[None]).argmax(1)
        cm.update(pred, pil_to_tensor(mask).long()[None])
    expected = cm.compute()
    for key, value in expected.items():
        assert _same(result["metrics"][key], value), key
    assert "mBF" in result["metrics"]
    t = result["timing"]
    assert result["images"] == 4 and 0 < t["model_time_share"] <= 1
    assert t["model_s"] + t["data_wait_s"] + t["post_s"] <= t["wall_s"] * 1.001


def test_evaluate_with_workers_and_batches_gives_the_same_metrics(fcn, shapes):
    a = evaluate(fcn, shapes, num_workers=0, progress=False)
    b = evaluate(fcn, shapes, num_workers=1, batch_size=2, progress=False)
    assert _same(a["metrics"]["iou"], b["metrics"]["iou"])
    assert b["settings"]["num_workers"] == 1 and b["settings"]["prefetch_factor"] == 2


def test_class_count_mismatch_is_a_clear_error(shapes):
    if "fcn" not in segzoo.list_architectures():
        pytest.skip("segzoo-fcn is not installed")
    model = segzoo.create("fcn", encoder="resnet18", num_classes=5)
    with pytest.raises(SegzooError, match="predicts 5 classes.*has 3"):
        evaluate(model, shapes, num_workers=0, progress=False)


def test_eval_cli_prints_a_table_and_writes_json(saved, tmp_path, cli, capsys):
    out = tmp_path / "eval.json"
    rc = cli(
        [
            "eval",
            str(saved),
            "--dataset",
            "shapes",
            "--dataset-option",
            "length=3",
            "--split",
            "val",
            "--json",
            str(out),
            "--no-progress",
            "--num-workers",
            "0",
        ]
    )
    text = capsys.readouterr().out
    assert rc == 0
    assert "circle" in text and "mIoU" in text and "model forward" in text
    data = json.loads(out.read_text())
    assert data["images"] == 3 and {"mIoU", "iou", "support"} <= set(data["metrics"])
    assert {"model_time_share", "data_wait_s", "wall_s"} <= set(data["timing"])
    from segzoo.inference.engine import default_engine

    assert data["engine"]["engine"] == default_engine(torch.device("cpu"), "fp32")


def test_eval_cli_scores_a_slice_of_a_split(saved, cli, capsys):
    """``--split 'val[2:]'``: images held out of a split, as segzoo train's --val-split takes them."""
    base = ["eval", str(saved), "--dataset", "shapes", "--dataset-option", "length=5", "--no-progress", "--json"]
    assert cli([*base, "--split", "val[2:]", "--num-workers", "0"]) == 0
    part = json.loads(capsys.readouterr().out)
    assert part["images"] == 3 and part["split"] == "val[2:]"
    assert cli([*base, "--split", "val[5:]"]) == 1
    assert "selects no sample" in capsys.readouterr().err


def test_eval_cli_slide_and_msflip(saved, cli, capsys):
    base = [
        "eval",
        str(saved),
        "--dataset",
        "shapes",
        "--dataset-option",
        "length=2",
        "--no-progress",
        "--num-workers",
        "0",
        "--json",
    ]
    assert cli([*base, "--crop", "48", "--stride", "32"]) == 0
    slide = json.loads(capsys.readouterr().out)
    assert slide["settings"]["mode"] == "slide" and slide["settings"]["crop"] == [48, 48]
    assert cli([*base, "--scales", "0.75,1.0", "--flip"]) == 0
    ms = json.loads(capsys.readouterr().out)
    assert ms["settings"]["mode"] == "msflip" and ms["settings"]["scales"] == [0.75, 1.0]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["eval", "{saved}", "--dataset", "no-such-dataset"], "unknown dataset"),
        (["eval", "no-such-model", "--dataset", "shapes"], "no-such-model"),
        (["bench", "no-such-model"], "no-such-model"),
    ],
)
def test_cli_errors_are_one_line(saved, cli, capsys, argv, message):
    rc = cli([a.format(saved=saved) for a in argv])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and err.startswith("segzoo: error:") and message in err and "\n" not in err


def test_bench_writes_json_markdown_and_plot(saved, tmp_path, cli, capsys):
    md = tmp_path / "board" / "leaderboard.md"
    rc = cli(
        [
            "bench",
            str(saved),
            "--dataset",
            "shapes",
            "--dataset-option",
            "length=2",
            "--num-workers",
            "0",
            "--repeat",
            "3",
            "--warmup",
            "1",
            "--throughput-batch",
            "2",
            "--markdown",
            str(md),
            "--no-progress",
        ]
    )
    assert rc == 0
    assert "fcn18" in capsys.readouterr().out
    data = json.loads(md.with_suffix(".json").read_text())
    r = data["results"][0]
    for key in (
        "mIoU",
        "pixel_accuracy",
        "latency_ms",
        "throughput_img_s",
        "peak_memory_mb",
        "params_m",
        "gmacs",
        "model_time_share",
        "input_size",
        "engine",
        "precision",
    ):
        assert r.get(key) is not None, key
    assert set(r["latency_ms"]) >= {"p50", "p95", "mean"} and r["latency_ms"]["p95"] >= r["latency_ms"]["p50"]
    assert r["input_size"] == [64, 64] and r["params_m"] == pytest.approx(11.767, abs=1e-3)
    assert {"cpu", "cpu_cores", "torch", "timm", "segzoo", "device"} <= set(data["fingerprint"])
    text = md.read_text()
    assert "| fcn18 |" in text and "GMACs" in text and "leaderboard.png" in text
    assert md.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_bf16_reports_the_miou_change_and_warns_past_the_limit(saved, tmp_path, cli, monkeypatch, caplog):
    import segzoo.evaluation.bench

    # any change at all counts as a loss past this limit, so the warning must be given
    monkeypatch.setattr(segzoo.evaluation.bench, "PRECISION_LOSS_WARNING", -100.0)
    md = tmp_path / "lb.md"
    rc = cli(
        [
            "bench",
            str(saved),
            "--dataset",
            "shapes",
            "--dataset-option",
            "length=2",
            "--num-workers",
            "0",
            "--repeat",
            "1",
            "--warmup",
            "0",
            "--throughput-batch",
            "0",
            "--precision",
            "bf16",
            "--markdown",
            str(md),
            "--no-progress",
        ]
    )
    assert rc == 0
    r = json.loads(md.with_suffix(".json").read_text())["results"][0]
    assert r["precision"] == "bf16" and "mIoU_fp32" in r
    assert r["mIoU_change"] == pytest.approx(100 * (r["mIoU"] - r["mIoU_fp32"]))
    assert "mIoU change vs fp32" in md.read_text()
    (warning,) = [r.getMessage() for r in caplog.records if "lowers" in r.getMessage()]
    assert warning.startswith("bf16 lowers fcn18's mIoU by") and warning.endswith("run it in fp32"), warning


def test_gmacs_follow_the_torchvision_convention():
    conv = torch.nn.Conv2d(3, 8, 3, padding=1, bias=False)
    # 8 output channels x 32x48 pixels x (3 x 3 x 3) multiply-accumulates
    assert count_gmacs(conv, torch.randn(1, 3, 32, 48)) == pytest.approx(8 * 32 * 48 * 27 / 1e9)
    # what runs is counted: inference pads an input under 32 pixels (segzoo.nn.functional.MIN_SIDE)
    assert count_gmacs(conv, torch.randn(1, 3, 16, 48)) == pytest.approx(8 * 32 * 48 * 27 / 1e9)


def test_percentile_and_peak_memory():
    from segzoo.evaluation.environment import peak_rss_mb, reset_peak_rss

    assert percentile([1, 2, 3, 4], 50) == 2.5 and percentile([5.0], 95) == 5.0
    import mmap

    reset_peak_rss()
    before = peak_rss_mb()
    block = mmap.mmap(-1, 64 * 2**20)  # fresh pages (malloc may hand back memory that is already resident)
    for offset in range(0, len(block), mmap.PAGESIZE):
        block[offset] = 1
    after = peak_rss_mb()
    block.close()
    assert before is None or after >= before + 50


def test_a_prepared_split_gives_the_same_metrics_and_refuses_other_preprocessing(fcn, shapes):
    from segzoo.evaluation.scoring import prepare_split

    pre = Preprocessing.from_model(fcn)
    prepared = prepare_split(shapes, pre, num_workers=0)
    assert len(prepared) == 4 and prepared.describe()["images"] == 4 and prepared.nbytes > 0
    streamed = evaluate(fcn, shapes, num_workers=0, progress=False)
    cached = evaluate(fcn, prepared, progress=False)
    assert _same(cached["metrics"]["iou"], streamed["metrics"]["iou"])
    assert cached["settings"]["num_workers"] == 0
    assert evaluate(fcn, prepared, limit=2, progress=False)["images"] == 2
    other = Preprocessing.from_config({"mean": [0.5] * 3, "std": [0.5] * 3})
    with pytest.raises(SegzooError, match="prepared split was preprocessed otherwise"):
        evaluate(fcn, prepared, preprocessing=other, progress=False)
    assert prepare_split(shapes, pre, budget_mb=1e-3) is None  # over budget: stream instead


def test_bench_shares_one_decoded_split_between_models(saved, tmp_path, cli):
    md = tmp_path / "lb.md"
    rc = cli(
        [
            "bench",
            str(saved),
            str(saved),
            "--dataset",
            "shapes",
            "--dataset-option",
            "length=2",
            "--repeat",
            "1",
            "--warmup",
            "0",
            "--throughput-batch",
            "0",
            "--markdown",
            str(md),
            "--no-progress",
        ]
    )
    assert rc == 0
    data = json.loads(md.with_suffix(".json").read_text())
    caches = [r["data_cache"] for r in data["results"]]
    assert caches[0] == caches[1] and caches[0]["images"] == 2
    assert "decoded and preprocessed once" in md.read_text()
    rc = cli(
        [
            "bench",
            str(saved),
            "--dataset",
            "shapes",
            "--dataset-option",
            "length=2",
            "--data-cache-mb",
            "0",
            "--repeat",
            "1",
            "--warmup",
            "0",
            "--throughput-batch",
            "0",
            "--markdown",
            str(md),
            "--no-progress",
        ]
    )
    assert rc == 0 and "data_cache" not in json.loads(md.with_suffix(".json").read_text())["results"][0]


def _measured_on(saved, folder, split: str, length: int):
    """A copy of ``saved`` whose config records metrics measured on shapes ``split`` with ``length`` images."""
    import shutil

    shutil.copytree(saved, folder)
    config = json.loads((folder / "config.json").read_text())
    config["dataset"] = {"name": "shapes", "eval_split": split, "eval_options": {"length": length}}
    (folder / "config.json").write_text(json.dumps(config))
    return str(folder)


def test_bench_scores_models_where_their_published_metrics_were_measured(saved, tmp_path, cli, capsys):
    train_a = _measured_on(saved, tmp_path / "a", "train", 3)
    train_b = _measured_on(saved, tmp_path / "b", "train", 3)
    md = tmp_path / "lb.md"
    quick = ["--repeat", "1", "--warmup", "0", "--throughput-batch", "0", "--no-progress", "--markdown", str(md)]
    assert cli(["bench", train_a, train_b, "--dataset", "shapes", *quick]) == 0
    data = json.loads(md.with_suffix(".json").read_text())
    assert data["split"] == "train" and data["eval_images"] == 3  # as `segzoo eval` of either would score it
    assert cli(["bench", train_a, "--dataset", "shapes", "--split", "val", "--dataset-option", "length=2", *quick]) == 0
    data = json.loads(md.with_suffix(".json").read_text())
    assert data["split"] == "val" and data["eval_images"] == 2  # the command's choice wins

    val = _measured_on(saved, tmp_path / "c", "val", 3)
    capsys.readouterr()
    assert cli(["bench", train_a, val, "--dataset", "shapes", *quick]) == 1
    err = capsys.readouterr().err
    assert "different split" in err and f'{val}: "val"' in err and "--split" in err
    assert cli(["bench", train_a, val, "--dataset", "shapes", "--split", "val", *quick]) == 0
    other = _measured_on(saved, tmp_path / "d", "train", 2)
    assert cli(["bench", train_a, other, "--dataset", "shapes", *quick]) == 1
    assert "different dataset options" in capsys.readouterr().err

    sliding = tmp_path / "e"  # published with sliding windows: benched with them, as `segzoo eval` scores it
    _measured_on(saved, sliding, "train", 3)
    config = json.loads((sliding / "config.json").read_text())
    config["inference"] = {"mode": "slide", "crop": [32, 32], "stride": [16, 16]}
    (sliding / "config.json").write_text(json.dumps(config))
    assert cli(["bench", str(sliding), "--dataset", "shapes", *quick]) == 0
    settings = json.loads(md.with_suffix(".json").read_text())["settings"]
    assert settings["mode"] == "slide" and settings["crop"] == [32, 32]
    assert cli(["bench", str(sliding), train_a, "--dataset", "shapes", *quick]) == 1
    assert "different inference protocols" in capsys.readouterr().err
    assert cli(["bench", str(sliding), train_a, "--dataset", "shapes", "--mode", "whole", *quick]) == 0


def test_leaderboard_names_each_models_input_size_when_they_differ():
    from segzoo.evaluation import leaderboard_markdown

    def result(name: str, size: list[int]) -> dict:
        return {"model": name, "mIoU": 0.5, "input_size": size, "gmacs": 1.0, "latency_ms": {"p50": 1.0, "p95": 1.0}}

    bench = {"settings": {"engine": "eager", "precision": "fp32"}, "fingerprint": {}, "created": "now"}
    same = leaderboard_markdown({**bench, "results": [result("a", [180, 240]), result("b", [180, 240])]})
    assert "input 180x240 (H x W)" in same and "| input |" not in same
    mixed = leaderboard_markdown({**bench, "results": [result("a", [360, 480]), result("b", [180, 240])]})
    assert "input: column *input*" in mixed and "| params M | input | GMACs |" in mixed
    assert "| 360x480 | 1.0 |" in mixed and "| 180x240 | 1.0 |" in mixed
