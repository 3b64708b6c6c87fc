"""Installing a plugin project into a throwaway folder, as pip would, for tests that must not touch the venv.

``install_wheel`` builds a wheel of a project (from a copy, so the source tree gets no ``build/`` or
``*.egg-info``) and ``pip install --target``-s it; ``plugin_env`` is an environment whose ``PYTHONPATH`` puts that
folder first, so subprocesses (``segzoo`` CLI, ``pytest``) discover the plugin through its entry point.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

_IGNORE = shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__", ".pytest_cache")


def _pip(*args: str | Path) -> None:
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pip", *map(str, args)], capture_output=True, text=True, env=env, timeout=300
    )
    if result.returncode:
        raise RuntimeError(
            f"pip {' '.join(map(str, args[:2]))} failed:\n{result.stdout[-2000:]}{result.stderr[-4000:]}"
        )


def install_wheel(project: Path, site: Path, work: Path) -> Path:
    """Build ``project`` as a wheel (no dependencies, no build isolation: offline) and install it into ``site``.

    Returns the copy of the project that was built (under ``work``), whose tests can then be run.
    """
    project, site, work = Path(project).resolve(), Path(site).resolve(), Path(work).resolve()
    copy = work / project.name  # absolute: pip would read a bare name as a package to fetch from an index
    shutil.copytree(project, copy, ignore=_IGNORE)
    wheels = work / "wheels"
    _pip("wheel", "--no-deps", "--no-build-isolation", "--no-index", "--quiet", "--wheel-dir", wheels, copy)
    (wheel,) = wheels.glob("*.whl")
    _pip("install", "--no-deps", "--no-index", "--quiet", "--target", site, wheel)
    return copy


def plugin_env(site: Path, **extra: str) -> dict[str, str]:
    """This process's environment without ``SEGZOO_*`` settings, with ``site`` first on ``PYTHONPATH``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGZOO_") and k != "PYTEST_ADDOPTS"}
    env["PYTHONPATH"] = os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])])
    env.update(extra)
    return env


def run(
    args: list[str | Path], site: Path, *, cwd: Path | None = None, timeout: float = 600, **extra: str
) -> subprocess.CompletedProcess:
    """Run ``python -m <args>`` with ``site`` on the path; returns the completed process (output captured)."""
    return subprocess.run(
        [sys.executable, "-m", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=plugin_env(site, **extra),
        timeout=timeout,
    )
