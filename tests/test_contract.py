"""The plugin contract (segzoo.testing.contract) on what no plugin's own tests check, and on broken plugins.

Each first-party plugin runs the contract on what it registers in its own ``tests/test_contract.py``
(``parametrize_with_checks``), as a third-party plugin would. Here: what segzoo's core registers (its encoders and
the catalog, one item per entry), any other plugin installed in the environment (so it is covered without editing
this file), and the checks' own behaviour on deliberately broken plugins.
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
from PIL import Image
from torch import nn

import segzoo
from segzoo import _plugins, registry
from segzoo.data import SegmentationDataset
from segzoo.nn import ConvBNReLU, Decoder, SegmentationHead, SegmentationModel, create_encoder
from segzoo.testing import contract

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"
#: Catalog entries that are also built (without weights); the others are checked without building.
BUILT_ENTRIES = {"fcn-resnet50", "lraspp-mobilenetv3-large"}


def _own_contract_tests(package: str) -> bool:
    return (PLUGINS / package / "tests" / "test_contract.py").is_file()


CATALOG = {name: {"build": name in BUILT_ENTRIES} for name in segzoo.list_models()}
CHECKS = [
    check
    for plugin in registry.plugins()
    if plugin.status == "ok" and not _own_contract_tests(plugin.package)
    for check in contract.plugin_checks(plugin.package, hub=False, settings=CATALOG)
]


@contract.parametrize_with_checks(
    (c for c in CHECKS if c.kind != "catalog"),
    marks={f"encoder:{c.subject}": pytest.mark.slow for c in CHECKS if c.kind == "encoder" and "101" in c.subject},
)
def test_contract(check):
    check()


@pytest.mark.parametrize("name", sorted({c.subject for c in CHECKS if c.kind == "catalog"}))
def test_catalog_entry(name):
    # the checks of one entry together: hundreds of entries, each check takes milliseconds
    contract.run_checks(c for c in CHECKS if c.kind == "catalog" and c.subject == name)


def test_every_first_party_plugin_runs_the_contract_in_its_own_tests():
    for plugin in registry.plugins():
        if plugin.first_party and plugin.package != "segzoo" and plugin.status == "ok":
            assert _own_contract_tests(plugin.package), f"{plugin.package} has no tests/test_contract.py"


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
    assert outcomes["architecture:t-good:shapes"] == "passed"  # its divisor is 32: the core's forward pads 70x90
    assert outcomes["architecture:t-good:gradients"] == "passed"
    checks = contract.plugin_checks("segzoo-test-contract", hub=False)
    provided = {c.subject for c in checks if c.kind == "architecture"}
    assert provided == {"t-good", "t-unused", "t-swallow", "t-size", "t-bad-meta"}


@pytest.mark.parametrize(
    ("name", "failing", "says"),
    [
        ("t-unused", "gradients", "decoder.unused.weight"),
        ("t-swallow", "options", "unknown option was accepted"),
        ("t-size", "shapes", "expected (2, 3, 64, 64)"),
        ("t-bad-meta", "metadata", "unsupported= must map"),
    ],
)
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


class TwoTiles(SegmentationDataset):
    """One 8x8 image and mask per split, written by ``write``."""

    name, classes, palette, ignore_index, splits = "t-tiles", ["a", "b"], [[0, 0, 0], [9, 9, 9]], 255, ("train",)
    homepage, license = "https://example.org/old-page", "CC0-1.0"
    layout = "root/<split>/0.png and root/<split>/0_mask.png"

    @staticmethod
    def write(root: Path) -> Path:
        (root / "train").mkdir()
        Image.new("RGB", (8, 8)).save(root / "train" / "0.png")
        Image.new("L", (8, 8), 1).save(root / "train" / "0_mask.png")
        return root

    def find_files(self):
        return [(self.root / self.split / "0.png", self.root / self.split / "0_mask.png")]


@pytest.mark.parametrize("homepage", ["https://example.org/old-page", "https://example.org/new-page"])
def test_dataset_contract_catches_a_class_whose_homepage_is_not_the_registered_one(homepage):
    plugin = types.SimpleNamespace(SEGZOO_PLUGIN_API=1)

    @segzoo.hookimpl
    def register_datasets(register):
        register(
            "t-tiles",
            TwoTiles,
            classes=["a", "b"],
            palette=[[0, 0, 0], [9, 9, 9]],
            ignore_index=255,
            splits=["train"],
            homepage=homepage,
            license="CC0-1.0",
        )

    plugin.register_datasets = register_datasets
    _plugins.reset()
    try:
        assert _plugins.registries().add_plugin(plugin, name="t", package="segzoo-test-tiles").status == "ok"
        checks = contract.dataset_checks("t-tiles", root=TwoTiles.write)
        if homepage == TwoTiles.homepage:
            contract.run_checks(checks)
        else:
            with pytest.raises(AssertionError, match="dataset.homepage is 'https://example.org/old-page', but it was"):
                contract.run_checks(checks)
    finally:
        _plugins.reset()


def test_check_plugin_runs_everything_a_package_registered_and_lists_every_failure(broken):
    with pytest.raises(AssertionError) as err:
        contract.check_plugin(
            "segzoo-test-contract",
            settings={
                name: {"checks": ["options", "gradients"], "sizes": ((64, 64),)}
                for name in ("t-good", "t-unused", "t-swallow", "t-size", "t-bad-meta")
            },
        )
    message = str(err.value)
    assert message.startswith("5 of ")
    for failed in (
        "plugin:segzoo-test-contract:discovery",
        "architecture:t-unused:gradients",
        "architecture:t-swallow:options",
        "architecture:t-bad-meta:metadata",
        "loss:t-leaky:multiclass",
    ):
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
        "@segzoo.hookimpl\ndef register_losses(register):\n    register('heavy-ce', torch.nn.CrossEntropyLoss)\n"
    )
    dist = tmp_path / "segzoo_heavy-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: segzoo-heavy\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[segzoo]\nheavy = heavy_plugin\n")
    code = (
        "import sys; from segzoo.testing import contract\n"
        "try:\n    contract.discovery_check('segzoo-heavy')()\nexcept AssertionError as err:\n"
        "    print(err); sys.exit(3)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "discovering segzoo-heavy imported torch" in result.stdout


def test_hub_round_trip_of_a_catalog_entry(hub_server, tmp_path, monkeypatch, tiny):
    entry = {
        "name": "tiny-hub",
        "architecture": "tiny",
        "encoder": "resnet18",
        "requires": "segzoo-test-tiny",
        "num_classes": 2,
        "class_names": ["a", "b"],
        "preprocessing": {"mean": [0.5] * 3, "std": [0.5] * 3},
        "dataset": {"train": "none", "eval": "none"},
        "metrics": {"values": {}, "source": "n/a"},
        "license": "MIT",
        "paper": {"title": "t", "url": "https://example.org"},
        "weights": {
            "format": "segzoo",
            "sha256": None,
            "hub": {"repo_id": "org/tiny-hub", "filename": "model.safetensors", "revision": "v1"},
        },
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
