"""The one-way load pipeline: the model is built once per load, converters may take the target, one fit check."""

from __future__ import annotations

import hashlib
import types

import pytest
import torch
from test_weights import catalog_entry, file_server, pth_bytes, same_outputs, tiny_weights, use_catalog  # noqa: F401

import segzoo
from segzoo import _plugins
from segzoo.errors import SegzooError, WeightsError
from segzoo.hub.fit import fit_state_dict
from segzoo.hub.remap import remap
from segzoo.nn import SegmentationModel

UPSTREAM = [("net.", "")]  # the "upstream" layout: every segzoo key under "net."


def _convert_with_remap(state_dict, entry):
    """A two-argument converter, as third parties write them: builds nothing itself, remap asks for the model."""
    return remap(state_dict, entry, UPSTREAM, upstream="test")


def _plugin(convert) -> types.ModuleType:
    module = types.ModuleType("tiny_converter_plugin")
    module.SEGZOO_PLUGIN_API = 1

    @segzoo.hookimpl
    def register_converters(register):
        register("torchvision:tiny", convert)

    module.register_converters = register_converters
    return module


@pytest.fixture
def upstream_entry(file_server, hf_env, tmp_path, monkeypatch, tiny):  # noqa: F811
    """A URL entry in the "torchvision" format whose converter goes through remap (like the first-party ones)."""
    handler, base = file_server
    state, reference = tiny_weights(7)
    blob = pth_bytes({"net." + k: v for k, v in state.items()})
    handler.files["/tiny-7.pth"] = blob
    entry = catalog_entry(
        "tiny-upstream",
        {"format": "torchvision", "url": f"{base}/tiny-7.pth", "sha256": hashlib.sha256(blob).hexdigest()},
    )
    use_catalog(tmp_path, monkeypatch, entry)
    return reference


def _count_builds(monkeypatch) -> list[int]:
    builds: list[int] = []
    original = SegmentationModel.__init__

    def counting(self, *args, **kwargs):
        builds.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(SegmentationModel, "__init__", counting)
    return builds


@pytest.mark.slow
def test_a_converted_load_builds_the_model_once(upstream_entry, monkeypatch):
    _plugins.registries().add_plugin(_plugin(_convert_with_remap), name="conv", package="segzoo-test-conv")
    builds = _count_builds(monkeypatch)
    model = segzoo.load("tiny-upstream")  # download, convert (remap checks against the model), assign
    assert len(builds) == 1
    assert same_outputs(model, upstream_entry)
    assert model.transforms().mean == [0.5, 0.5, 0.5]  # the entry's preprocessing travels with the weights
    builds.clear()
    segzoo.load("tiny-upstream")  # from the converted cache
    assert len(builds) == 1


@pytest.mark.slow
def test_a_converter_declaring_target_gets_the_model_being_loaded(upstream_entry, monkeypatch):
    seen = []

    def convert(state_dict, entry, target=None):
        seen.append(target)
        return fit_state_dict({k[len("net.") :]: v for k, v in state_dict.items()}, target, what="test")

    _plugins.registries().add_plugin(_plugin(convert), name="conv", package="segzoo-test-conv")
    builds = _count_builds(monkeypatch)
    model = segzoo.load("tiny-upstream")
    assert len(builds) == 1 and len(seen) == 1
    assert seen[0] is model  # the target built on meta is the model that took the weights
    assert same_outputs(model, upstream_entry)


def test_fit_names_problems_in_the_checkpoints_terms():
    expected = {
        "a.weight": torch.empty(2, 3),
        "bn.num_batches_tracked": torch.zeros((), dtype=torch.long),
        "b.bias": torch.empty(4),
    }
    fitted = fit_state_dict({"b.bias": torch.ones(4), "a.weight": torch.ones(2, 3)}, expected, what="x")
    assert list(fitted) == list(expected) and fitted["bn.num_batches_tracked"].item() == 0
    with pytest.raises(
        WeightsError,
        match=r"^ckpt: 1 missing keys: up\.b\.bias; 1 unexpected keys: up\.c; "
        r"1 tensors of another shape: up\.a\.weight \(3, 3\) \(model: \(2, 3\)\)$",
    ):
        fit_state_dict(
            {"a.weight": torch.ones(3, 3), "c": torch.ones(1)},
            expected,
            what="ckpt",
            checkpoint_name=lambda k: "up." + k,
        )


def test_transforms_take_the_resize_override(tiny):
    model = segzoo.create("tiny", num_classes=3)
    assert model.transforms().resize is None and model.transforms().mean == [0.485, 0.456, 0.406]
    assert model.transforms(override="32x48").resize == {"height": 32, "width": 48}
    assert model.transforms(override="40").resize == {"shorter_side": 40}
    with pytest.raises(SegzooError, match="--resize expects N or HxW"):
        model.transforms(override="12x")
