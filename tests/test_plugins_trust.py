"""A plugin can never take a name by accident, faults in plugin code are reported by name, lazy factories.

Each test installs third-party plugins the way pip leaves them (a module plus a ``*.dist-info`` with
``entry_points.txt``) in a folder put on ``sys.path``, and runs the real discovery and the real ``segzoo`` CLI in
this process, next to the first-party plugins installed in the environment.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import segzoo
from segzoo import registry
from segzoo.cli import main
from segzoo.errors import NameClashError, PluginError, UnknownNameError
from test_plugins import make_dist

ROOT = Path(__file__).resolve().parents[1]


def arch_plugin(*names: str, override: bool = False, builder: str = "tiny_plugin:build_tiny") -> str:
    lines = "\n".join(
        f"    register({n!r}, {builder!r}, override={override}, default_encoder='resnet18')" for n in names
    )
    return f"import segzoo\n\n@segzoo.hookimpl\ndef register_architectures(register):\n{lines}\n"


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A folder on sys.path for fake-installed distributions; discovery is redone for each test."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    for var in ("SEGZOO_PLUGINS", "SEGZOO_DISABLE_PLUGINS", "SEGZOO_REGISTRY"):
        monkeypatch.delenv(var, raising=False)
    before = set(sys.modules)
    registry.reset()
    yield site
    registry.reset()
    for name in set(sys.modules) - before:  # the next test's modules of the same name must be imported afresh
        if name.startswith("segzoo_t_"):
            del sys.modules[name]


def status(package: str) -> tuple[str, str | None]:
    info = registry.plugin(package)
    assert info is not None, f"{package} not discovered"
    return info.status, info.error


@pytest.mark.parametrize("dist", ["segzoo-aaa-enet", "segzoo-zzz-enet"])  # sorts before / after every first-party
def test_third_party_cannot_take_a_first_party_name(site, dist):
    make_dist(site, dist, "segzoo_t_enet", arch_plugin("enet", "unet"))
    state, error = status(dist)
    assert state == "broken"
    assert f"'unet' is registered by both 'segzoo-unet' (first-party) and '{dist}'" in error
    assert "override=True" in error and "rename it" in error
    assert registry.get("architectures", "unet").provider == "segzoo-unet"
    assert {"unet", "unet-original"} <= set(registry.names("architectures"))
    assert "enet" not in registry.names("architectures")  # all or nothing
    assert status("segzoo-unet") == ("ok", None)
    assert segzoo.info("unet-mobilenetv3-camvid")["available"]


@pytest.mark.parametrize("dist", ["segzoo-aaa-enet", "segzoo-zzz-enet"])
def test_override_replaces_on_purpose_and_catalog_requires_is_checked(site, dist, capsys):
    # its entry point is named like segzoo-unet's: that decides nothing either
    make_dist(site, dist, "segzoo_t_enet", arch_plugin("unet", override=True), ep_name="unet")
    assert status(dist) == ("ok", None) and status("segzoo-unet") == ("ok", None)
    assert registry.get("architectures", "unet").provider == dist
    unet = registry.plugin("segzoo-unet")
    assert unet.replaced == {"architectures": {"unet": dist}} and "unet" not in unet.registered["architectures"]
    assert main(["plugins"]) == 0
    assert f"replaced by another package (architectures): unet by {dist}" in capsys.readouterr().out
    info = segzoo.info("unet-mobilenetv3-camvid")
    assert not info["available"] and info["unavailable"]["reason"] == "replaced"
    with pytest.raises(NameClashError) as caught:
        segzoo.load("unet-mobilenetv3-camvid", pretrained=False)
    message = str(caught.value)
    assert "\n" not in message
    assert f"needs architecture 'unet' from 'segzoo-unet', but '{dist}' replaced it" in message
    assert f"SEGZOO_DISABLE_PLUGINS={dist}" in message
    assert main(["list", "unet-mobilenetv3-camvid"]) == 0
    assert capsys.readouterr().out.splitlines()[2].endswith(f"replaced by {dist} (override=True)")


@pytest.mark.parametrize("names", [("segzoo-aaa", "segzoo-zzz"), ("segzoo-zzz", "segzoo-aaa")])
def test_third_party_clash_refuses_both_whatever_the_names(site, names):
    first, second = names
    make_dist(site, first, "segzoo_t_one", arch_plugin("enet", "one"))
    make_dist(site, second, "segzoo_t_two", arch_plugin("enet", "two"))
    for dist in names:
        state, error = status(dist)
        assert state == "broken" and "'enet' is registered by both 'segzoo-aaa' and 'segzoo-zzz'" in error
        assert "none of them says override=True" in error
    assert not {"enet", "one", "two"} & set(registry.names("architectures"))


@pytest.mark.parametrize("overriding", ["segzoo-aaa", "segzoo-zzz"])
def test_third_party_clash_goes_to_the_only_one_that_overrides(site, overriding):
    for dist, module in (("segzoo-aaa", "segzoo_t_one"), ("segzoo-zzz", "segzoo_t_two")):
        make_dist(
            site,
            dist,
            module,
            arch_plugin("enet", override=dist == overriding) + f"    register('{module}', 'tiny_plugin:build_tiny')\n",
        )
    assert status("segzoo-aaa") == status("segzoo-zzz") == ("ok", None)
    assert registry.get("architectures", "enet").provider == overriding
    assert {"segzoo_t_one", "segzoo_t_two"} <= set(registry.names("architectures"))


def test_two_overrides_of_one_name_refuse_both(site):
    make_dist(site, "segzoo-aaa", "segzoo_t_one", arch_plugin("enet", override=True))
    make_dist(site, "segzoo-zzz", "segzoo_t_two", arch_plugin("enet", override=True))
    for dist in ("segzoo-aaa", "segzoo-zzz"):
        state, error = status(dist)
        assert state == "broken" and "more than one says override=True" in error


@pytest.mark.parametrize("fault", ["raise SystemExit(3)", "import sys; sys.exit()", "raise KeyboardInterrupt"])
@pytest.mark.parametrize("where", ["import", "hook"])
def test_exit_and_interrupt_in_a_plugin_mark_it_broken(site, capsys, fault, where):
    source = (
        f"{fault}\n"
        if where == "import"
        else f"import segzoo\n\n@segzoo.hookimpl\ndef register_losses(register):\n    {fault}\n"
    )
    make_dist(site, "segzoo-quitter", "segzoo_t_quitter", source)
    assert main(["plugins", "--json"]) == 0  # the process goes on and prints its answer
    plugins = {p["package"]: p for p in json.loads(capsys.readouterr().out)}
    quitter = plugins["segzoo-quitter"]
    assert quitter["status"] == "broken"
    assert quitter["error"].startswith(
        "SystemExit: the plugin called sys.exit("
        if "exit" in fault.lower()
        else "KeyboardInterrupt: interrupted while segzoo loaded this plugin"
    )
    assert plugins["segzoo-unet"]["status"] == "ok"


def test_trace_shows_each_plugin_before_it_is_imported(site, capsys):
    make_dist(site, "segzoo-slow", "segzoo_t_slow", "import sys\nsys.stderr.write('IMPORTING SLOW\\n')\n")
    assert main(["plugins", "--trace"]) == 0
    err = capsys.readouterr().err.splitlines()
    announce = err.index("segzoo: importing segzoo-slow (segzoo_t_slow) ...")
    assert err[announce + 1] == "IMPORTING SLOW"
    assert err[announce + 2].startswith("segzoo:   segzoo-slow: imported in ")
    assert any(line.startswith("segzoo: importing segzoo-unet (") for line in err)


def test_lazy_factory_is_imported_on_first_use_and_a_bad_one_names_its_plugin(site):
    (site / "segzoo_t_lazy_model.py").write_text("from tiny_plugin import build_tiny as build\n")
    make_dist(
        site,
        "segzoo-lazy",
        "segzoo_t_lazy",
        arch_plugin("lazy", builder="segzoo_t_lazy_model:build")
        + "    register('gone', 'segzoo_t_missing.model:build', default_encoder='resnet18')\n",
    )
    assert registry.get("architectures", "lazy").raw == "segzoo_t_lazy_model:build"
    assert "segzoo_t_lazy_model" not in sys.modules  # discovery did not import it
    import tiny_plugin

    assert registry.get("architectures", "lazy").obj is tiny_plugin.build_tiny  # imported now
    assert "segzoo_t_lazy_model" in sys.modules
    with pytest.raises(PluginError) as caught:
        segzoo.create("gone", num_classes=2)
    assert str(caught.value).startswith(
        "architecture 'gone' of segzoo-lazy cannot be loaded from 'segzoo_t_missing.model:build': "
        "ModuleNotFoundError: No module named 'segzoo_t_missing'"
    )


@pytest.mark.parametrize("obj", ["'no colon here'", "42"])
def test_malformed_factory_breaks_the_plugin_at_registration(site, obj):
    make_dist(
        site,
        "segzoo-typo",
        "segzoo_t_typo",
        f"import segzoo\n\n@segzoo.hookimpl\ndef register_losses(register):\n    register('typo', {obj})\n",
    )
    state, error = status("segzoo-typo")
    assert state == "broken" and ("'package.module:function'" in error)
    assert "typo" not in registry.names("losses")


def test_unknown_name_errors_name_plugins_that_could_have_provided_it(site, monkeypatch):
    make_dist(site, "segzoo-refused", "segzoo_t_refused", arch_plugin("unet", "enet"))
    make_dist(site, "segzoo-crash", "segzoo_t_crash", "raise ImportError('needs libfoo')\n")
    # broken while registering datasets: it has no losses hook, so it cannot be the missing loss
    make_dist(
        site,
        "segzoo-baddata",
        "segzoo_t_baddata",
        "import segzoo\n\n@segzoo.hookimpl\ndef register_datasets(register):\n    raise RuntimeError('oops')\n",
    )
    with pytest.raises(UnknownNameError) as caught:
        segzoo.create("enet")
    assert "it would come from 'segzoo-refused', which is broken: NameClashError: " in str(caught.value)
    with pytest.raises(UnknownNameError) as caught:
        segzoo.create_loss("focal_tversky")
    assert (
        "installed plugins that are not loaded and could provide it: segzoo-crash (broken: ImportError: needs libfoo)"
    ) in str(caught.value)
    assert "segzoo-baddata" not in str(caught.value)
    with pytest.raises(UnknownNameError, match=r"segzoo-baddata \(broken: RuntimeError: oops\)"):
        segzoo.create_dataset("no-such-data", site)
    monkeypatch.setenv("SEGZOO_DISABLE_PLUGINS", "segzoo-losses")
    registry.reset()
    with pytest.raises(UnknownNameError, match=r"segzoo-losses \(disabled by SEGZOO_DISABLE_PLUGINS\)"):
        segzoo.create_loss("dice")


def test_list_says_broken_and_disabled_instead_of_pip_install(site, monkeypatch, capsys):
    monkeypatch.setenv("SEGZOO_DISABLE_PLUGINS", "segzoo-unet")
    assert main(["list", "unet-*"]) == 0
    rows = [row for row in capsys.readouterr().out.splitlines()[2:] if row.startswith("unet")]  # not the footnote
    assert rows and all(row.endswith("disabled by SEGZOO_DISABLE_PLUGINS: segzoo-unet") for row in rows)
    assert any(row.startswith("unet-mobilenetv3-camvid ") for row in rows)
    monkeypatch.delenv("SEGZOO_DISABLE_PLUGINS")
    make_dist(site, "segzoo-unet", "segzoo_t_fake_unet", "raise RuntimeError('half-installed')\n")
    # the fake distribution is first on sys.path, so it shadows the real segzoo-unet
    registry.reset()
    assert main(["list", "unet-*"]) == 0
    rows = [row for row in capsys.readouterr().out.splitlines()[2:] if row.startswith("unet")]
    assert rows and all(row.endswith("broken: segzoo-unet, see segzoo plugins") for row in rows)


def test_first_party_list_covers_every_plugin_in_the_repository():
    from segzoo._plugins import FIRST_PARTY

    shipped = {p.name for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").is_file()}
    assert shipped <= FIRST_PARTY, f"add {sorted(shipped - FIRST_PARTY)} to segzoo._plugins.FIRST_PARTY"


def shipped_catalog_plugin(site: Path, dist: str, package: str, source: str) -> None:
    """A plugin as a package (``package/__init__.py``) that ships ``segzoo-catalog.json``, as a wheel would."""
    from test_plugins import demo_entry

    make_dist(site, dist, package, "", ep_name=package)
    (site / f"{package}.py").unlink()
    (site / package).mkdir()
    (site / package / "__init__.py").write_text(source)
    entry = demo_entry("shipped", dist)
    (site / package / "segzoo-catalog.json").write_text(json.dumps({"schema_version": 1, "models": [entry]}))


@pytest.mark.parametrize("state", ["ok", "disabled", "broken"])
def test_a_shipped_catalog_file_lists_the_entries_of_a_plugin_that_did_not_load(site, monkeypatch, state):
    source = arch_plugin("shipped") if state != "broken" else "raise ImportError('needs libfoo')\n"
    shipped_catalog_plugin(site, "segzoo-shipper", "segzoo_t_shipper", source)
    if state == "disabled":
        monkeypatch.setenv("SEGZOO_DISABLE_PLUGINS", "segzoo-shipper")
    assert status("segzoo-shipper")[0] == state
    info = segzoo.info("shipped-demo")  # listed whatever the state, read without importing the plugin
    assert info["provided_by"] == "segzoo-shipper"
    if state == "ok":
        assert info["available"] and registry.plugin("segzoo-shipper").registered["models"] == ["shipped-demo"]
        return
    assert not info["available"] and info["unavailable"]["reason"] == state
    assert "segzoo_t_shipper" not in sys.modules or state == "broken"
    with pytest.raises(segzoo.errors.PluginNotInstalledError) as caught:
        segzoo.load("shipped-demo", pretrained=False)
    expected = "disabled by SEGZOO_DISABLE_PLUGINS" if state == "disabled" else "broken: ImportError: needs libfoo"
    assert f"provided by 'segzoo-shipper', which is installed but {expected}" in str(caught.value)
