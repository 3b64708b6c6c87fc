"""fcn / fcn8s with other encoders, channel counts and options."""

from __future__ import annotations

import pytest
import torch

import segzoo
from segzoo.errors import ConfigurationError


@pytest.mark.parametrize(
    ("arch", "encoder", "options", "in_channels", "num_classes"),
    [
        ("fcn", "resnet18", {}, 1, 1),
        ("fcn", "efficientnet_b0", {"output_stride": 16, "aux_head": True}, 4, 150),
        ("fcn", "convnext_atto", {"output_stride": 32}, 3, 5),
        ("fcn8s", "resnet18", {}, 4, 150),
        ("fcn8s", "convnext_atto", {"upsampling": "learned"}, 1, 1),
        ("fcn8s", "efficientvit_b0", {}, 3, 2),  # no dilation support: fine at output stride 32
        ("fcn8s", "vgg11", {"upsampling": "learned"}, 3, 21),  # the paper's family of backbones
    ],
)
def test_builds_and_runs_with_other_encoders(arch, encoder, options, in_channels, num_classes):
    torch.manual_seed(0)
    model = segzoo.create(arch, encoder=encoder, num_classes=num_classes, in_channels=in_channels, **options).eval()
    size = (64, 96) if options.get("upsampling") == "learned" else (65, 97)
    with torch.no_grad():
        out = model.forward_with_aux(torch.randn(1, in_channels, *size))
    assert out["out"].shape == (1, num_classes, *size)
    assert ("aux" in out) == bool(options.get("aux_head"))


def test_fcn_layout_is_torchvision_s():
    model = segzoo.create("fcn", encoder="resnet18", num_classes=3, aux_head=True)
    assert model.decoder.block[0].out_channels == 128 and model.decoder.block[0].bias is None
    assert type(model.head.dropout) is torch.nn.Dropout and model.head.dropout.p == 0.1
    assert model.aux_head.feature_index == 3 and model.aux_head.block[0].in_channels == 256  # layer3
    assert max(model.encoder.reductions) == 8


def test_fcn8s_fuses_strides_8_16_32():
    model = segzoo.create("fcn8s", encoder="resnet18", num_classes=3)
    reductions = model.encoder.reductions
    assert (reductions[model.decoder.index_8], reductions[model.decoder.index_16], reductions[-1]) == (8, 16, 32)
    assert model.input_divisor == 1
    # skip score layers start at zero (Long et al.), so the untrained model equals the FCN-32s path
    assert model.decoder.score_8.weight.abs().sum() == 0 and model.decoder.score_16.weight.abs().sum() == 0


def test_fcn8s_learned_upsampling_is_bilinear_at_init_and_training_needs_divisible_inputs():
    model = segzoo.create("fcn8s", encoder="resnet18", num_classes=3, upsampling="learned").eval()
    assert model.input_divisor == 32
    x = torch.randn(1, 3, 4, 4)
    up = model.decoder.up_32(x)
    ref = torch.nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    assert torch.allclose(up[..., 1:-1, 1:-1], ref[..., 1:-1, 1:-1], atol=1e-6)
    with pytest.raises(ValueError, match="divisible by 32"):
        model.forward_with_aux(torch.randn(1, 3, 65, 96))
    with torch.no_grad():
        assert model(torch.randn(1, 3, 65, 96)).shape == (1, model.num_classes, 65, 96)  # forward pads


def test_fcn8s_trains_and_resets_classes():
    model = segzoo.create("fcn8s", encoder="resnet18", num_classes=3, upsampling="learned").train()
    model(torch.randn(2, 3, 64, 64)).mean().backward()
    assert model.decoder.score_8.weight.grad is not None and model.decoder.up_16.weight.grad is not None
    model.reset_classes(7)
    assert model.head.classifier.out_channels == model.decoder.score_8.out_channels == 7
    assert model.decoder.up_32.weight.shape[:2] == (7, 7)
    assert model.eval()(torch.randn(1, 3, 64, 64)).shape == (1, 7, 64, 64)


def test_fcn8s_builds_on_meta():
    with torch.device("meta"):
        model = segzoo.create("fcn8s", encoder="resnet18", num_classes=3, upsampling="learned")
    assert model.decoder.up_32.weight.is_meta


def test_clear_errors():
    with pytest.raises(ConfigurationError, match="output_stride must be 8, 16 or 32"):
        segzoo.create("fcn", encoder="resnet18", num_classes=2, output_stride=4)
    with pytest.raises(ConfigurationError, match="does not support output_stride=8"):
        segzoo.create("fcn", encoder="efficientvit_b0", num_classes=2)
    with pytest.raises(ConfigurationError, match="upsampling must be 'bilinear' or 'learned'"):
        segzoo.create("fcn8s", encoder="resnet18", num_classes=2, upsampling="nearest")
    with pytest.raises(ConfigurationError, match="aux_index=5 is out of range"):
        segzoo.create("fcn", encoder="resnet18", num_classes=2, aux_head=True, aux_index=5)
    with pytest.raises(TypeError, match="output_stride"):
        segzoo.create("fcn8s", encoder="resnet18", num_classes=2, output_stride=8)
