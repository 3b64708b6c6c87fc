"""UPerNet-ConvNeXt parity with Hugging Face transformers (the upstream reference; needed only by these tests).

The reference is transformers' model for openmmlab/upernet-convnext-tiny (the config its conversion script builds),
with random weights of a realistic scale, random layer scales and random BatchNorm statistics.
"""

import pytest
import torch
import torch.nn.functional as F

import segzoo
from segzoo.testing.parity import randomize_
from segzoo.errors import ConfigurationError, WeightsError

transformers = pytest.importorskip("transformers")

from segzoo_transformers.convert import convert_upernet, create_kwargs_from_config  # noqa: E402

ENTRY = {"architecture": "upernet", "encoder": "convnext_tiny", "num_classes": 150, "options": {"aux_head": True}}
SIZES = {
    "convnext_tiny": ([96, 192, 384, 768], [3, 3, 9, 3]),
    "convnext_small": ([96, 192, 384, 768], [3, 3, 27, 3]),
    "convnext_base": ([128, 256, 512, 1024], [3, 3, 27, 3]),
}


def upernet_config(encoder: str = "convnext_tiny", num_labels: int = 150):
    hidden, depths = SIZES[encoder]
    backbone = transformers.ConvNextConfig(
        hidden_sizes=hidden, depths=depths, out_features=["stage1", "stage2", "stage3", "stage4"]
    )
    return transformers.UperNetConfig(backbone_config=backbone, auxiliary_in_channels=hidden[2], num_labels=num_labels)


@pytest.fixture(scope="module")
def reference():
    torch.manual_seed(0)
    return randomize_(transformers.UperNetForSemanticSegmentation(upernet_config()))


@pytest.fixture(scope="module")
def ours(reference):
    kwargs = create_kwargs_from_config(reference.config.to_dict())
    assert kwargs == {
        "arch": "upernet",
        "encoder": "convnext_tiny",
        "num_classes": 150,
        "in_channels": 3,
        "aux_head": True,
    }
    model = segzoo.create(**kwargs).eval()
    model.load_state_dict(convert_upernet(reference.state_dict(), ENTRY), strict=True)
    return model


@pytest.mark.parametrize("size", [(128, 128), (96, 160)])
def test_logits_and_aux_logits_match_transformers(reference, ours, size):
    torch.manual_seed(1)
    x = torch.randn(1, 3, *size)
    with torch.no_grad():
        ref = reference(pixel_values=x).logits  # already upsampled to the input size
        features = reference.backbone(x).feature_maps
        ref_aux = F.interpolate(reference.auxiliary_head(features), size=size, mode="bilinear", align_corners=False)
        out = ours.forward_with_aux(x)
    assert ref.shape == out["out"].shape == (1, 150, *size)
    assert ref.abs().max() > 1.0
    assert (out["out"] - ref).abs().max().item() <= 1e-4
    assert (out["aux"] - ref_aux).abs().max().item() <= 1e-4


def test_timm_convnext_is_transformers_convnext_plus_output_norms(reference, ours):
    """The encoder alone: timm's network (encoder.body) + LayerNorms (encoder.norms) == ConvNextBackbone."""
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        ref = reference.backbone(x).feature_maps
        got = ours.encoder(x)
    assert [tuple(f.shape) for f in got] == [tuple(f.shape) for f in ref]
    assert max((a - b).abs().max().item() for a, b in zip(got, ref)) <= 1e-5


def test_without_aux_head_the_converter_drops_it(reference):
    state = convert_upernet(reference.state_dict(), {**ENTRY, "options": {}})
    assert not any(k.startswith("aux_head.") for k in state)
    with torch.device("meta"):
        model = segzoo.create("upernet", encoder="convnext_tiny", num_classes=150)
    model.load_state_dict(state, strict=True, assign=True)
    assert model.aux_head is None
    assert not any(t.is_meta for t in [*model.parameters(), *model.buffers()])


@pytest.mark.parametrize("encoder", ["convnext_small", "convnext_base"])
def test_larger_variants_have_transformers_shapes(encoder):
    with torch.device("meta"):
        ref = transformers.UperNetForSemanticSegmentation(upernet_config(encoder))
        kwargs = create_kwargs_from_config(ref.config.to_dict())
        model = segzoo.create(**kwargs)
    assert kwargs["encoder"] == encoder and kwargs["aux_head"] is True
    converted = convert_upernet(ref.state_dict(), {"encoder": encoder, "options": {"aux_head": True}}, target=model)
    expected = model.state_dict()
    assert converted.keys() == expected.keys()
    assert all(converted[k].shape == expected[k].shape for k in expected)


def test_converter_and_config_errors(reference):
    with pytest.raises(WeightsError, match="ConvNeXt"):
        convert_upernet(reference.state_dict(), {**ENTRY, "encoder": "resnet50"})
    state = dict(reference.state_dict())
    state["backbone.encoder.stages.0.layers.0.extra"] = torch.zeros(1)
    with pytest.raises(WeightsError, match="extra"):
        convert_upernet(state, ENTRY)
    swin = {"model_type": "upernet", "backbone_config": {"model_type": "swin"}}
    with pytest.raises(ConfigurationError, match="swin"):
        create_kwargs_from_config(swin)


def test_other_encoders_without_output_norms():
    model = segzoo.create("upernet", encoder="resnet18", num_classes=4, aux_head=True, channels=64).eval()
    assert not hasattr(model.encoder, "norms")
    assert model.aux_head.feature_index == 3  # layer3 (stride 16) of timm's 5 ResNet maps
    out = model.forward_with_aux(torch.randn(1, 3, 64, 96))
    assert out["out"].shape == out["aux"].shape == (1, 4, 64, 96)
