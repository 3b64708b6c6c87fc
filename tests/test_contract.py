"""The plugin contract (segzoo.testing.contract) on everything installed, and on deliberately broken plugins.

Every registered architecture, loss and dataset is checked, first-party or not, so a new plugin in the environment
is covered without editing this file. Small encoders keep it quick; ONNX export and torch.compile of the heavier
architectures are marked ``slow`` (deselect with ``-m "not slow"``).
"""

from __future__ import annotations

import json
import types

import pytest
import torch.nn.functional as F
from torch import nn

import segzoo
from segzoo import _plugins
from segzoo.nn import ConvBNReLU, Decoder, SegmentationHead, SegmentationModel, create_encoder
from segzoo.testing import contract

#: The smallest encoder each first-party architecture accepts (others use their default encoder).
SMALL_ENCODERS = {
    "deeplabv3": "resnet18", "deeplabv3plus": "resnet18", "fcn": "resnet18", "fcn8s": "resnet18",
    "pspnet": "resnet18", "fpn": "resnet18", "unet": "resnet18", "upernet": "resnet18", "segnet": "vgg11_bn_segnet",
}
#: Architectures that run full-resolution convolutions (VGG/U-Net paths) are checked at smaller sizes.
SMALL_SIZES = {"segnet": ((32, 32), (64, 96), (35, 45)), "unet-original": ((32, 32), (64, 96), (35, 45))}
#: ONNX and compile checks that always run; the others are marked slow.
QUICK_EXPORT = {"fcn8s", "fpn", "deeplabv3plus", "segformer"}
#: Contract failures reported to the plugins' authors (xfail until fixed or declared in ``unsupported=``).
KNOWN_FAILURES: dict[tuple[str, str], str] = {}
ARCHITECTURES = contract.architectures_to_check()


def _small(name: str) -> dict:
    small = {"encoder": SMALL_ENCODERS.get(name)}
    if name in SMALL_SIZES:
        small["sizes"] = SMALL_SIZES[name]
    return small


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_architecture_contract(name):
    report = contract.check_architecture(name, **_small(name), skip=("compile", "onnx"))
    assert "gradients" in report.passed and "save_load" in report.passed


def _export_params():
    for feature in ("compile", "onnx"):
        for name in ARCHITECTURES:
            marks = [] if name in QUICK_EXPORT else [pytest.mark.slow]
            if (name, feature) in KNOWN_FAILURES:
                marks.append(pytest.mark.xfail(reason=KNOWN_FAILURES[name, feature], raises=AssertionError))
            yield pytest.param(name, feature, marks=marks, id=f"{name}-{feature}")


@pytest.mark.parametrize(("name", "feature"), list(_export_params()))
def test_architecture_exports(name, feature):
    report = contract.check_architecture(name, **_small(name), checks=[feature])
    assert report.passed or report.skipped


LOSS_OPTIONS = {"combined": {"losses": {"cross_entropy": 1.0, "dice": 0.5}}}


@pytest.mark.parametrize("name", contract.losses_to_check())
def test_loss_contract(name):
    contract.check_loss(name, options=LOSS_OPTIONS.get(name))


@pytest.mark.skipif("shapes" not in segzoo.list_datasets(), reason="no 'shapes' dataset installed")
def test_shapes_dataset_contract(tmp_path):
    contract.check_dataset("shapes", tmp_path)


@pytest.mark.parametrize("name", ["fcn-resnet50", "lraspp-mobilenetv3-large"])
def test_catalog_entry_contract(name):
    if name not in segzoo.list_models():
        pytest.skip(f"{name} is not in the catalog")
    contract.check_catalog_entry(name)


def test_every_catalog_entry_names_an_installed_architecture_and_converter():
    for name in contract.catalog_entries_to_check():
        contract.check_catalog_entry(name, build=False)


# -- the checks catch what they should: deliberately broken plugins ----------------------------------------------------
class LastFeature(Decoder):
    def __init__(self, channels: int, *, divisor: int = 1, unused: bool = False) -> None:
        super().__init__()
        self.block = ConvBNReLU(channels, 16)
        self.out_channels, self.input_divisor = 16, divisor
        self.unused = nn.Conv2d(16, 16, 1) if unused else None

    def forward(self, features):
        return self.block(features[-1])


def _model(encoder, num_classes, in_channels, **decoder):
    enc = create_encoder(encoder, in_channels=in_channels)
    dec = LastFeature(enc.out_channels[-1], **decoder)
    return SegmentationModel(enc, dec, SegmentationHead(dec.out_channels, num_classes))


def good(*, encoder, num_classes, in_channels, pretrained_encoder, divisor: int = 32):
    return _model(encoder, num_classes, in_channels, divisor=divisor)


def with_unused_layer(*, encoder, num_classes, in_channels, pretrained_encoder):
    return _model(encoder, num_classes, in_channels, unused=True)


def swallows_options(*, encoder, num_classes, in_channels, pretrained_encoder, **ignored):
    return _model(encoder, num_classes, in_channels)


