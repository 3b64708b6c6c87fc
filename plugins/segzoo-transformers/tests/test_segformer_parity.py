"""SegFormer parity with Hugging Face transformers (the upstream reference; needed only by these tests)."""

import pytest
import torch
import torch.nn.functional as F

import segzoo
from segzoo.testing.parity import randomize_
from segzoo.errors import ConfigurationError, WeightsError

transformers = pytest.importorskip("transformers")

from segzoo_transformers.convert import (  # noqa: E402
    class_names_from_config,
    convert_segformer,
    create_kwargs_from_config,
)
from segzoo_transformers.mit import MIT_CONFIGS  # noqa: E402

ENTRY = {"architecture": "segformer", "encoder": "mit_b0", "num_classes": 150}


def segformer_config(variant: str = "mit_b0", num_labels: int = 150):
    """transformers' SegformerConfig of nvidia/segformer-b* (the Hub config.json values)."""
    cfg = MIT_CONFIGS[variant]
    return transformers.SegformerConfig(
        hidden_sizes=list(cfg.hidden_sizes),
        depths=list(cfg.depths),
        decoder_hidden_size=cfg.decoder_hidden_size,
        num_labels=num_labels,
    )


@pytest.fixture(scope="module")
def reference():
    torch.manual_seed(0)
    return randomize_(transformers.SegformerForSemanticSegmentation(segformer_config()))


@pytest.fixture(scope="module")
def ours(reference):
    model = segzoo.create("segformer", encoder="mit_b0", num_classes=150).eval()
    model.load_state_dict(convert_segformer(reference.state_dict(), ENTRY), strict=True)
    return model


