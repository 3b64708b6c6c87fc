"""Numerical parity with torchvision's LR-ASPP MobileNetV3-Large, through the ``torchvision:lraspp`` converter."""

from __future__ import annotations

import functools
import logging

import pytest
import torch

import segzoo
from segzoo.testing.parity import checked_entry, randomize_
from segzoo.errors import WeightsError

segmentation = pytest.importorskip("torchvision.models.segmentation")

NAME = "lraspp-mobilenetv3-large"
ENCODER, OPTIONS = "tv_mobilenet_v3_large", {"output_stride": 16}
SIZES = [(97, 131), (160, 160)]  # one not a multiple of 32
TOLERANCE = 1e-4


def entry_for(name: str = NAME) -> dict:
    return checked_entry(name, architecture="lraspp", encoder=ENCODER, options=OPTIONS, weights_format="torchvision")


@functools.lru_cache(maxsize=None)
def torchvision_model(seed: int = 0) -> torch.nn.Module:
    """A randomised torchvision LR-ASPP (cached: tests only read it). torchvision's LR-ASPP has no aux head."""
    torch.manual_seed(seed)
    model = segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=21)
    return randomize_(model, seed)


def converted_model(entry: dict | None = None) -> segzoo.SegmentationModel:
    from segzoo_lraspp.convert import convert_torchvision_lraspp

    entry = entry or entry_for()
    model = segzoo.create(
        entry["architecture"], encoder=entry["encoder"], num_classes=entry["num_classes"], **entry["options"]
    ).eval()
    model.load_state_dict(convert_torchvision_lraspp(torchvision_model().state_dict(), entry), strict=True)
    return model


def test_logits_match_torchvision():
    reference, model = torchvision_model(), converted_model()
    torch.manual_seed(1)
    for size in SIZES:
        x = torch.randn(2, 3, *size)
        with torch.no_grad():
            expected, got = reference(x), model.forward_with_aux(x)
        assert set(expected) == set(got) == {"out"}
        assert got["out"].shape == expected["out"].shape == (2, 21, *size)
        diff = (got["out"] - expected["out"]).abs().max().item()
        assert diff <= TOLERANCE, f"out at {size}: max |diff| {diff}"
        assert expected["out"].std() > 1e-2


def test_low_feature_is_torchvision_s_features_4():
    model = converted_model()
    assert model.decoder.low_index == 2 and model.encoder.reductions[2] == 8 and model.encoder.out_channels[2] == 40
    assert model.encoder.reductions[-1] == 16 and model.encoder.out_channels[-1] == 960
    # the dilated last stage starts at features[13], with dilation 2 in its first block already (torchvision's)
    assert model.encoder.features[13].block[1][0].dilation == (2, 2)
    assert model.encoder.features[13].block[1][0].stride == (1, 1)


def test_loader_builds_on_meta_and_assigns(caplog):
    from segzoo.hub.loading import build_with_weights
    from segzoo_lraspp.convert import convert_torchvision_lraspp

    entry = entry_for()
    converted = convert_torchvision_lraspp(torchvision_model().state_dict(), entry)
    with caplog.at_level(logging.DEBUG, logger="segzoo"):
        model = build_with_weights(
            lambda: segzoo.create("lraspp", encoder=ENCODER, num_classes=21, **OPTIONS), converted, what="test"
        )
    assert "building normally" not in caplog.text
    x = torch.randn(1, 3, 64, 80)
    with torch.no_grad():
        assert (model(x) - torchvision_model()(x)["out"]).abs().max() <= TOLERANCE


def test_converter_names_missing_and_unexpected_keys():
    from segzoo_lraspp.convert import convert_torchvision_lraspp

    state = torchvision_model().state_dict()
    broken = {k: v for k, v in state.items() if not k.startswith("classifier.low_classifier.")}
    with pytest.raises(
        WeightsError,
        match=r"2 missing keys: classifier\.low_classifier\.bias, "
        r"classifier\.low_classifier\.weight",
    ):
        convert_torchvision_lraspp(broken, entry_for())

    # the wrong model: torchvision's DeepLabV3 on the same backbone
    deeplab = segmentation.deeplabv3_mobilenet_v3_large(
        weights=None, weights_backbone=None, num_classes=21, aux_loss=True
    )
    with pytest.raises(
        WeightsError,
        match=r"not a torchvision LR-ASPP state dict .*missing keys: "
        r"classifier\.cbr\.0\.weight.*unexpected keys: classifier\.0\.convs",
    ):
        convert_torchvision_lraspp(deeplab.state_dict(), entry_for())

    # a model for another number of classes
    other = segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=3)
    expected = r"4 tensors of another shape: classifier\.high_classifier\.weight \(3, 128, 1, 1\)"
    with pytest.raises(WeightsError, match=expected):
        convert_torchvision_lraspp(other.state_dict(), entry_for())


def test_segzoo_load_end_to_end(tmp_path, monkeypatch):
    """segzoo.load on a catalog entry like the real one, served from a loopback mirror: download, sha256 check,
    converter lookup ("torchvision:lraspp"), conversion to safetensors, meta-device build, same logits."""
    import hashlib
    import http.server
    import json
    import threading

    from segzoo import registry

    weights_file = tmp_path / "mirror" / "lraspp_mobilenet_v3_large-test.pth"
    weights_file.parent.mkdir()
    torch.save(torchvision_model().state_dict(), weights_file)
    sha = hashlib.sha256(weights_file.read_bytes()).hexdigest()

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(weights_file.parent))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        name = "lraspp-e2e-test"
        entry = {
            **entry_for(),
            "name": name,
            "requires": "segzoo-lraspp",
            "class_names": [str(i) for i in range(21)],
            "preprocessing": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
            "dataset": {"train": "random", "eval": "random"},
            "metrics": {"values": {}, "source": "none"},
            "license": "BSD-3-Clause",
            "paper": {"title": "Searching for MobileNetV3", "url": "https://arxiv.org/abs/1905.02244"},
            "weights": {
                "format": "torchvision",
                "sha256": sha[:8],
                "url": f"http://127.0.0.1:{server.server_address[1]}/{weights_file.name}",
            },
        }
        catalog_file = tmp_path / "registry.json"
        catalog_file.write_text(json.dumps({"schema_version": 1, "models": [entry]}))
        monkeypatch.setenv("SEGZOO_REGISTRY", str(catalog_file))
        monkeypatch.setenv("SEGZOO_CACHE", str(tmp_path / "cache"))
        registry.reset()
        model = segzoo.load(name)
        x = torch.randn(1, 3, 97, 131)
        with torch.no_grad():
            assert (model(x) - torchvision_model()(x)["out"]).abs().max() <= TOLERANCE
    finally:
        server.shutdown()
        server.server_close()
        registry.reset()
