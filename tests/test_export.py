"""ONNX export with dynamic batch/height/width, checked with onnxruntime; the onnxruntime engine."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import segzoo
from segzoo.errors import SegzooError
from segzoo.export import ExportableAdaptiveAvgPool2d, check_onnx, export_onnx, exportable

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

CLI_MODULES = ("segzoo.evaluation.cli", "segzoo.inference.cli")


def _create(arch: str, encoder: str):
    if arch not in segzoo.list_architectures():
        pytest.skip(f"architecture {arch!r} is not installed")
    torch.manual_seed(0)
    return segzoo.create(arch, encoder=encoder, num_classes=3).eval()


@pytest.mark.parametrize("out, size", [(1, (7, 9)), (2, (5, 8)), (3, (10, 10)), (6, (13, 7)), ((2, 3), (9, 11))])
def test_exportable_adaptive_pool_equals_torch(out, size):
    x = torch.randn(2, 4, *size)
    torch.testing.assert_close(ExportableAdaptiveAvgPool2d(out)(x), nn.AdaptiveAvgPool2d(out)(x))


def test_exportable_swaps_and_restores():
    model = nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.AdaptiveAvgPool2d(1))
    with exportable(model) as m:
        assert isinstance(m[0], ExportableAdaptiveAvgPool2d) and type(m[1]) is nn.AdaptiveAvgPool2d
    assert type(model[0]) is nn.AdaptiveAvgPool2d


def test_export_fcn_dynamic_sizes_match_eager(tmp_path):
    model = _create("fcn", "resnet18")
    report = export_onnx(model, tmp_path / "fcn.onnx", size=64)
    assert report["dynamic_axes"] == ["batch", "height", "width"]
    sizes = [tuple(c["size"]) for c in report["checks"]]
    assert len(set(s[2:] for s in sizes)) == 2 and sizes[1][0] == 2  # two sizes, the second at batch 2
    assert report["max_abs_diff"] <= 1e-4
    # and at a third size nobody checked during export
    extra = check_onnx(tmp_path / "fcn.onnx", model, [(80, 48)], batch_sizes=[3])
    assert extra[0]["max_abs_diff"] <= 1e-4
    assert _declared_shapes(tmp_path / "fcn.onnx") == [["batch", 3, "height", "width"]] * 2  # classes: the integer


def _declared_shapes(path) -> list[list]:
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return [[d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in (*graph.input, *graph.output)]


def test_export_pspnet_adaptive_pooling_with_dynamic_sizes(tmp_path):
    model = _create("pspnet", "resnet18")
    report = export_onnx(model, tmp_path / "psp.onnx", size=64)
    assert report["max_abs_diff"] <= 1e-4
    assert all(type(m) is not ExportableAdaptiveAvgPool2d for m in model.modules())


def test_static_export(tmp_path):
    model = _create("fcn", "resnet18")
    report = export_onnx(model, tmp_path / "static.onnx", size=(32, 48), dynamic=False)
    assert report["dynamic_axes"] == ["batch"] and report["max_abs_diff"] <= 1e-4
    assert _declared_shapes(tmp_path / "static.onnx") == [["batch", 3, 32, 48]] * 2  # logits at the input's size


def test_exported_graph_records_the_input_divisor_it_needs(tmp_path):
    # the graph does not pad (eager forward does): its users read the sides it takes from the file
    import onnx

    model = _create("unet", "resnet18")
    report = export_onnx(model, tmp_path / "unet.onnx", size=64)
    props = {p.key: p.value for p in onnx.load(str(tmp_path / "unet.onnx"), load_external_data=False).metadata_props}
    assert report["input_divisor"] == model.input_divisor == 32 and props == {"input_divisor": "32"}


def test_onnxruntime_engine_agrees_with_eager():
    from segzoo.inference.engine import Engine

    model = _create("fcn", "resnet18")
    engine = Engine(model, "onnxruntime")
    x = torch.randn(1, 3, 48, 80)
    with torch.inference_mode():
        ref = model(x)
    assert (engine(x) - ref).abs().max() <= 1e-4


def test_export_cli(tmp_path, monkeypatch, capsys):
    import segzoo.cli

    modules = list(segzoo.cli.COMMAND_MODULES) + [m for m in CLI_MODULES if m not in segzoo.cli.COMMAND_MODULES]
    monkeypatch.setattr(segzoo.cli, "COMMAND_MODULES", modules)
    model = _create("fcn", "resnet18")
    model.save_pretrained(tmp_path / "m")
    rc = segzoo.cli.main(
        [
            "export",
            str(tmp_path / "m"),
            "--format",
            "onnx",
            "--out",
            str(tmp_path / "m.onnx"),
            "--size",
            "64",
            "--opset",
            "17",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0 and (tmp_path / "m.onnx").is_file()
    assert out.count("max |diff|") == 2 and "dynamic batch, height, width" in out


def test_compare_logits_bounds_the_max_unless_the_model_is_discontinuous():
    from segzoo.metrics import compare_logits

    torch.manual_seed(0)
    ref = torch.randn(1, 4, 32, 32)
    moved = ref.clone()
    moved[0, :, 3:9, 5:11] += 0.5  # one unpooled value that went elsewhere, spread over a patch by the convs
    continuous, discontinuous = nn.Module(), nn.Module()
    discontinuous.discontinuous = True
    assert not compare_logits(moved, ref, tolerance=1e-4, model=continuous)["ok"]
    report = compare_logits(moved, ref, tolerance=1e-4, model=discontinuous)
    assert report["ok"] and report["max_abs_diff"] == pytest.approx(0.5) and "criterion" in report
    assert report["within_tolerance"] == pytest.approx(1 - 36 / 1024)
    garbled = ref.flip(-1)  # a wrong graph changes most logits and classes
    assert not compare_logits(garbled, ref, tolerance=1e-4, model=discontinuous)["ok"]
    assert compare_logits(ref + 1e-6, ref, tolerance=1e-4, model=continuous)["ok"]


def test_segnet_basic_checkpoint_exports_with_dynamic_sizes(tmp_path):
    """SegNet's max-unpooling has no TorchScript ONNX form: the dynamo exporter takes it, checked at two sizes and
    here at a third (odd) one."""
    pytest.importorskip("onnxscript")
    from pathlib import Path

    if "segnet" not in segzoo.list_architectures():
        pytest.skip("segzoo-segnet is not installed")
    folder = Path(__file__).resolve().parents[1] / "checkpoints" / "segnet-basic-camvid"
    model = segzoo.load(folder).eval()
    report = export_onnx(model, tmp_path / "segnet.onnx", size=64)
    assert report["exporter"] == "dynamo" and report["dynamic_axes"] == ["batch", "height", "width"]
    assert all(c["ok"] and c["class_agreement"] >= 0.99 for c in report["checks"])
    assert _declared_shapes(tmp_path / "segnet.onnx") == [
        ["batch", 3, "height", "width"],
        ["batch", model.num_classes, "height", "width"],
    ]
    extra = check_onnx(tmp_path / "segnet.onnx", model, [(90, 120)], batch_sizes=[1])
    assert extra[0]["ok"], extra


class _FailsUnderExport(nn.Module):
    """Raises a bare NotImplementedError while torch.export traces it, the way exporters report an operator they
    cannot take: the reason is only in the exception chain."""

    num_classes = 2

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1)

    def forward(self, x):
        if torch.compiler.is_exporting():
            try:
                raise KeyError("aten::strange_op has no ONNX translation")
            except KeyError:
                raise NotImplementedError()  # noqa: B904 - the KeyError stays as its context
        return self.conv(x)


def test_a_failed_dynamo_export_shows_its_cause(tmp_path):
    pytest.importorskip("onnxscript")
    with pytest.raises(SegzooError) as info:
        export_onnx(_FailsUnderExport(), tmp_path / "x.onnx", exporter="dynamo", size=32, dynamic=False)
    message = str(info.value)
    assert "\n" not in message
    assert "NotImplementedError <- KeyError: 'aten::strange_op has no ONNX translation'" in message
