"""Each first-party plugin works on its own: loaded alone, it builds what it registers without importing another
plugin, and its catalog entries name it as the package to install."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import segzoo

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = sorted(p.name for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").is_file())

CHECK = r"""
import json, sys, torch, segzoo
from segzoo._plugins import registries
regs = registries()
plugin = regs.plugin(sys.argv[1])
assert plugin is not None and plugin.status == "ok", plugin
built = []
for name in plugin.registered.get("architectures", []):
    with torch.device("meta"):
        segzoo.create(name, num_classes=3)
    built.append(name)
for name in plugin.registered.get("losses", []):
    segzoo.create_loss(name, **({"losses": {"cross_entropy": 1.0}} if name == "combined" else {}))
others = sorted({m.split(".")[0] for m in sys.modules if m.startswith("segzoo_")} - set(sys.argv[2].split(",")))
print(json.dumps({"built": built, "other_plugins_imported": others}))
"""


def _first_party_requirements(dist: str) -> list[str]:
    """The first-party plugins ``dist`` declares as dependencies (segzoo-ocrnet: segzoo-hrnet's encoders)."""
    from importlib.metadata import requires

    names = {re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0] for r in requires(dist) or []}
    return sorted(names & set(PLUGINS))


@pytest.mark.parametrize("dist", PLUGINS)
def test_plugin_works_alone(dist):
    """Alone, or with only the first-party plugins it depends on."""
    loaded = [dist, *_first_party_requirements(dist)]
    packages = ",".join(d.replace("-", "_") for d in loaded)
    env = {"SEGZOO_PLUGINS": ",".join(loaded), "PATH": "/usr/bin:/bin"}
    run = subprocess.run(
        [sys.executable, "-c", CHECK, dist, packages], capture_output=True, text=True, env=env, timeout=300
    )
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["other_plugins_imported"] == []


def test_catalog_entries_name_an_existing_first_party_package():
    for name in segzoo.list_models():
        entry = segzoo.info(name)
        if entry["provided_by"] == "segzoo":
            assert entry["requires"] in PLUGINS, f"{name} requires {entry['requires']}, which is not in plugins/"
            pyproject = (ROOT / "plugins" / entry["requires"] / "pyproject.toml").read_text()
            assert "[project.entry-points.segzoo]" in pyproject
