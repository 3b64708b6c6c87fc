"""The import layers of docs/architecture.md hold: import-linter's contracts (.importlinter) pass, and CI runs them."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_import_linter():
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"<!-- test-command -->\n```\n(.+?)\n```", readme, re.S).group(1)
    assert "lint-imports" in command.split("pytest")[0], "the README's test command must lint imports before pytest"
    config = (ROOT / ".importlinter").read_text()
    assert "type = layers" in config and "type = acyclic_siblings" in config


@pytest.mark.slow
def test_import_contracts_are_kept():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint is None:
        pytest.skip("import-linter is not installed (pip install -e .[test])")
    result = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout
