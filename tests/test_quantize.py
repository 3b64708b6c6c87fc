"""INT8 inference: onnxruntime static quantization, its cache, its calibration images and its CLI flags."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import pytest
import torch

import segzoo
from segzoo._hardware import cpu_has_vnni
from segzoo.errors import SegzooError
from segzoo.inference import quantize
from segzoo.inference.engine import Engine

pytest.importorskip("onnxruntime")

CLI_MODULES = ("segzoo.evaluation.cli", "segzoo.inference.cli")
CAMVID = Path("/work/shared/datasets/camvid")
CHECKPOINT = Path(__file__).resolve().parents[1] / "checkpoints" / "fcn-mobilenetv3-camvid"


@pytest.fixture(scope="module")
def fcn():
    if "fcn" not in segzoo.list_architectures():
        pytest.skip("segzoo-fcn is not installed")
    torch.manual_seed(0)
    return segzoo.create("fcn", encoder="resnet18", num_classes=3).eval()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGZOO_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "int8"


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    """One cache for the CLI tests: the same model calibrated on the same image is quantized once for all."""
    with pytest.MonkeyPatch.context() as mp:
        folder = tmp_path_factory.mktemp("int8-cache")
        mp.setenv("SEGZOO_CACHE", str(folder))
        yield folder / "int8"


@pytest.fixture
def cli(monkeypatch):
    import segzoo.cli

    modules = list(segzoo.cli.COMMAND_MODULES)
    modules += [m for m in CLI_MODULES if m not in modules]
    monkeypatch.setattr(segzoo.cli, "COMMAND_MODULES", modules)
    return segzoo.cli.main


def _images(n, seed=0, size=64):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(1, 3, size, size, generator=g) for _ in range(n)]


def test_int8_needs_calibration_and_the_onnxruntime_engine(fcn):
    with pytest.raises(SegzooError, match="int8 needs calibration images"):
        Engine(fcn, precision="int8")
    with pytest.raises(SegzooError, match="onnxruntime engine on CPU"):
        Engine(fcn, "channels_last", "int8", calibration=_images(1))


@pytest.mark.slow  # exports, calibrates and quantizes a model (10-25 s on the loaded 2-core machine)
def test_quantized_once_then_taken_from_the_cache_and_rebuilt_when_damaged(fcn, cache, monkeypatch):
    root_handlers = list(logging.getLogger().handlers)
    first = Engine(fcn, precision="int8", calibration=_images(2))
    assert logging.getLogger().handlers == root_handlers, "onnxruntime's root handler would print warnings twice"
    assert first.int8["cache"] == "built" and first.int8["calibration_images"] == 2
    assert first.int8["fp32_nodes"]  # the classifier tail stays fp32, and says so
    assert len(list(cache.glob("*.onnx"))) == 1

    def no_build(*args, **kwargs):
        raise AssertionError("quantized again")

    build = quantize._build
    monkeypatch.setattr(quantize, "_build", no_build)
    second = Engine(fcn, precision="int8", calibration=_images(2))
    assert second.int8["cache"] == "hit"
    x = _images(1, seed=5)[0]
    assert torch.equal(first(x), second(x))
    with pytest.raises(AssertionError, match="quantized again"):  # other calibration images: another model
        Engine(fcn, precision="int8", calibration=_images(2, seed=1))
    monkeypatch.setattr(quantize, "_build", build)
    (path,) = cache.glob("*.onnx")
    path.write_bytes(path.read_bytes()[:1000])  # a torn or damaged file
    again = Engine(fcn, precision="int8", calibration=_images(2))
    assert again.int8["cache"] == "built"
    assert torch.equal(again(x), first(x))


def test_a_models_quantization_block_keeps_more_nodes_fp32():
    from onnx import helper

    def node(op, name, inputs, output):
        return helper.make_node(op, inputs, [output], name=name)

    graph = helper.make_graph(
        [
            node("Conv", "stem", ["image", "w0"], "a"),
            node("Relu", "act", ["a"], "b"),
            node("Conv", "down", ["b", "w1"], "c"),
            node("Resize", "up", ["c"], "d"),
            node("Concat", "skip", ["d", "b"], "e"),
            node("Conv", "fuse", ["e", "w2"], "f"),
            node("Conv", "classifier", ["f", "w3"], "g"),
            node("Resize", "to_input", ["g"], "logits"),
        ],
        "unet",
        [],
        [],
    )
    graph.output.add().name = "logits"

    def kept(**block):
        model = torch.nn.Identity()
        model.config = {"quantization": block}
        return quantize._fp32_nodes(graph, quantize.QuantSettings.from_model(model))

    assert kept() == (["to_input", "classifier"], ["the classifier tail (Conv, Resize)"])
    assert kept(fp32_first_convs=1)[0] == ["to_input", "classifier", "stem"]
    assert kept(fp32_first_convs=2, fp32_op_types=["Concat", "Resize"]) == (
        ["to_input", "classifier", "stem", "act", "down", "skip", "up"],
        [  # what the engine's describe() and segzoo export report
            "the classifier tail (Conv, Resize)",
            "the first 2 convolutions (3 nodes)",
            "every Concat (1 node not kept above)",
            "every Resize (1 node not kept above)",
        ],
    )
    with pytest.raises(SegzooError, match="fp32_first_convs is 5, but the exported graph has only 4"):
        kept(fp32_first_convs=5)
    for bad, message in (
        ({"fp32_first_conv": 2}, "unknown key.*fp32_first_conv"),
        ({"fp32_first_convs": -1}, ">= 0"),
        ({"fp32_op_types": "Concat"}, "list of ONNX operator names"),
    ):
        with pytest.raises(SegzooError, match=message):
            kept(**bad)


def test_the_catalog_and_a_saved_folder_carry_the_quantization_block(tmp_path):
    entry = segzoo.info("unet-mobilenetv3-camvid")
    folder = Path(__file__).resolve().parents[1] / "checkpoints" / "unet-mobilenetv3-camvid"
    model = segzoo.load(folder)
    assert model.config["quantization"] == entry["quantization"]
    settings = quantize.QuantSettings.from_model(model)
    assert settings.fp32_first_convs == 11 and settings.fp32_op_types == ("Concat",)


def test_calibration_images_are_spread_over_the_split_and_padded():
    class Frames:
        def __len__(self):
            return 100

        def __getitem__(self, i):
            return torch.full((3, 40, 50), float(i)), None

    inputs = quantize.calibration_inputs(Frames(), size=4, divisor=32)
    assert [int(t[0, 0, 0, 0]) for t in inputs] == [0, 33, 66, 99]
    assert inputs[0].shape == (1, 3, 64, 64)  # padded as whole-image inference pads
    assert len(quantize.calibration_inputs(Frames(), size=500)) == 100


def _args(**kw):
    base = dict(
        precision="int8",
        dataset="shapes",
        root=None,
        split="val",
        dataset_option=[("length", 3)],
        calibration_dataset=None,
        calibration_root=None,
        calibration_split=None,
        calibrate_on_evaluated=False,
    )
    return argparse.Namespace(**{**base, **kw})


def test_calibration_defaults_to_the_training_split_never_the_evaluated_one():
    from segzoo.inference.calibration import calibration_from_args

    data = calibration_from_args(_args(), evaluated=True)
    assert data.split == "train" and len(data) == 3
    with pytest.raises(SegzooError, match="would use the evaluated images"):
        calibration_from_args(_args(split="train"), evaluated=True)
    assert calibration_from_args(_args(split="train", calibrate_on_evaluated=True), evaluated=True).split == "train"
    with pytest.raises(SegzooError, match="needs calibration images"):
        calibration_from_args(_args(dataset=None))  # predict/export: nothing to default to
    assert calibration_from_args(_args(precision="fp32"), evaluated=True) is None


@pytest.fixture(scope="module")
def saved(fcn, tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "fcn18"
    fcn.save_pretrained(path)
    return path


@pytest.mark.slow  # exports, calibrates and quantizes a model (10-25 s on the loaded 2-core machine)
def test_cli_eval_and_bench_int8(saved, shared_cache, tmp_path, cli, capsys):
    data = ["--dataset", "shapes", "--dataset-option", "length=2", "--num-workers", "0", "--no-progress"]
    assert cli(["eval", str(saved), *data, "--split", "train", "--precision", "int8"]) == 1
    assert "would use the evaluated images" in capsys.readouterr().err
    assert cli(["eval", str(saved), *data, "--precision", "int8", "--calibration-size", "1", "--json", "-"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["engine"]["precision"] == "int8" and report["engine"]["int8"]["calibration_images"] == 1
    md = tmp_path / "lb.md"
    assert (
        cli(
            [
                "bench",
                str(saved),
                *data,
                "--precision",
                "int8",
                "--calibration-size",
                "1",
                "--repeat",
                "1",
                "--warmup",
                "0",
                "--throughput-batch",
                "0",
                "--markdown",
                str(md),
            ]
        )
        == 0
    )
    r = json.loads(md.with_suffix(".json").read_text())["results"][0]
    assert r["precision"] == "int8" and r["int8"]["cache"] == "hit"  # eval built it, on the same image
    assert r["mIoU_change"] == pytest.approx(100 * (r["mIoU"] - r["mIoU_fp32"]))


@pytest.mark.slow  # exports, calibrates and quantizes a model (10-25 s on the loaded 2-core machine)
def test_cli_export_and_predict_int8(saved, shared_cache, tmp_path, cli, capsys):
    import onnx

    out = tmp_path / "m.onnx"
    calib = ["--precision", "int8", "--calibration-dataset", "shapes", "--calibration-size", "1"]
    assert cli(["export", str(saved), "--out", str(out), "--precision", "int8"]) == 1
    assert "needs calibration images" in capsys.readouterr().err
    assert cli(["export", str(saved), "--out", str(out), *calib]) == 0
    assert "int8 QDQ" in capsys.readouterr().out
    ops = {n.op_type for n in onnx.load(str(out)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops
    image = tmp_path / "a.png"
    segzoo.create_dataset("shapes", None, "val", length=1)[0][0].save(image)
    assert (
        cli(["predict", str(saved), str(image), "--out", str(tmp_path / "p"), "--no-progress", *calib, "--json", "-"])
        == 0
    )
    captured = capsys.readouterr()
    assert json.loads(captured.out)["engine"]["int8"]["cache"] == "hit", captured


@pytest.mark.slow
def test_int8_keeps_the_classes_of_a_trained_camvid_model(cache):
    if not (CAMVID / "val").is_dir() or not CHECKPOINT.is_dir():
        pytest.skip("needs /work/shared/datasets/camvid and checkpoints/fcn-mobilenetv3-camvid")
    from segzoo.inference.preprocessing import Preprocessing

    model = segzoo.load(str(CHECKPOINT))
    engine = Engine(
        model, precision="int8", calibration=segzoo.create_dataset("camvid", str(CAMVID), "train"), calibration_size=4
    )
    val = quantize.calibration_inputs(
        segzoo.create_dataset("camvid", str(CAMVID), "val"),
        Preprocessing.from_model(model),
        size=2,
        divisor=model.input_divisor,
    )
    # without VNNI (AVX2), 8-bit weights saturate onnxruntime's 16-bit sums: 93.5-96.1% agreement there, 97-99% 7-bit
    assert engine.int8["settings"]["reduce_range"] is not cpu_has_vnni()
    with torch.inference_mode():
        for x in val:
            agree = float((engine(x).argmax(1) == model(x).argmax(1)).float().mean())
            assert agree > 0.95, agree
