import pytest
import torch
from PIL import Image

import segzoo
from segzoo.errors import ConfigurationError, UnknownNameError


def test_create_gives_logits_at_input_resolution(tiny):
    model = segzoo.create("tiny", num_classes=5).eval()
    x = torch.randn(2, 3, 70, 90)
    assert model(x).shape == (2, 5, 70, 90)
    assert model.config == {
        "architecture": "tiny",
        "encoder": "resnet18",
        "num_classes": 5,
        "in_channels": 3,
        "options": {},
    }


def test_state_dict_keys_follow_the_documented_layout(tiny):
    keys = segzoo.create("tiny", num_classes=2).state_dict().keys()
    assert {k.split(".")[0] for k in keys} == {"encoder", "decoder", "head"}
    assert "encoder.body.conv1.weight" in keys and "head.classifier.weight" in keys


@pytest.mark.parametrize("channels", [1, 4])
def test_other_input_channels(tiny, channels):
    model = segzoo.create("tiny", num_classes=3, in_channels=channels).eval()
    assert model(torch.randn(1, channels, 64, 64)).shape == (1, 3, 64, 64)
    with pytest.raises(ValueError, match=f"takes {channels}-channel images, got 3"):
        model(torch.randn(1, 3, 64, 64))


def test_input_size_error_says_what_to_do(tiny):
    # forward pads; the unpadded paths (forward_with_aux, which training runs, and check_input) say how to fix a size
    model = segzoo.create("tiny", num_classes=3, divisor=32).eval()
    with pytest.raises(ValueError, match=r"by 32, got 70x64; pad or resize .* 96x64\); model\(x\) and model.predict"):
        model.forward_with_aux(torch.randn(1, 3, 70, 64))


def test_forward_and_predict_take_any_size_by_padding_like_eval(tiny):
    # sides that are not multiples of the divisor are zero-padded at the bottom and right, the logits cropped back
    model = segzoo.create("tiny", num_classes=3, divisor=32).eval()
    x = torch.randn(2, 3, 70, 45)
    with torch.no_grad():
        logits = model(x)
        padded = model(torch.nn.functional.pad(x, (0, 19, 0, 26)))
    assert logits.shape == (2, 3, 70, 45)
    assert torch.equal(logits, padded[..., :70, :45])
    masks = model.predict(x)
    assert torch.equal(masks, padded[..., :70, :45].argmax(1))
    with torch.no_grad():  # and compiled, as eager (only exported graphs take their input as given)
        assert torch.allclose(torch.compile(model, backend="eager")(x), logits, atol=1e-6)
    image = Image.new("RGB", (45, 70))
    with pytest.raises(TypeError, match=r"got Image; for a PIL image use model.transforms\(\)\(image\)\[None\]"):
        model.predict(image)


def test_unknown_names_suggest_the_closest(tiny):
    with pytest.raises(UnknownNameError, match="did you mean 'tiny'"):
        segzoo.create("tinny")
    with pytest.raises(UnknownNameError, match="'resnet18'"):
        segzoo.create("tiny", encoder="resnet1B")


def test_unknown_option_is_a_type_error(tiny):
    with pytest.raises(TypeError, match="bogus"):
        segzoo.create("tiny", bogus=1)


def test_unknown_option_suggests_the_closest_and_lists_the_options():
    # an option spelled as another library spells it (torchvision's aux, mmseg's auxiliary_head) points to segzoo's
    for wrong in ("aux", "auxiliary_head"):
        with pytest.raises(TypeError, match=rf"'fcn' has no option '{wrong}'; did you mean 'aux_head'.*output_stride"):
            segzoo.create("fcn", encoder="resnet18", num_classes=2, **{wrong: True})


def test_unknown_encoder_option_suggests_the_closest_and_lists_the_options():
    # a registered encoder's options (encoder_options) get the same answer, not Python's bare TypeError
    with pytest.raises(
        TypeError,
        match=r"encoder 'unet-classic-bn' has no option 'base_chanels'; did you mean "
        r"'base_channels'\? \(its options: base_channels\)",
    ):
        segzoo.create("unet-original", encoder="unet-classic-bn", encoder_options={"base_chanels": 16})
    # what segzoo itself passes (in_channels, output_stride, pretrained) is not listed as the encoder's option
    with pytest.raises(TypeError, match=r"its options: base_channels\)"):
        segzoo.create("unet-original", encoder="unet-classic-bn", encoder_options={"pretrained_": True})


