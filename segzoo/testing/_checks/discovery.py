"""The check that discovering a plugin imports no torch (its hooks register lazy factories)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from segzoo.testing._checks.base import Check

__all__ = ["discovery_check"]

_DISCOVERY = """
import json, sys
import segzoo
from segzoo._plugins import registries
for listing in ("list_models", "list_architectures", "list_losses", "list_datasets"):
    getattr(segzoo, listing)()
info = registries().plugin(sys.argv[1])
print(json.dumps({"status": info and info.status, "error": info and info.error,
                  "heavy": sorted(m for m in ("torch", "timm", "torchvision") if m in sys.modules)}))
"""


def discovery_check(package: str, *, timeout: float = 120) -> Check:
    """``package``, alone with segzoo (``SEGZOO_PLUGINS``), is discovered without error and without importing torch.

    Why: every segzoo command discovers every installed plugin; a plugin whose hooks import its model modules makes
    ``segzoo list`` pay for ``import torch`` (1.5 s). Register ``"package.module:function"`` strings instead.
    Runs in a fresh Python process.
    """

    def run() -> None:
        env = {**os.environ, "SEGZOO_PLUGINS": package}
        env.pop("SEGZOO_DISABLE_PLUGINS", None)
        result = subprocess.run(
            [sys.executable, "-c", _DISCOVERY, package], capture_output=True, text=True, env=env, timeout=timeout
        )
        assert result.returncode == 0, f"discovery with only {package} failed: {result.stderr.strip()[-600:]}"
        found = json.loads(result.stdout.strip().splitlines()[-1])
        assert found["status"] == "ok", (
            f"{package} is {found['status']}: {found['error']}"
            if found["status"]
            else f"{package} is not installed (no entry point in the 'segzoo' group)"
        )
        assert not found["heavy"], (
            f"discovering {package} imported {', '.join(found['heavy'])}: register 'package.module:function' strings "
            "(resolved on first use) instead of importing model modules in the hooks or at module level"
        )

    return Check("plugin", package, "discovery", run)
