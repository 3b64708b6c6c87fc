"""Pinned catalog entries: the pinned SegFormer entry through the transformers converter, ``segzoo catalog pin``
against the local Hub server, and what ``info`` says about entries that are not pinned."""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import os
import shutil

import pytest
import torch
import torch.nn.functional as F

import segzoo
from segzoo import _plugins, cli
from segzoo._catalog import packaged_catalog_path, read_catalog
from segzoo.errors import CatalogError, WeightsError

B0 = "segformer-b0-ade20k-512"
B0_REPO = "nvidia/segformer-b0-finetuned-ade-512-512"


def catalog_entry(name: str) -> dict:
    return copy.deepcopy(next(e for e in read_catalog(packaged_catalog_path()) if e["name"] == name))


def test_segformer_b0_is_pinned_to_the_confirmed_safetensors_file():
    weights = catalog_entry(B0)["weights"]
    assert weights["hub"] == {
        "repo_id": B0_REPO,
        "filename": "model.safetensors",
        "revision": "489d5cd81a0b59fab9b7ea758d3548ebe99677da",
    }
    assert weights["sha256"] == "6ae39addd01de6b1b8bde2cf677d43a5cd733424b8d186de3f95d1c51fee23f9"
    assert weights["size"] == 15_036_944
    info = segzoo.info(B0)
    assert info["pinned"] is True and "489d5cd81a0b" in info["pin_reason"]


def test_unpinned_entries_say_what_is_missing():
    unpinned = [
        e
        for e in read_catalog(packaged_catalog_path())
        if "hub" in e["weights"] and e["name"] != B0 and "segformer" in e["name"]
    ]
    assert unpinned, "the other SegFormer entries are not confirmed and stay unpinned"
    info = segzoo.info(unpinned[0]["name"])
    assert info["pinned"] is False
    assert "'main' is a branch or tag, not a commit" in info["pin_reason"]
    assert f"segzoo catalog pin {info['name']}" in info["pin_reason"]


@pytest.mark.slow
def test_pinned_segformer_entry_loads_a_transformers_safetensors_file(hub_server, tmp_path, monkeypatch):
    """The catalog path (download, verify, convert) for the pinned entry, with random weights in transformers'
    layout served by the local Hub at a commit and sha256 recorded like the real pin."""
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("segzoo_transformers")
    from segzoo.testing.parity import randomize_

    torch.manual_seed(0)
    reference = randomize_(transformers.SegformerForSemanticSegmentation(transformers.SegformerConfig(num_labels=150)))
    reference.save_pretrained(tmp_path / "upstream")
    blob = (tmp_path / "upstream" / "model.safetensors").read_bytes()
    hub_server.create_repo(B0_REPO)
    commit = hub_server.commit(
        B0_REPO, {"model.safetensors": blob, "config.json": (tmp_path / "upstream" / "config.json").read_bytes()}
    )
    entry = catalog_entry(B0)
    entry["name"] = "segformer-b0-served"
    entry["weights"].update(sha256=hashlib.sha256(blob).hexdigest(), size=len(blob))
    entry["weights"]["hub"]["revision"] = commit
    path = tmp_path / "served.json"
    path.write_text(json.dumps({"schema_version": 1, "models": [entry]}))
    monkeypatch.setenv("SEGZOO_REGISTRY", str(path))
    _plugins.reset()
    try:
        model = segzoo.load("segformer-b0-served")
        assert segzoo.info("segformer-b0-served")["pinned"] is True
    finally:
        _plugins.reset()
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        expected = F.interpolate(
            reference.eval()(pixel_values=x).logits, size=(64, 96), mode="bilinear", align_corners=False
        )
        assert (model(x) - expected).abs().max().item() <= 1e-4


# -- segzoo catalog pin ------------------------------------------------------------------------------------------------
B1 = "segformer-b1-ade20k-512"


@pytest.fixture
def catalog_copy(tmp_path):
    path = tmp_path / "registry.json"
    shutil.copy(packaged_catalog_path(), path)
    return path


def pin(*args: str) -> int:
    return cli.main(["catalog", "pin", *args])