class HalfSize(SegmentationModel):
    def forward(self, x):
        return self.head(self.decoder(self.encoder(x)))  # forgets to upsample to the input size


def wrong_size(*, encoder, num_classes, in_channels, pretrained_encoder):
    enc = create_encoder(encoder, in_channels=in_channels)
    dec = LastFeature(enc.out_channels[-1])
    return HalfSize(enc, dec, SegmentationHead(dec.out_channels, num_classes))


class LeakyLoss(nn.Module):
    """Cross-entropy that forgets ignore_index."""

    def __init__(self, mode: str = "multiclass", ignore_index: int | None = 255) -> None:
        super().__init__()
        self.mode, self.ignore_index = mode, ignore_index

    def forward(self, logits, target):
        return F.cross_entropy(logits, target.clamp(max=logits.shape[1] - 1))


class GoodLoss(LeakyLoss):
    def forward(self, logits, target):
        return F.cross_entropy(logits, target, ignore_index=self.ignore_index)


@pytest.fixture
def broken():
    plugin = types.SimpleNamespace(SEGZOO_PLUGIN_API=1)

    @segzoo.hookimpl
    def register_architectures(register):
        encoder = {"default_encoder": "resnet18"}
        register("t-good", good, **encoder, unsupported={"onnx": "not needed here"})
        register("t-unused", with_unused_layer, **encoder)
        register("t-swallow", swallows_options, **encoder)
        register("t-size", wrong_size, **encoder)
        register("t-bad-meta", good, **encoder, unsupported={"tensorrt": "?"})

    @segzoo.hookimpl
    def register_losses(register):
        register("t-leaky", LeakyLoss, modes=("multiclass",))
        register("t-good-loss", GoodLoss, modes=("multiclass",))

    plugin.register_architectures, plugin.register_losses = register_architectures, register_losses
    _plugins.reset()
    info = _plugins.registries().add_plugin(plugin, name="t", package="segzoo-test-contract", version="0")
    assert info.status == "ok", info.error
    yield
    _plugins.reset()


FAST = {"sizes": ((64, 64), (70, 90)), "skip": ("compile",)}


def test_contract_passes_a_good_architecture_and_honours_declared_opt_outs(broken):
    report = contract.check_architecture("t-good", **FAST)
    assert report.skipped == {"onnx": "declared unsupported: not needed here"}
    assert "refuses 70x90" in report.notes["shapes"]
    assert set(contract.architectures_to_check("segzoo-test-contract")) == {
        "t-good", "t-unused", "t-swallow", "t-size", "t-bad-meta"}


@pytest.mark.parametrize(("name", "failing", "says"), [
    ("t-unused", "gradients", "decoder.unused.weight"),
    ("t-swallow", "options", "unknown option was accepted"),
    ("t-size", "shapes", "expected (2, 3, 64, 64)"),
    ("t-bad-meta", "metadata", "unsupported= must map"),
])
def test_contract_names_the_failing_check(broken, name, failing, says):
    with pytest.raises(AssertionError) as err:
        contract.check_architecture(name, checks=["options", "shapes", "gradients"], sizes=((64, 64),))
    assert f"FAILED {failing}: " in str(err.value) and says in str(err.value)


def test_loss_contract_catches_ignore_index_leak(broken):
    contract.check_loss("t-good-loss")
    with pytest.raises(AssertionError, match="ignore_index"):
        contract.check_loss("t-leaky")


def test_helpers_refuse_unknown_packages():
    with pytest.raises(LookupError, match="not an installed segzoo plugin"):
        contract.architectures_to_check("segzoo-does-not-exist")


def test_hub_round_trip_of_a_catalog_entry(hub_server, tmp_path, monkeypatch, tiny):
    entry = {
        "name": "tiny-hub", "architecture": "tiny", "encoder": "resnet18", "requires": "segzoo-test-tiny",
        "num_classes": 2, "class_names": ["a", "b"], "preprocessing": {"mean": [0.5] * 3, "std": [0.5] * 3},
        "dataset": {"train": "none", "eval": "none"}, "metrics": {"values": {}, "source": "n/a"},
        "license": "MIT", "paper": {"title": "t", "url": "https://example.org"},
        "weights": {"format": "segzoo", "sha256": None,
                    "hub": {"repo_id": "org/tiny-hub", "filename": "model.safetensors", "revision": "v1"}},
    }
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"schema_version": 1, "models": [entry]}))
    monkeypatch.setenv("SEGZOO_REGISTRY", str(path))
    _plugins.reset()
    _plugins.registries().add_plugin(__import__("tiny_plugin"), name="tiny", package="segzoo-test-tiny")
    contract.check_catalog_entry("tiny-hub")
    model = contract.check_hub_entry(hub_server, "tiny-hub")
    assert model.config["name"] == "tiny-hub"
    assert hub_server.list_files("org/tiny-hub", "v1") == [".gitattributes", "model.safetensors"]
    pinned = json.loads(json.dumps(entry))
    pinned["weights"]["sha256"] = "0" * 64  # random weights cannot match: checked against the published copy
    assert contract.check_hub_entry(hub_server, pinned).num_classes == 2
