"""The example third-party plugin ``examples/segzoo-linknet``, installed the way a user would install it.

It is built as a wheel and installed with ``pip install --target`` into a temporary folder (never into the shared
virtualenv). Subprocesses see it through ``PYTHONPATH``; the in-process test puts the folder on ``sys.path`` and
rediscovers the plugins, then forgets them again.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import segzoo
from segzoo import _plugins
from segzoo.testing import contract
from segzoo.testing._install import install_wheel, run

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "segzoo-linknet"
ENTRY = "linknet-resnet18-demo"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("linknet")
    project = install_wheel(EXAMPLE, tmp / "site", tmp / "work")
    return {"site": tmp / "site", "project": project}


def test_example_is_listed_by_the_cli(installed):
    plugins = run(["segzoo.cli", "plugins", "--json"], installed["site"])
    assert plugins.returncode == 0, plugins.stderr
    info = {p["package"]: p for p in json.loads(plugins.stdout)}["segzoo-linknet"]
    assert info["status"] == "ok", info["error"]
    assert info["registered"] == {"architectures": ["linknet"], "models": [ENTRY]}
    listed = run(["segzoo.cli", "list", "--json", "linknet-*"], installed["site"])
    assert listed.returncode == 0, listed.stderr
    assert [(e["name"], e["available"]) for e in json.loads(listed.stdout)] == [(ENTRY, True)]
    architectures = run(["segzoo.cli", "architectures"], installed["site"])
    assert "linknet" in architectures.stdout and "segzoo-linknet" in architectures.stdout


def test_example_passes_its_own_contract_tests(installed):
    # one torch thread: the machine's cores are shared with the other pytest workers
    result = run(
        ["pytest", "-q", "-p", "no:cacheprovider"], installed["site"], cwd=installed["project"], OMP_NUM_THREADS="1"
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    # one item per contract check (discovery 1, linknet 11, catalog entry 6, linknet with convnext_atto 5), plus 2
    assert "25 passed" in result.stdout and "skipped" not in result.stdout, result.stdout[-2000:]


@pytest.fixture
def linknet_installed(installed, monkeypatch):
    monkeypatch.syspath_prepend(str(installed["site"]))
    for var in ("SEGZOO_PLUGINS", "SEGZOO_DISABLE_PLUGINS", "SEGZOO_REGISTRY"):
        monkeypatch.delenv(var, raising=False)
    _plugins.reset()
    assert "linknet" in segzoo.list_architectures()
    yield
    _plugins.reset()


def test_catalog_entry_downloads_by_name_from_a_local_hub(linknet_installed, hub_server):
    repo = segzoo.info(ENTRY)["weights"]["hub"]["repo_id"]
    model = contract.check_hub_entry(hub_server, ENTRY)  # random weights published at the entry's repo/revision
    assert hub_server.list_files(repo) == [".gitattributes", "model.safetensors"]
    again = segzoo.load(ENTRY)  # from the cache now
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x), again(x))
    assert model.predict(x).shape == (1, 64, 64)
