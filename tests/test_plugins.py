"""Plugin discovery through real entry points, in subprocesses, as a user's environment would see them.

Each test writes a tiny distribution (module + ``*.dist-info`` with ``entry_points.txt``) into a folder on
PYTHONPATH, which is what pip leaves in site-packages, and runs the real ``segzoo`` CLI against it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from segzoo._registry import Entry, Registry
from segzoo.errors import NameClashError


def demo_entry(arch: str, dist: str) -> dict:
    return {
        "name": f"{arch}-demo",
        "architecture": arch,
        "encoder": "resnet18",
        "requires": dist,
        "num_classes": 2,
        "class_names": ["background", "thing"],
        "preprocessing": {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]},
        "dataset": {"train": "none", "eval": "none"},
        "metrics": {"values": {}, "source": "n/a"},
        "license": "MIT",
        "paper": {"title": "t", "url": "https://example.org"},
        "weights": {
            "format": "segzoo",
            "hub": {"repo_id": f"demo/{arch}", "filename": "model.safetensors", "revision": "main"},
            "sha256": None,
        },
    }


def good_plugin(arch: str, dist: str) -> str:
    return f"""
import json
import segzoo
from tiny_plugin import build_tiny

SEGZOO_PLUGIN_API = 1

@segzoo.hookimpl
def register_architectures(register):
    register("{arch}", build_tiny, default_encoder="resnet18", description="from {dist}")

@segzoo.hookimpl
def register_catalog(register):
    register("{arch}-demo", json.loads({json.dumps(demo_entry(arch, dist))!r}))
