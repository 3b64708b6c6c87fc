"""The checks of a catalog entry, and publishing its weights on a local Hub to load it by name."""

from __future__ import annotations

import hashlib
import io
import json
import math
from typing import TYPE_CHECKING
from unittest import SkipTest

import torch
from huggingface_hub import constants
from safetensors.torch import save

import segzoo
from segzoo._catalog import validate_entry
from segzoo.errors import SegzooError
from segzoo.hub import loading
from segzoo.testing._checks.base import Check, expect_logits, quiet, registries
from segzoo.testing.hub import sandbox

if TYPE_CHECKING:  # pragma: no cover
    from segzoo.nn.model import SegmentationModel
    from segzoo.testing.hub_server import HubServer

__all__ = ["catalog_checks", "check_hub_entry", "publish_entry_weights"]


def _entry(entry_or_name: dict | str) -> dict:
    if isinstance(entry_or_name, dict):
        return entry_or_name
    return registries().models.get(entry_or_name).obj


def catalog_checks(entry_or_name: dict | str, *, build: bool = True, hub: bool = True) -> list[Check]:
    """The checks of a catalog entry (a dict, or a registered name).

    ``schema``: valid against the registry schema; ``architecture``: registered, and ``requires`` names the package
    that provides it or its converter; ``converter``: one exists for the weights format; ``preprocessing``: one mean
    and std per input channel; ``build`` (optional): the model built without weights has ``num_classes`` outputs for
    ``in_channels`` inputs; ``hub`` (optional, Hub-hosted ``"segzoo"``-format weights): random weights published
    where the entry says on a local Hub server load by name (:func:`check_hub_entry` in
    :func:`segzoo.testing.hub.sandbox`).
    """
    entry = _entry(entry_or_name)
    name = str(entry.get("name", "?"))

    def schema() -> None:
        try:
            validate_entry(entry, "the catalog entry")
        except SegzooError as err:
            raise AssertionError(str(err)) from None

    def architecture() -> None:
        regs = registries()
        arch = entry["architecture"]
        assert arch in regs.architectures, (
            f"architecture {arch!r} is not registered; is {entry['requires']!r} installed? (segzoo plugins)"
        )
        providers = {regs.architectures.get(arch).provider}
        fmt = entry["weights"]["format"]
        for key in (f"{fmt}:{arch}", fmt):
            if key in regs.converters:
                providers.add(regs.converters.get(key).provider)
        assert entry["requires"] in providers, (
            f"requires={entry['requires']!r}, but {arch!r} and its converter come from {sorted(providers)}"
        )

    def converter() -> None:
        loading.converter_for(entry)

    def preprocessing() -> None:
        pre, channels = entry["preprocessing"], entry.get("in_channels", 3)
        assert len(pre["mean"]) == len(pre["std"]) == channels, (
            f"preprocessing mean/std have {len(pre['mean'])}/{len(pre['std'])} values for {channels} channels"
        )

    def built() -> None:
        regs, channels = registries(), entry.get("in_channels", 3)
        with torch.random.fork_rng(devices=[]), quiet():
            torch.manual_seed(0)
            registered = name in regs.models and regs.models.get(name).obj is entry
            model = (
                segzoo.load(name, pretrained=False)
                if registered
                else segzoo.create(
                    entry["architecture"],
                    encoder=entry["encoder"],
                    num_classes=entry["num_classes"],
                    in_channels=channels,
                    **entry.get("options", {}),
                )
            )
        assert model.num_classes == entry["num_classes"], f"model has {model.num_classes} classes"
        d = model.input_divisor
        size = (d * math.ceil(64 / d),) * 2
        with torch.no_grad():
            expect_logits(
                model.eval()(torch.randn(1, channels, *size)),
                1,
                entry["num_classes"],
                size,
                "the model built without weights",
            )

    def from_hub() -> None:
        weights = entry.get("weights", {})
        if "hub" not in weights:
            raise SkipTest("the weights are not on the Hugging Face Hub")
        if weights.get("format") != "segzoo":
            raise SkipTest(
                f"{weights.get('format')!r} weights: publish a state dict in that layout with "
                "check_hub_entry(server, name, state_dict=...)"
            )
        with sandbox() as server:
            check_hub_entry(server, entry_or_name)

    checks = [
        Check("catalog", name, "schema", schema),
        Check("catalog", name, "architecture", architecture),
        Check("catalog", name, "converter", converter),
        Check("catalog", name, "preprocessing", preprocessing),
    ]
    if build:
        checks.append(Check("catalog", name, "build", built))
    if hub:
        checks.append(Check("catalog", name, "hub", from_hub))
    return checks


