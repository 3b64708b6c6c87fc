"""``segzoo new-plugin``: the generated plugin builds, installs, is discovered, and passes its own tests.

The plugin is built as a wheel and installed with ``pip install --target`` into a temporary folder (never into
the shared virtualenv); subprocesses see it through ``PYTHONPATH``, as they would see site-packages.
"""

from __future__ import annotations

import json
import re

import pytest

from segzoo.errors import SegzooError
from segzoo.newplugin import new_plugin, template_tokens
from segzoo.testing._install import install_wheel, run


def _install(tmp_path_factory, **options):
    tmp = tmp_path_factory.mktemp("newplugin")
    source = new_plugin("demo-thing", tmp / "src", **options)
    site = tmp / "site"
    project = install_wheel(source, site, tmp / "work")
    return {"source": source, "site": site, "project": project}


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    return _install(tmp_path_factory)


@pytest.fixture(scope="module")
def own_encoder(tmp_path_factory):
    return _install(tmp_path_factory, own_encoder=True)


def _run_own_tests(installed) -> str:
    # one torch thread: the machine's cores are shared with the other pytest workers
    result = run(
        ["pytest", "-q", "-rs", "-p", "no:cacheprovider"],
        installed["site"],
        cwd=installed["project"],
        OMP_NUM_THREADS="1",
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert "skipped" not in result.stdout and "failed" not in result.stdout, result.stdout[-3000:]
    return result.stdout


def test_generated_files(installed):
    source = installed["source"]
    files = sorted(p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file())
    assert files == [
        ".gitignore",
        "README.md",
        "conftest.py",
        "pyproject.toml",
        "segzoo_demo_thing/__init__.py",
        "segzoo_demo_thing/dataset.py",
        "segzoo_demo_thing/loss.py",
        "segzoo_demo_thing/model.py",
        "segzoo_demo_thing/plugin.py",
        "tests/test_segzoo_demo_thing.py",
    ]
    text = "\n".join(p.read_text() for p in source.rglob("*") if p.is_file())
    assert not re.search(r"\{\{ *(\w+|if [\w ]+|end) *\}\}", text), "a placeholder or option marker was left"
    pyproject = (source / "pyproject.toml").read_text()
    assert '[project.entry-points.segzoo]\ndemo-thing = "segzoo_demo_thing.plugin"' in pyproject
    plugin = (source / "segzoo_demo_thing" / "plugin.py").read_text()
    assert "SEGZOO_PLUGIN_API = 1" in plugin
    assert '"segzoo_demo_thing.model:build_demo_thing"' in plugin  # lazy factories: no model import at discovery
    assert "import torch" not in plugin and "from segzoo_demo_thing" not in plugin
    assert "register_encoders" not in plugin


def test_generated_plugin_is_discovered_and_listed(installed):
    result = run(["segzoo.cli", "plugins", "--json"], installed["site"])
    assert result.returncode == 0, result.stderr
    plugin = {p["package"]: p for p in json.loads(result.stdout)}["segzoo-demo-thing"]
    assert plugin["status"] == "ok", plugin["error"]
    assert plugin["registered"] == {
        "architectures": ["demo-thing"],
        "losses": ["demo-thing-dice"],
        "datasets": ["demo-thing-shapes"],
        "models": ["demo-thing-resnet18-shapes"],
    }
    listed = run(["segzoo.cli", "list", "--json", "demo-thing-*"], installed["site"])
    assert listed.returncode == 0, listed.stderr
    (entry,) = json.loads(listed.stdout)
    assert entry["name"] == "demo-thing-resnet18-shapes" and entry["available"]
    assert entry["provided_by"] == "segzoo-demo-thing"


def test_generated_plugin_passes_its_own_tests(installed):
    out = _run_own_tests(installed)
    # one item per contract check: discovery 1, architecture 11, loss 1 + 2 modes, dataset 4, catalog entry 6
    assert re.search(r"\b25 passed", out), out[-2000:]


@pytest.mark.slow  # one more wheel built and installed (~15 s)
def test_a_catalog_file_in_the_package_travels_in_the_wheel(tmp_path):
    """plugins.md: entries may ship as ``<package>/segzoo-catalog.json``; the template's package-data rule puts the
    file in the wheel, without which the installed plugin's entries would silently be missing."""
    source = new_plugin("demo-thing", tmp_path / "src")
    entry = {
        "name": "demo-thing-from-file",
        "architecture": "demo-thing",
        "encoder": "resnet18",
        "requires": "segzoo-demo-thing",
        "num_classes": 3,
        "class_names": ["background", "circle", "square"],
        "preprocessing": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
        "dataset": {"train": "demo-thing-shapes", "eval": "demo-thing-shapes", "eval_split": "val"},
        "metrics": {"values": {}, "source": "a test"},
        "license": "Apache-2.0",
        "paper": {"title": "none", "url": "https://example.org"},
        "weights": {
            "format": "segzoo",
            "sha256": None,
            "hub": {
                "repo_id": "your-hf-user/demo-thing-from-file",
                "filename": "model.safetensors",
                "revision": "main",
            },
        },
    }
    catalog = {"schema_version": 1, "models": [entry]}
    (source / "segzoo_demo_thing" / "segzoo-catalog.json").write_text(json.dumps(catalog))
    site = tmp_path / "site"
    install_wheel(source, site, tmp_path / "work")
    assert (site / "segzoo_demo_thing" / "segzoo-catalog.json").is_file()
    listed = run(["segzoo.cli", "list", "--json", "demo-thing-*"], site)
    assert listed.returncode == 0, listed.stderr
    names = {e["name"]: e for e in json.loads(listed.stdout)}
    assert set(names) == {"demo-thing-from-file", "demo-thing-resnet18-shapes"}
    assert names["demo-thing-from-file"]["provided_by"] == "segzoo-demo-thing"


@pytest.mark.slow  # a second generated plugin through its whole contract (~40 s on 2 busy cores)
def test_own_encoder_plugin_passes_its_own_tests(own_encoder):
    source = own_encoder["source"]
    assert (source / "segzoo_demo_thing" / "encoder.py").is_file()
    plugin = (source / "segzoo_demo_thing" / "plugin.py").read_text()
    assert '"segzoo_demo_thing.encoder:build_encoder"' in plugin and 'default_encoder="demo-thing-convnet"' in plugin
    assert not re.search(r"\{\{", plugin + (source / "README.md").read_text())
    out = _run_own_tests(own_encoder)
    assert re.search(r"\b26 passed", out), out[-2000:]  # the encoder's own check on top of the 25


def test_own_encoder_plugin_registers_its_encoder(own_encoder):
    result = run(["segzoo.cli", "plugins", "--json"], own_encoder["site"])
    assert result.returncode == 0, result.stderr
    plugin = {p["package"]: p for p in json.loads(result.stdout)}["segzoo-demo-thing"]
    assert plugin["status"] == "ok", plugin["error"]
    assert plugin["registered"]["encoders"] == ["demo-thing-convnet"]
    assert plugin["registered"]["models"] == ["demo-thing-convnet-shapes"]


def test_names_and_existing_folders_are_checked(tmp_path):
    assert template_tokens("segzoo-my-net")["package"] == "segzoo_my_net"
    assert template_tokens("my-net")["Class"] == "MyNet"
    assert template_tokens("my-net", own_encoder=True)["encoder"] == "my-net-convnet"
    for bad in ("My_Net", "1net", "net-", "a--b", ""):
        with pytest.raises(SegzooError, match="lower case"):
            template_tokens(bad)
    new_plugin("again", tmp_path)
    with pytest.raises(SegzooError, match="not empty"):
        new_plugin("again", tmp_path)


@pytest.mark.parametrize("own_encoder", [False, True])
def test_generated_plugins_import_only_public_segzoo_modules(tmp_path, own_encoder):
    from test_public_api import private_uses, public_modules

    source = new_plugin("pub-check", tmp_path, own_encoder=own_encoder)
    public = public_modules()
    problems = [p for path in sorted(source.rglob("*.py")) for p in private_uses(path, public)]
    assert not problems, problems