@pytest.mark.parametrize("size", [(128, 128), (96, 160)])
def test_logits_match_transformers(reference, ours, size):
    torch.manual_seed(1)
    x = torch.randn(2, 3, *size)
    with torch.no_grad():
        ref = reference(pixel_values=x).logits
        stride4 = ours.head(ours.decoder(ours.encoder(x)))
        full = ours(x)
    assert ref.shape == (2, 150, size[0] // 4, size[1] // 4)  # transformers returns stride-4 logits
    assert ref.abs().max() > 1.0  # a meaningful scale for the tolerance below
    assert (stride4 - ref).abs().max().item() <= 1e-4
    upsampled = F.interpolate(ref, size=size, mode="bilinear", align_corners=False)
    assert full.shape == (2, 150, *size)
    assert (full - upsampled).abs().max().item() <= 1e-4


def test_hub_file_names_convert_too(reference, ours, tmp_path):
    """The Hub files carry transformers 4 names (save_pretrained still writes them); the converter takes both."""
    from safetensors.torch import load_file

    reference.save_pretrained(tmp_path)
    legacy = load_file(str(tmp_path / "model.safetensors"))
    assert any(k.startswith("segformer.encoder.block.") for k in legacy)
    assert any(k.startswith("decode_head.linear_c.") for k in legacy)
    converted = convert_segformer(legacy, ENTRY)
    expected = ours.state_dict()
    assert converted.keys() == expected.keys()
    assert all(torch.equal(converted[k], expected[k]) for k in expected)


def test_loads_like_the_catalog_loader(reference):
    """Built on the meta device and assigned, as segzoo.load does; nothing may stay on meta."""
    state = convert_segformer(reference.state_dict(), ENTRY)
    with torch.device("meta"):
        model = segzoo.create("segformer", encoder="mit_b0", num_classes=150)
    model.load_state_dict(state, strict=True, assign=True)
    assert not any(t.is_meta for t in [*model.parameters(), *model.buffers()])


@pytest.mark.parametrize("variant", sorted(MIT_CONFIGS))
def test_every_variant_has_transformers_shapes(variant):
    """mit_b0..b5 + decode head: same keys and shapes as transformers' model for nvidia/segformer-b*, built on meta."""
    with torch.device("meta"):
        ref = transformers.SegformerForSemanticSegmentation(segformer_config(variant, 19))
        kwargs = create_kwargs_from_config(ref.config.to_dict())
        model = segzoo.create(**kwargs)
    assert kwargs == {"arch": "segformer", "encoder": variant, "num_classes": 19, "in_channels": 3}
    converted = convert_segformer(ref.state_dict(), {"encoder": variant}, target=model)
    expected = model.state_dict()
    assert converted.keys() == expected.keys()
    assert all(converted[k].shape == expected[k].shape for k in expected)
    assert model.decoder.out_channels == (256 if variant in ("mit_b0", "mit_b1") else 768)


def test_config_helper_options_and_errors():
    cfg = segformer_config("mit_b2", 4).to_dict()
    cfg.update(decoder_hidden_size=256, classifier_dropout_prob=0.0, id2label={"0": "a", "1": "b", "2": "c", "3": "d"})
    kwargs = create_kwargs_from_config(cfg)
    assert kwargs["decoder_channels"] == 256 and kwargs["dropout"] == 0.0 and kwargs["num_classes"] == 4
    assert class_names_from_config(cfg) == ["a", "b", "c", "d"]
    with pytest.raises(ConfigurationError, match="matches none"):
        create_kwargs_from_config({**cfg, "depths": [1, 1, 1, 1]})
    with pytest.raises(ConfigurationError, match="sr_ratios"):
        create_kwargs_from_config({**cfg, "sr_ratios": [4, 2, 1, 1]})


def test_converter_refuses_what_it_cannot_map(reference):
    state = dict(reference.state_dict())
    with pytest.raises(WeightsError, match="MiT encoder"):
        convert_segformer(state, {"encoder": "resnet50"})
    state["decode_head.extra.weight"] = torch.zeros(1)
    with pytest.raises(WeightsError, match="decode_head.extra.weight"):
        convert_segformer(state, ENTRY)


def test_generic_decode_head_takes_timm_pyramids():
    model = segzoo.create("segformer", encoder="resnet18", num_classes=3).eval()
    assert model.decoder.feature_indices == [1, 2, 3, 4]  # the stride-2 map of the ResNet is left out
    assert model(torch.randn(1, 3, 64, 96)).shape == (1, 3, 64, 96)


def test_mit_has_no_dilated_mode():
    from segzoo.nn import create_encoder

    with pytest.raises(ConfigurationError, match="output_stride=32 only"):
        create_encoder("mit_b0", output_stride=16)
    enc = create_encoder("mit_b0", in_channels=4)
    assert enc.reductions == [4, 8, 16, 32] and enc.out_channels == [32, 64, 160, 256]
    assert [f.shape[1] for f in enc(torch.randn(1, 4, 64, 64))] == [32, 64, 160, 256]


def test_unknown_option_is_a_type_error():
    with pytest.raises(TypeError, match="bogus"):
        segzoo.create("segformer", num_classes=2, bogus=1)


def test_pretrained_mit_reads_the_nvidia_imagenet_checkpoint(monkeypatch, tmp_path):
    """pretrained_encoder=True: nvidia/mit-b0's pytorch_model.bin (a SegformerForImageClassification), faked offline."""
    from safetensors.torch import load_file

    import segzoo.hub.download
    from segzoo.nn import create_encoder

    torch.manual_seed(2)
    ref = randomize_(transformers.SegformerForImageClassification(segformer_config("mit_b0", 1000)))
    ref.save_pretrained(tmp_path)
    torch.save(load_file(str(tmp_path / "model.safetensors")), tmp_path / "pytorch_model.bin")
    asked = []

    def fake_fetch(repo_id, filename, revision, *, sha256, what):
        asked.append((repo_id, filename))
        return tmp_path / "pytorch_model.bin"

    monkeypatch.setattr(segzoo.hub.download, "fetch_hub_file", fake_fetch)
    encoder = create_encoder("mit_b0", pretrained=True).eval()
    assert asked == [("nvidia/mit-b0", "pytorch_model.bin")]
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = ref.segformer(x, output_hidden_states=True).hidden_states
        got = encoder(x)
    assert max((a - b).abs().max().item() for a, b in zip(got, expected)) <= 1e-5
    four = create_encoder("mit_b0", in_channels=4, pretrained=True)  # first conv adapted like timm does
    assert four.stages[0].patch_embeddings.proj.weight.shape[1] == 4