"""


def make_dist(site: Path, dist: str, module: str, source: str, *, ep_name: str | None = None) -> None:
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[segzoo]\n{ep_name or module} = {module}\n")


def segzoo_cli(site: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    tests_dir = Path(__file__).parent
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SEGZOO_")}
    environ.update(PYTHONPATH=os.pathsep.join([str(site), str(tests_dir)]), **env)
    return subprocess.run(
        [sys.executable, "-m", "segzoo.cli", *args], capture_output=True, text=True, env=environ, timeout=120
    )


def python(site: Path, code: str, **env: str) -> subprocess.CompletedProcess:
    tests_dir = Path(__file__).parent
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SEGZOO_")}
    environ.update(PYTHONPATH=os.pathsep.join([str(site), str(tests_dir)]), **env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environ, timeout=120)


def plugins_json(site: Path, **env: str) -> dict[str, dict]:
    result = segzoo_cli(site, "plugins", "--json", **env)
    assert result.returncode == 0, result.stderr
    return {p["package"]: p for p in json.loads(result.stdout)}


@pytest.fixture
def site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    make_dist(site, "segzoo-alpha", "segzoo_alpha", good_plugin("alpha", "segzoo-alpha"))
    return site


def test_installed_plugin_appears_in_plugins_and_list(site):
    plugins = plugins_json(site)
    alpha = plugins["segzoo-alpha"]
    assert alpha["status"] == "ok" and alpha["version"] == "1.2.3"
    assert alpha["registered"] == {"architectures": ["alpha"], "models": ["alpha-demo"]}
    listed = segzoo_cli(site, "list")
    assert listed.returncode == 0 and "alpha-demo" in listed.stdout


def test_plugin_that_raises_at_import_is_reported_and_others_keep_working(site):
    make_dist(site, "segzoo-broken", "segzoo_broken", "raise RuntimeError('boom at import')\n")
    plugins = plugins_json(site)
    assert plugins["segzoo-broken"]["status"] == "broken"
    assert plugins["segzoo-broken"]["error"] == "RuntimeError: boom at import"
    assert plugins["segzoo-alpha"]["status"] == "ok"
    table = segzoo_cli(site, "plugins")
    assert "segzoo-broken" in table.stdout and "boom at import" in table.stdout
    assert "segzoo-broken is broken" in table.stderr  # a warning, once, on stderr
    assert "alpha-demo" in segzoo_cli(site, "list").stdout


def test_plugin_that_raises_while_registering_contributes_nothing(site):
    make_dist(
        site,
        "segzoo-halfway",
        "segzoo_halfway",
        """
        import segzoo
        from tiny_plugin import build_tiny

        @segzoo.hookimpl
        def register_architectures(register):
            register("halfway", build_tiny)
            raise ValueError("registration failed")
    """,
    )
    plugins = plugins_json(site)
    assert plugins["segzoo-halfway"]["status"] == "broken"
    assert "registration failed" in plugins["segzoo-halfway"]["error"]
    assert plugins["segzoo-halfway"]["registered"] == {}


def test_same_name_from_two_third_party_packages_refuses_both(site):
    make_dist(site, "segzoo-beta", "segzoo_beta", good_plugin("alpha", "segzoo-beta"))
    plugins = plugins_json(site)
    for package in ("segzoo-alpha", "segzoo-beta"):  # neither order nor names decide: both are refused
        assert plugins[package]["status"] == "broken" and plugins[package]["registered"] == {}
        assert "'alpha' is registered by both 'segzoo-alpha' and 'segzoo-beta'" in plugins[package]["error"]
        assert "override=True" in plugins[package]["error"]


def test_environment_selects_plugins(site):
    make_dist(site, "segzoo-gamma", "segzoo_gamma", good_plugin("gamma", "segzoo-gamma"))
    none = plugins_json(site, SEGZOO_PLUGINS="none")
    assert {p["status"] for name, p in none.items() if name != "segzoo"} == {"disabled"}
    only = plugins_json(site, SEGZOO_PLUGINS="segzoo-gamma")
    assert only["segzoo-gamma"]["status"] == "ok" and only["segzoo-alpha"]["status"] == "disabled"
    skip = plugins_json(site, SEGZOO_DISABLE_PLUGINS="segzoo_alpha")  # entry-point name works too
    assert skip["segzoo-alpha"]["status"] == "disabled" and skip["segzoo-gamma"]["status"] == "ok"


def test_misspelt_hook_and_wrong_signature_are_reported(site):
    make_dist(
        site,
        "segzoo-typo",
        "segzoo_typo",
        """
        import segzoo

        @segzoo.hookimpl
        def register_architecture(register):
            pass
    """,
    )
    make_dist(
        site,
        "segzoo-badsig",
        "segzoo_badsig",
        """
        import segzoo

        @segzoo.hookimpl
        def register_losses(register, extra):
            pass
    """,
    )
    plugins = plugins_json(site)
    typo = "unknown hook 'register_architecture' (did you mean 'register_architectures'?)"
    assert typo in plugins["segzoo-typo"]["error"]
    assert plugins["segzoo-badsig"]["status"] == "broken" and "extra" in plugins["segzoo-badsig"]["error"]


def test_plugin_for_a_newer_api_is_skipped_with_upgrade_advice(site):
    make_dist(site, "segzoo-future", "segzoo_future", "SEGZOO_PLUGIN_API = 99\n")
    future = plugins_json(site)["segzoo-future"]
    assert future["status"] == "incompatible" and "upgrade segzoo" in future["error"]


def test_catalog_entry_without_its_plugin_says_what_to_install(site, tmp_path):
    catalog = tmp_path / "extra.json"
    entry = demo_entry("omega", "segzoo-omega")
    catalog.write_text(json.dumps({"schema_version": 1, "models": [entry]}))
    env = {"SEGZOO_REGISTRY": str(catalog)}
    code = "import segzoo; segzoo.load('{}')"
    not_installed = python(site, code.format("omega-demo"), **env)
    assert (
        not_installed.stderr.strip()
        .splitlines()[-1]
        .endswith(
            "model 'omega-demo' needs architecture 'omega', provided by 'segzoo-omega', which is not installed: "
            "pip install segzoo-omega"
        )
    )
    listed = segzoo_cli(site, "list", "omega-*", **env)
    assert "pip install segzoo-omega" in listed.stdout
    disabled = python(site, code.format("alpha-demo"), SEGZOO_DISABLE_PLUGINS="segzoo-alpha")
    assert "unknown model 'alpha-demo'" in disabled.stderr  # the entry came with the disabled plugin
    make_dist(site, "segzoo-broken", "segzoo_broken", "raise ImportError('needs libfoo')\n")
    broken_entry = demo_entry("broken", "segzoo-broken")
    catalog.write_text(json.dumps({"schema_version": 1, "models": [broken_entry]}))
    broken = python(site, code.format("broken-demo"), **env)
    assert "provided by 'segzoo-broken', which is installed but broken: ImportError: needs libfoo" in broken.stderr


def test_discovering_the_installed_plugins_stays_cheap():
    """`segzoo list` and friends must not pay for torch: plugins import their models when first built."""
    code = (
        "import sys, segzoo; segzoo.list_models(); segzoo.list_architectures(); segzoo.list_losses(); "
        "segzoo.list_datasets(); print([m for m in ('torch', 'timm') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_import_segzoo_does_not_import_heavy_dependencies():
    code = (
        "import sys, segzoo; "
        "print(sorted(m for m in ('torch', 'timm', 'torchvision', 'huggingface_hub') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert json.loads(out.replace("'", '"')) == []


def test_registry_clash_and_override_in_process():
    reg = Registry("loss")
    reg.add(Entry("dice", object(), "segzoo-losses", "losses"))
    with pytest.raises(NameClashError, match="'segzoo-losses' and 'segzoo-other'"):
        reg.add(Entry("dice", object(), "segzoo-other", "other"))
    mine = object()
    reg.add(Entry("dice", mine, "segzoo-other", "other"), override=True)
    assert reg.get("dice").obj is mine and reg.get("dice").provider == "segzoo-other"