def test_encoder_output_stride_needs_a_backbone_that_dilates():
    from segzoo.nn import create_encoder

    enc = create_encoder("resnet18", output_stride=8)
    assert max(enc.reductions) == 8
    with pytest.raises(ConfigurationError, match="output_stride"):
        create_encoder("resnet18", output_stride=4)


def test_predict_is_inference_mode_and_restores_training(tiny):
    model = segzoo.create("tiny", num_classes=4).train()
    labels = model.predict(torch.randn(1, 3, 64, 64))
    assert labels.shape == (1, 64, 64) and labels.dtype == torch.long and labels.is_inference()
    assert model.training


def test_freeze_encoder_stops_gradients_and_batchnorm_updates(tiny):
    model = segzoo.create("tiny", num_classes=2)
    model.freeze_encoder()
    model.train()
    bn = model.encoder.body.bn1
    before = bn.running_mean.clone()
    model(torch.randn(2, 3, 64, 64)).sum().backward()
    assert torch.equal(before, bn.running_mean) and not bn.training
    assert all(p.grad is None for p in model.encoder.parameters())
    assert all(p.grad is not None for p in model.head.parameters())
    model.unfreeze_encoder()
    assert bn.training and all(p.requires_grad for p in model.encoder.parameters())


def test_reset_classes_keeps_encoder_and_decoder(tiny):
    model = segzoo.create("tiny", num_classes=21)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.reset_classes(4)
    after = model.state_dict()
    assert model.num_classes == 4 and model.config["num_classes"] == 4
    assert all(torch.equal(before[k], after[k]) for k in after if not k.startswith("head."))
    assert after["head.classifier.weight"].shape[0] == 4


def test_channels_last_timm_backbones_give_nchw_features():
    from segzoo.nn import create_encoder

    enc = create_encoder("swin_tiny_patch4_window7_224")
    features = enc(torch.randn(1, 3, 224, 224))
    assert [f.shape[1] for f in features] == enc.out_channels
    assert [224 // f.shape[-1] for f in features] == enc.reductions


def test_load_returns_eval_mode_also_without_weights(tiny, tmp_path):
    model = segzoo.create("tiny", num_classes=2)
    model.save_pretrained(tmp_path / "m")
    assert not segzoo.load(tmp_path / "m", pretrained=False).training


def test_class_map_equals_argmax_including_ties_and_resizes_first():
    import torch.nn.functional as F

    from segzoo.nn.functional import class_map

    torch.manual_seed(0)
    scores = torch.randint(0, 3, (2, 5, 7, 9)).float()  # many ties: the first maximum wins, as with argmax
    assert torch.equal(class_map(scores), scores.argmax(dim=1))
    resized = F.interpolate(scores, size=(14, 18), mode="bilinear", align_corners=False)
    assert torch.equal(class_map(scores, (14, 18)), resized.argmax(dim=1))
    assert class_map(scores, (7, 9)).shape == (2, 7, 9)


@pytest.mark.parametrize(
    "arch, encoder, classes, title, says",
    [
        ("enet", "enet", 1, "# enet\n", "architecture `enet` (with its own encoder), 1 class, 3 input channels."),
        ("upernet", "mit_b0", 150, "# upernet-mit_b0\n", "architecture `upernet`, encoder `mit_b0`, 150 classes"),
    ],
)
def test_model_card_reads_right_for_any_name(arch, encoder, classes, title, says):
    from segzoo.nn.pretrained import default_model_card

    card = default_model_card(
        {"architecture": arch, "encoder": encoder, "num_classes": classes, "in_channels": 3, "segzoo_version": ""}
    )
    assert title in card and says in card
    assert " A `" not in card and "\nA `" not in card and "segzoo) ." not in card