def publish_entry_weights(
    server: HubServer, entry_or_name: dict | str, *, state_dict: dict[str, torch.Tensor] | None = None, seed: int = 0
) -> tuple[dict, dict[str, torch.Tensor]]:
    """Publish weights for a Hub-hosted catalog entry on a local :class:`HubServer`, where the entry says.

    ``state_dict``: the file's tensors in the entry's weights ``format``; default (format ``"segzoo"`` only) the
    state of a freshly built, randomly initialised model. Returns ``(entry, state_dict)``: the entry as published,
    which is the original unless it pins a sha256 or a commit id (random weights cannot match those: the copy has
    the published file's sha256 and commit instead).
    """
    entry = _entry(entry_or_name)
    weights = entry["weights"]
    if "hub" not in weights:
        raise ValueError(f"{entry['name']!r} has URL weights, not Hub weights")
    hub = weights["hub"]
    if state_dict is None:
        if weights["format"] != "segzoo":
            raise ValueError(f"{entry['name']!r} has {weights['format']!r} weights: pass state_dict= in that layout")
        with torch.random.fork_rng(devices=[]), quiet():
            torch.manual_seed(seed)
            model = segzoo.create(
                entry["architecture"],
                encoder=entry["encoder"],
                num_classes=entry["num_classes"],
                in_channels=entry.get("in_channels", 3),
                **entry.get("options", {}),
            )
        state_dict = model.state_dict()
    state_dict = {k: v.detach().clone().contiguous() for k, v in state_dict.items()}
    if hub["filename"].endswith((".pth", ".pt", ".bin", ".ckpt")):
        buffer = io.BytesIO()
        torch.save(state_dict, buffer)
        data = buffer.getvalue()
    else:
        data = save(state_dict)
    revision = hub["revision"]
    is_commit = len(revision) == 40 and all(c in "0123456789abcdef" for c in revision)
    server.create_repo(hub["repo_id"], exist_ok=True)
    branch = "main" if is_commit or revision == "main" else revision
    if branch != "main" and branch not in _branches(server, hub["repo_id"]):
        server.create_branch(hub["repo_id"], branch)
    commit = server.commit(
        hub["repo_id"], {hub["filename"]: data}, branch=branch, message=f"segzoo.testing: weights for {entry['name']}"
    )
    sha = hashlib.sha256(data).hexdigest()
    if is_commit or (weights.get("sha256") and not sha.startswith(weights["sha256"])):
        entry = json.loads(json.dumps(entry))
        entry["weights"]["sha256"] = sha
        entry["weights"]["hub"]["revision"] = commit
    return entry, state_dict


def _branches(server: HubServer, repo_id: str) -> set[str]:
    try:
        return set(server._repos[repo_id].branches)  # noqa: SLF001 - HubServer has no public branch listing
    except (AttributeError, KeyError):
        return {"main"}


def check_hub_entry(
    server: HubServer, entry_or_name: dict | str, *, state_dict: dict[str, torch.Tensor] | None = None
) -> SegmentationModel:
    """Publish weights for a Hub-hosted catalog entry on ``server`` and check that loading it by name downloads
    them, verifies them, converts them and gives a model that runs. Returns the loaded model.

    Use with the ``hub_server`` fixture (``pytest_plugins = ["segzoo.testing.pytest_plugin"]``), which points
    ``huggingface_hub`` at the server. An entry that pins a sha256 or a commit is loaded from the published copy
    (see :func:`publish_entry_weights`) through the same code path as ``segzoo.load(name)``.
    """
    if constants.ENDPOINT.rstrip("/") != server.url:
        raise AssertionError(
            f"huggingface_hub talks to {constants.ENDPOINT}, not to the HubServer at {server.url}: "
            "use the hub_server fixture (segzoo.testing.pytest_plugin) or "
            "segzoo.testing.hub.sandbox()"
        )
    original = _entry(entry_or_name)
    entry, state = publish_entry_weights(server, original, state_dict=state_dict)
    server.clear_requests()
    filename = entry["weights"]["hub"]["filename"]
    regs = registries()
    name = original["name"]
    by_name = entry is original and name in regs.models and regs.models.get(name).obj is original
    with quiet():
        model = segzoo.load(entry["name"]) if by_name else loading.load_from_catalog(entry, pretrained=True)
    asked = [r for r in server.requests if filename in r.path]
    assert asked, f"loading {entry['name']!r} did not ask the HubServer for {filename}"
    assert model.num_classes == entry["num_classes"], f"loaded model has {model.num_classes} classes"
    if entry["weights"]["format"] == "segzoo":
        loaded = model.state_dict()
        differ = [k for k in state if k not in loaded or not torch.equal(loaded[k], state[k])]
        assert not differ, f"{len(differ)} tensors differ from the published ones, e.g. {differ[:3]}"
    d = model.input_divisor
    size = (d * math.ceil(64 / d),) * 2
    with torch.no_grad():
        expect_logits(
            model.eval()(torch.randn(1, entry.get("in_channels", 3), *size)),
            1,
            entry["num_classes"],
            size,
            f"{entry['name']!r} loaded from the Hub",
        )
    return model