def test_catalog_pin_writes_commit_sha256_and_size_and_nothing_else(hub_server, catalog_copy, capsys):
    repo = catalog_entry(B1)["weights"]["hub"]["repo_id"]
    blob = os.urandom(3000)  # a .bin is stored with LFS: the Hub advertises its sha256
    hub_server.create_repo(repo)
    commit = hub_server.commit(repo, {"pytorch_model.bin": blob})
    before = catalog_copy.read_text()
    assert pin(B1, "--catalog", str(catalog_copy)) == 0
    after = catalog_copy.read_text()
    weights = next(e for e in json.loads(after)["models"] if e["name"] == B1)["weights"]
    assert weights["hub"]["revision"] == commit
    assert weights["sha256"] == hashlib.sha256(blob).hexdigest() and weights["size"] == 3000
    changed = [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert sorted(changed) == sorted(
        [
            '-        "sha256": null,',
            f'+        "sha256": "{weights["sha256"]}",',
            '-          "revision": "main"',
            f'+          "revision": "{commit}"',
            "-        }",
            "+        },",
            '+        "size": 3000',
        ]
    )
    assert f"{B1}: pinned {repo}@{commit}" in capsys.readouterr().out
    assert pin(B1, "--catalog", str(catalog_copy)) == 0  # again: nothing to change
    assert catalog_copy.read_text() == after and "already pinned" in capsys.readouterr().out


def test_catalog_pin_small_git_file_is_hashed_from_its_content(hub_server, tmp_path):
    """A file below the LFS threshold has a git sha1 ETag: pin downloads it (checked) and hashes it."""
    entry = catalog_entry(B1)
    entry["weights"]["hub"] = {"repo_id": "someone/small", "filename": "weights.json", "revision": "main"}
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"schema_version": 1, "models": [entry]}, indent=4))
    hub_server.create_repo("someone/small")
    commit = hub_server.commit("someone/small", {"weights.json": b"{}"})
    assert pin(B1, "--catalog", str(path)) == 0
    pinned = json.loads(path.read_text())["models"][0]["weights"]
    assert pinned["sha256"] == hashlib.sha256(b"{}").hexdigest() and pinned["hub"]["revision"] == commit
    assert '\n                "sha256": "' in path.read_text(), "the file's own indentation (4) is kept"


def test_catalog_pin_refuses_what_it_cannot_do(hub_server, catalog_copy, capsys):
    before = catalog_copy.read_text()
    import argparse

    from segzoo.hub.cli import cmd_catalog_pin

    with pytest.raises(CatalogError, match=f"has no entry 'segformer-b1-ade20k-51'; did you mean '{B1}'"):
        cmd_catalog_pin(
            argparse.Namespace(names=["segformer-b1-ade20k-51"], catalog=str(catalog_copy), dry_run=False, json=False)
        )
    assert pin("segformer-b1-ade20k-51", "--catalog", str(catalog_copy)) == 1
    assert pin("deeplabv3-resnet50", "--catalog", str(catalog_copy)) == 1  # a URL entry never downloaded here
    assert pin(B1, "--catalog", str(catalog_copy)) == 1  # the repository does not exist on this Hub
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 3 and all(line.startswith("segzoo: error: ") for line in errors)
    assert "no full sha256 of https://download.pytorch.org/" in errors[1] and "segzoo download" in errors[1]
    assert "repository 'nvidia/segformer-b1-finetuned-ade-512-512' not found" in errors[2], errors[2]
    assert catalog_copy.read_text() == before


def test_catalog_pin_refuses_a_hash_that_contradicts_the_catalog(hub_server, tmp_path):
    from segzoo.hub.pinning import resolve_pin

    entry = catalog_entry(B1)
    entry["weights"]["sha256"] = "0" * 64
    hub_server.create_repo(entry["weights"]["hub"]["repo_id"])
    hub_server.commit(entry["weights"]["hub"]["repo_id"], {"pytorch_model.bin": b"x" * 100})
    with pytest.raises(WeightsError, match="contradicts the catalog's 0000"):
        resolve_pin(entry)


def test_url_entry_is_pinned_from_the_trust_store(hf_env, catalog_copy, capsys):
    from segzoo.hub import trust

    name = "deeplabv3-resnet50"
    weights = catalog_entry(name)["weights"]
    assert "trusted from then on" in segzoo.info(name)["pin_reason"]
    full = weights["sha256"] + hashlib.sha256(b"stand-in").hexdigest()[8:]
    trust.check_or_remember(weights["url"], full, what=name)  # what a first verified download records
    reason = segzoo.info(name)["pin_reason"]
    assert f"this machine trusts {full[:16]}" in reason and f"segzoo catalog pin {name}" in reason
    assert pin(name, "--catalog", str(catalog_copy)) == 0
    assert next(e for e in json.loads(catalog_copy.read_text())["models"] if e["name"] == name)["weights"] == {
        **weights,
        "sha256": full,
    }
    assert f"{name}: pinned {weights['url']} sha256 {full}" in capsys.readouterr().out
