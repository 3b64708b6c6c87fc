"""``segzoo new-plugin``: the generated plugin builds, installs, is discovered, and passes its own tests.

The plugin is built as a wheel and installed with ``pip install --target`` into a temporary folder (never into
the shared virtualenv); subprocesses see it through ``PYTHONPATH``, as they would see site-packages.
"""

from __future__ import annotations

import json

import pytest

from segzoo.errors import SegzooError
from segzoo.newplugin import new_plugin, template_tokens
from segzoo.testing._install import install_wheel, run


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("newplugin")
    source = new_plugin("demo-thing", tmp / "src")
    site = tmp / "site"
    project = install_wheel(source, site, tmp / "work")
    return {"source": source, "site": site, "project": project}


def test_generated_files(installed):
    source = installed["source"]
    files = sorted(p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file())
    assert files == [
        ".gitignore", "README.md", "conftest.py", "pyproject.toml",
        "segzoo_demo_thing/__init__.py", "segzoo_demo_thing/dataset.py", "segzoo_demo_thing/loss.py",
        "segzoo_demo_thing/model.py", "segzoo_demo_thing/plugin.py", "tests/test_segzoo_demo_thing.py",
    ]
    text = "\n".join(p.read_text() for p in source.rglob("*") if p.is_file())
    assert "{{" not in text and "}}" not in text
    pyproject = (source / "pyproject.toml").read_text()
    assert '[project.entry-points.segzoo]\ndemo-thing = "segzoo_demo_thing.plugin"' in pyproject
    assert "SEGZOO_PLUGIN_API = 1" in (source / "segzoo_demo_thing" / "plugin.py").read_text()


def test_generated_plugin_is_discovered_and_listed(installed):
    result = run(["segzoo.cli", "plugins", "--json"], installed["site"])
    assert result.returncode == 0, result.stderr
    plugin = {p["package"]: p for p in json.loads(result.stdout)}["segzoo-demo-thing"]
    assert plugin["status"] == "ok", plugin["error"]
    assert plugin["registered"] == {
        "architectures": ["demo-thing"], "losses": ["demo-thing-dice"], "datasets": ["demo-thing-shapes"],
        "models": ["demo-thing-resnet18-shapes"],
    }
    listed = run(["segzoo.cli", "list", "--json", "demo-thing-*"], installed["site"])
    assert listed.returncode == 0, listed.stderr
    (entry,) = json.loads(listed.stdout)
    assert entry["name"] == "demo-thing-resnet18-shapes" and entry["available"]
    assert entry["provided_by"] == "segzoo-demo-thing"


def test_generated_plugin_passes_its_own_tests(installed):
    # one torch thread: the machine's cores are shared with the other pytest workers
    result = run(["pytest", "-q", "-p", "no:cacheprovider"], installed["site"], cwd=installed["project"],
                 OMP_NUM_THREADS="1")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert "5 passed" in result.stdout, result.stdout[-2000:]


def test_names_and_existing_folders_are_checked(tmp_path):
    assert template_tokens("segzoo-my-net")["package"] == "segzoo_my_net"
    assert template_tokens("my-net")["Class"] == "MyNet"
    for bad in ("My_Net", "1net", "net-", "a--b", ""):
        with pytest.raises(SegzooError, match="lower case"):
            template_tokens(bad)
    new_plugin("again", tmp_path)
    with pytest.raises(SegzooError, match="not empty"):
        new_plugin("again", tmp_path)
