"""The plugin contract (segzoo.testing.contract) on everything installed, and on deliberately broken plugins.

Every registered architecture, loss and dataset is checked, first-party or not, so a new plugin in the environment
is covered without editing this file: each check is its own pytest item (``architecture:unet:gradients``). Small
encoders keep it quick; ONNX export and torch.compile of the heavier architectures are marked ``slow`` (deselect with
``-m "not slow"``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

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
#: Catalog entries that are also built (without weights); the others are checked without building.
BUILT_ENTRIES = {"fcn-resnet50", "lraspp-mobilenetv3-large"}
LOSS_OPTIONS = {"combined": {"options": {"losses": {"cross_entropy": 1.0, "dice": 0.5}}}}
#: Real data in ../shared/datasets (when present) for the datasets' checks; the others are skipped for lack of data.
DATA = Path(os.environ.get("SEGZOO_DATA", Path(__file__).resolve().parents[2] / "shared" / "datasets"))
DATASETS = {
    "camvid": {"root": DATA / "camvid"}, "drive": {"root": DATA / "drive"},
    "isbi2012": {"root": DATA / "isbi2012_membrane"},
    "cityscapes": {"root": DATA / "cityscapes_mmseg_sample", "split": "val"},
}
#: Generic datasets whose classes are options (no classes to declare at registration): checked in their own tests.
GENERIC_DATASETS = {"folder"}


def _settings() -> dict[str, dict]:
    settings: dict[str, dict] = {name: {"encoder": encoder} for name, encoder in SMALL_ENCODERS.items()}
    for name, sizes in SMALL_SIZES.items():
        settings.setdefault(name, {})["sizes"] = sizes
    settings.update(LOSS_OPTIONS)
    settings["shapes"] = {"root": lambda tmp: tmp}  # a synthetic dataset: any folder
    settings.update({name: data for name, data in DATASETS.items() if data["root"].is_dir()})
    settings.update({name: {"build": name in BUILT_ENTRIES} for name in segzoo.list_models()})
    return settings


CHECKS = contract.plugin_checks(settings=_settings(), hub=False)


def _params():
    for check in CHECKS:
        if check.kind == "catalog" or (check.kind == "dataset" and check.subject in GENERIC_DATASETS):
            continue
        subject = check.subject.split("(")[0]
        marks = []
        if check.kind == "architecture" and check.name in ("compile", "onnx") and subject not in QUICK_EXPORT:
            marks.append(pytest.mark.slow)
        if (subject, check.name) in KNOWN_FAILURES:
            marks.append(pytest.mark.xfail(reason=KNOWN_FAILURES[subject, check.name], raises=AssertionError))
        yield pytest.param(check, id=check.id, marks=marks)


@pytest.mark.parametrize("check", list(_params()))
def test_contract(check):
    check()


@pytest.mark.parametrize("name", sorted({c.subject for c in CHECKS if c.kind == "catalog"}))
def test_catalog_entry(name):
    # the checks of one entry together: hundreds of entries, each check takes milliseconds
    contract.run_checks(c for c in CHECKS if c.kind == "catalog" and c.subject == name)


def test_every_kind_is_checked():
    kinds = {check.kind for check in CHECKS}
    assert {"plugin", "encoder", "architecture", "loss", "dataset", "catalog"} - kinds == {"plugin"}


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
    outcomes = contract.run_checks(contract.architecture_checks("t-good", **FAST))
    assert outcomes["architecture:t-good:onnx"] == "skipped: declared unsupported: not needed here"
    assert "refuses 70x90" in outcomes["architecture:t-good:shapes"]
    assert outcomes["architecture:t-good:gradients"] == "passed"
    checks = contract.plugin_checks("segzoo-test-contract", hub=False)
    provided = {c.subject for c in checks if c.kind == "architecture"}
    assert provided == {"t-good", "t-unused", "t-swallow", "t-size", "t-bad-meta"}


@pytest.mark.parametrize(("name", "failing", "says"), [
    ("t-unused", "gradients", "decoder.unused.weight"),
    ("t-swallow", "options", "unknown option was accepted"),
    ("t-size", "shapes", "expected (2, 3, 64, 64)"),
    ("t-bad-meta", "metadata", "unsupported= must map"),
])
def test_contract_names_the_failing_check(broken, name, failing, says):
    checks = contract.architecture_checks(name, checks=["options", "shapes", "gradients"], sizes=((64, 64),))
    with pytest.raises(AssertionError) as err:
        contract.run_checks(checks)
    failed = [line for line in str(err.value).splitlines() if line.startswith("  ")]
    assert any(line.startswith(f"  architecture:{name}:{failing}: ") and says in line for line in failed), failed
    (check,) = [c for c in checks if c.name == failing]
    with pytest.raises(AssertionError, match=says.replace("(", r"\(").replace(")", r"\)")):
        check()  # the same failure as a single pytest item


def test_loss_contract_catches_ignore_index_leak(broken):
    contract.run_checks(contract.loss_checks("t-good-loss"))
    with pytest.raises(AssertionError, match="ignore_index"):
        contract.run_checks(contract.loss_checks("t-leaky"))


def test_check_plugin_runs_everything_a_package_registered_and_lists_every_failure(broken):
    with pytest.raises(AssertionError) as err:
        contract.check_plugin("segzoo-test-contract", settings={
            name: {"checks": ["options", "gradients"], "sizes": ((64, 64),)}
            for name in ("t-good", "t-unused", "t-swallow", "t-size", "t-bad-meta")})
    message = str(err.value)
    assert message.startswith("5 of ")
    for failed in ("plugin:segzoo-test-contract:discovery", "architecture:t-unused:gradients",
                   "architecture:t-swallow:options", "architecture:t-bad-meta:metadata", "loss:t-leaky:multiclass"):
        assert f"  {failed}: " in message, message
    assert "architecture:t-good" not in message and "t-good-loss" not in message


def test_helpers_refuse_unknown_packages():
    with pytest.raises(LookupError, match="not an installed segzoo plugin"):
        contract.plugin_checks("segzoo-does-not-exist")
    with pytest.raises(LookupError, match="not an installed segzoo plugin"):
        segzoo.testing.check_plugin("segzoo-does-not-exist")


@pytest.mark.slow  # two Python processes that import torch
def test_discovery_check_finds_a_plugin_that_imports_torch(tmp_path):
    """A real installed plugin (a dist-info with an entry point on PYTHONPATH) whose hook module imports torch."""
    (tmp_path / "heavy_plugin.py").write_text(
        "import segzoo\nimport torch\nSEGZOO_PLUGIN_API = 1\n\n"
        "@segzoo.hookimpl\ndef register_losses(register):\n    register('heavy-ce', torch.nn.CrossEntropyLoss)\n")
    dist = tmp_path / "segzoo_heavy-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: segzoo-heavy\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[segzoo]\nheavy = heavy_plugin\n")
    code = ("import sys; from segzoo.testing import contract\n"
            "try:\n    contract.discovery_check('segzoo-heavy')()\nexcept AssertionError as err:\n"
            "    print(err); sys.exit(3)\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "discovering segzoo-heavy imported torch" in result.stdout


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
    outcomes = contract.run_checks(contract.catalog_checks("tiny-hub"))
    assert outcomes["catalog:tiny-hub:hub"] == "passed"  # in its own sandboxed local Hub
    model = contract.check_hub_entry(hub_server, "tiny-hub")
    assert model.config["name"] == "tiny-hub"
    assert hub_server.list_files("org/tiny-hub", "v1") == [".gitattributes", "model.safetensors"]
    pinned = json.loads(json.dumps(entry))
    pinned["weights"]["sha256"] = "0" * 64  # random weights cannot match: checked against the published copy
    assert contract.check_hub_entry(hub_server, pinned).num_classes == 2
