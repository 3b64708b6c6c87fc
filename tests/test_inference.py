"""Inference modes, engines, preprocessing and ``segzoo predict``."""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from torch import nn

import segzoo
from segzoo.errors import SegzooError
from segzoo.inference.engine import Engine
from segzoo.inference.modes import InferenceSettings, infer, infer_msflip, infer_slide, infer_whole
from segzoo.inference.optimize import fold_batchnorm
from segzoo.inference.preprocessing import Preprocessing

CLI_MODULES = ("segzoo.evaluation.cli", "segzoo.inference.cli")


def _need(arch: str) -> None:
    if arch not in segzoo.list_architectures():
        pytest.skip(f"architecture {arch!r} is not installed")


@pytest.fixture(scope="module")
def fcn():
    _need("fcn")
    torch.manual_seed(0)
    return segzoo.create("fcn", encoder="resnet18", num_classes=3).eval()


@pytest.fixture
def cli(monkeypatch):
    import segzoo.cli

    modules = list(segzoo.cli.COMMAND_MODULES)
    for m in CLI_MODULES:
        if m not in modules:
            modules.append(m)
    monkeypatch.setattr(segzoo.cli, "COMMAND_MODULES", modules)
    return segzoo.cli.main


def _x(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# -- modes -----------------------------------------------------------------------------------------------------------
def test_slide_with_crop_equal_to_input_is_whole(fcn):
    x = _x(1, 3, 64, 64)
    with torch.inference_mode():
        whole = infer_whole(fcn, x)
        slide = infer_slide(fcn, x, crop=64, stride=42)
    assert torch.equal(whole, slide)


def test_slide_averages_overlapping_windows_exactly():
    torch.manual_seed(0)
    pointwise = nn.Conv2d(3, 4, 1).eval()  # windows of a pointwise model must reproduce the whole output
    x = _x(2, 3, 70, 50)
    with torch.inference_mode():
        whole = pointwise(x)
        slide = infer_slide(pointwise, x, crop=(32, 24), stride=(20, 13), batch_size=4)
    assert slide.shape == whole.shape
    torch.testing.assert_close(slide, whole, atol=1e-6, rtol=0)


def test_slide_window_starts_cover_the_image_like_mmseg():
    from segzoo.inference.modes import _starts

    assert _starts(100, 64, 32) == [0, 32, 36]  # the last window is shifted to end at the border
    assert _starts(50, 64, 32) == [0]  # an image smaller than the crop is one window


def test_whole_pads_to_the_divisor_and_crops_back():
    seen = []

    def fn(x):
        seen.append(tuple(x.shape[-2:]))
        assert x.shape[-2] % 32 == 0 and x.shape[-1] % 32 == 0
        return x[:, :2] * 2

    x = _x(1, 3, 50, 70)
    out = infer_whole(fn, x, divisor=32)
    assert seen == [(64, 96)]
    torch.testing.assert_close(out, x[:, :2] * 2)


def test_msflip_single_scale_without_flip_is_whole_softmax(fcn):
    x = _x(1, 3, 48, 64)
    with torch.inference_mode():
        whole = infer_whole(fcn, x).softmax(1)
        ms = infer_msflip(fcn, x, scales=[1.0], flip=False)
    torch.testing.assert_close(ms, whole, atol=1e-6, rtol=0)


def test_msflip_flip_averaging_is_symmetric(fcn):
    x = _x(1, 3, 48, 64)
    with torch.inference_mode():
        a = infer_msflip(fcn, x, scales=[0.75, 1.0], flip=True)
        b = infer_msflip(fcn, x.flip(-1), scales=[0.75, 1.0], flip=True)
    torch.testing.assert_close(a.flip(-1), b, atol=1e-5, rtol=0)
    torch.testing.assert_close(a.sum(1), torch.ones_like(a.sum(1)), atol=1e-5, rtol=0)


def test_infer_dispatches_modes(fcn):
    x = _x(1, 3, 64, 64)
    with torch.inference_mode():
        slide = infer(fcn, x, InferenceSettings(mode="slide", crop=48, stride=32))
        ms = infer(fcn, x, InferenceSettings(mode="msflip", scales=[1.0], flip=False))
    assert slide.shape == ms.shape == (1, 3, 64, 64)
    with pytest.raises(SegzooError, match="crop"):
        InferenceSettings(mode="slide")  # needs a crop


# -- engines and optimisation ----------------------------------------------------------------------------------------
def test_fold_batchnorm_keeps_outputs(fcn):
    import copy

    model = copy.deepcopy(fcn)
    x = _x(1, 3, 64, 64)
    with torch.inference_mode():
        ref = model(x)
    n = fold_batchnorm(model, x)
    assert n > 10
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    with torch.inference_mode():
        torch.testing.assert_close(model(x), ref, atol=1e-4, rtol=0)


@pytest.mark.parametrize("engine", ["eager", "channels_last"])
def test_fp32_engines_agree_with_eager(fcn, engine):
    x = _x(2, 3, 64, 96, seed=1)
    with torch.inference_mode():
        ref = fcn(x)
    eng = Engine(fcn, engine)
    out = eng(x)
    assert out.dtype == torch.float32 and out.shape == ref.shape
    assert (out - ref).abs().max() <= 1e-4
    assert any(isinstance(m, nn.BatchNorm2d) for m in fcn.modules()), "copy=True must leave the model untouched"
    if engine == "channels_last":
        assert eng.folded > 0 and eng.max_abs_diff <= 1e-4


def test_bf16_engine_runs_and_stays_close(fcn):
    x = _x(1, 3, 64, 64)
    with torch.inference_mode():
        ref = fcn(x)
    eng = Engine(fcn, "auto", "bf16")
    out = eng(x)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    assert (out - ref).abs().max() < 0.5 * ref.abs().max()
    assert eng.describe()["precision"] == "bf16"


def test_bf16_engine_warns_where_bf16_would_be_emulated(fcn, monkeypatch, caplog):
    from segzoo.inference import engine

    for native in (True, False):
        monkeypatch.setattr(engine, "bf16_supported", lambda device, native=native: native)
        caplog.clear()
        Engine(fcn, "channels_last", "bf16")
        said = [r.getMessage() for r in caplog.records if "emulates bf16" in r.getMessage()]
        if native:
            assert said == []
        else:
            assert len(said) == 1 and "--precision fp32" in said[0], said


class _Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(4, 4, 3, padding=1)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.relu2 = nn.ReLU(inplace=True)

    def forward(self, x):
        y = self.relu1(self.conv1(x))
        z = self.conv2(y)
        z += y  # in place: conv2 -> relu2 must not be fused
        return self.relu2(z)


def test_fuse_conv_relu_skips_in_place_residuals():
    from segzoo.inference.optimize import fuse_conv_relu

    torch.manual_seed(0)
    model = _Residual().eval()
    x = _x(1, 4, 16, 16).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        ref = model(x)
    assert fuse_conv_relu(model, x) == (1 if torch.backends.mkldnn.is_available() else 0)
    assert isinstance(model.relu2, nn.ReLU)
    with torch.inference_mode():
        torch.testing.assert_close(model(x), ref, atol=1e-5, rtol=0)


def test_auto_engine_falls_back_when_export_fails(fcn, monkeypatch):
    import segzoo.export

    def fail(*args, **kwargs):
        raise SegzooError("cannot export")

    monkeypatch.setattr(segzoo.export, "export_onnx", fail)
    eng = Engine(fcn, "auto")
    assert eng.engine == "channels_last"
    if eng.fallback is not None:
        assert "cannot export" in eng.describe()["fallback_reason"]
    with pytest.raises(SegzooError, match="cannot export"):
        Engine(fcn, "onnxruntime")


def test_unknown_engine_is_a_clear_error(fcn):
    with pytest.raises(Exception, match="unknown engine"):
        Engine(fcn, "tensorrt")


# -- preprocessing ---------------------------------------------------------------------------------------------------
def test_preprocessing_from_config():
    pre = Preprocessing.from_config(
        {
            "mean": [0.5] * 3,
            "std": [0.25] * 3,
            "resize": {"shorter_side": 32},
            "interpolation": "bilinear",
            "ignore_index": 255,
        }
    )
    assert pre.output_size(80, 40) == (64, 32)
    img = Image.new("RGB", (80, 40), (128, 0, 255))
    t = pre(img)
    assert t.shape == (3, 32, 64)
    torch.testing.assert_close(t[:, 0, 0], torch.tensor([(128 / 255 - 0.5) / 0.25, -2.0, 2.0]))
    assert Preprocessing.from_config(
        {"mean": [0.5] * 3, "std": [0.25] * 3, "resize": {"height": 8, "width": 16}}
    ).output_size(80, 40) == (16, 8)
    with pytest.raises(Exception, match="resize"):
        Preprocessing.from_config({"mean": [0.5] * 3, "std": [0.25] * 3, "resize": {"longest": 3}})


def test_preprocessing_defaults_to_imagenet_without_config(fcn):
    pre = Preprocessing.from_model(fcn)
    assert list(pre.mean) == [0.485, 0.456, 0.406] and pre.resize is None


# -- predict ---------------------------------------------------------------------------------------------------------
def test_predict_cli_writes_mask_equal_to_model_predict(fcn, tmp_path, cli, capsys):
    from segzoo.data.transforms import IMAGENET_MEAN, IMAGENET_STD, Normalize, ToTensor

    fcn.save_pretrained(tmp_path / "model")
    gen = torch.Generator().manual_seed(3)
    pixels = (torch.rand(40, 56, 3, generator=gen) * 255).to(torch.uint8)
    image = Image.frombytes("RGB", (56, 40), pixels.numpy().tobytes())
    image.save(tmp_path / "street.png")
    rc = cli(
        [
            "predict",
            str(tmp_path / "model"),
            str(tmp_path / "street.png"),
            "--out",
            str(tmp_path / "out"),
            "--engine",
            "eager",
            "--dataset",
            "shapes",
            "--no-progress",
        ]
    )
    assert rc == 0
    assert "street_mask.png" in capsys.readouterr().out
    mask = Image.open(tmp_path / "out" / "street_mask.png")
    assert mask.mode == "P" and mask.size == (56, 40)
    x = Normalize(IMAGENET_MEAN, IMAGENET_STD)(ToTensor()(image)[0])[0][None]
    expected = fcn.predict(x)[0]
    got = torch.frombuffer(bytearray(mask.tobytes()), dtype=torch.uint8).view(40, 56).long()
    assert torch.equal(got, expected)
    palette = mask.getpalette()[:9]
    assert palette == [c for rgb in segzoo.data.voc_colormap(3) for c in rgb]
    overlay = Image.open(tmp_path / "out" / "street_overlay.png")
    assert overlay.mode == "RGB" and overlay.width > 56 and overlay.height >= 40  # legend panel on the right


def test_predict_errors_are_one_line(tmp_path, cli, capsys):
    rc = cli(["predict", "no-such-model", str(tmp_path / "missing.png")])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and err.startswith("segzoo: error:") and "\n" not in err


def test_overlay_lists_present_classes():
    from segzoo.inference.predict import overlay

    image = Image.new("RGB", (40, 30), (200, 200, 200))
    mask = torch.zeros(30, 40, dtype=torch.long)
    mask[5:15, 5:20] = 2
    out = overlay(image, mask, [[0, 0, 0], [255, 0, 0], [0, 255, 0]], ["bg", "a", "b"], alpha=0.5)
    assert out.width > 40
    assert out.getpixel((10, 10)) == (100, 227, 100)  # 50% blend of gray and green
    panel = out.crop((40, 0, out.width, out.height))
    colors = {c for _, c in panel.getcolors(100000)}
    assert (0, 255, 0) in colors and (255, 0, 0) not in colors  # only classes present get a swatch
