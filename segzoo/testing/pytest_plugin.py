"""pytest fixtures that run the real ``huggingface_hub`` client against a local :class:`HubServer`.

Enable with ``pytest_plugins = ["segzoo.testing.pytest_plugin"]`` in a top-level ``conftest.py``. Importing this
module registers nothing global: every change is made per test through ``monkeypatch`` and undone afterwards.

Why the patching is needed: ``huggingface_hub`` reads ``HF_ENDPOINT``, ``HF_HOME``, ``HF_HUB_CACHE``,
``HF_HUB_OFFLINE``... into ``huggingface_hub.constants`` once, at import time, and a few modules copy values again
(``hf_api.api``, the module-level ``HfApi`` behind ``huggingface_hub.model_info`` & co., keeps its endpoint). So
the fixtures set the environment variables (for subprocesses such as the ``segzoo`` CLI) *and* patch the values the
in-process client consults at call time.

Fixtures:

* ``hf_env`` -> :class:`HfEnv`: isolated client state: per-test ``HF_HOME``/cache, no token, no telemetry, no Xet,
  online, and retries without backoff waits (an unreachable Hub otherwise costs ~23 s of ``time.sleep`` per
  uncached download). Does not choose an endpoint.
* ``hub_server`` -> :class:`~segzoo.testing.hub_server.HubServer`: a started server that ``hf_env`` points the
  client at; stopped after the test (which fails if the server had an internal error). Use ``hf_env.offline()``
  to switch the client to offline mode.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import huggingface_hub
import pytest
from huggingface_hub import constants, hf_api

from segzoo.testing.hub_server import HubServer

__all__ = ["HfEnv", "hf_env", "hub_server"]

# Environment variables that would make the client or a subprocess leave the sandbox (real token, staging Hub,
# legacy cache location, offline switch under another name).
_UNSET_ENV = (
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "HF_TOKEN_PATH",
    "HF_OIDC_RESOURCE",
    "HUGGINGFACE_CO_STAGING",
    "HUGGINGFACE_HUB_CACHE",
    "HUGGINGFACE_ASSETS_CACHE",
    "HF_ASSETS_CACHE",
    "HF_XET_CACHE",
    "TRANSFORMERS_OFFLINE",
    "HF_ENDPOINT",
    "SEGZOO_CACHE",  # segzoo's own cache (converted weights) then lives beside the sandboxed HF cache
)


@dataclass
class HfEnv:
    """Where the sandboxed ``huggingface_hub`` client keeps its files, and switches for the current test."""

    hf_home: Path
    cache_dir: Path  # HF_HUB_CACHE: <cache_dir>/models--org--name/{blobs,refs,snapshots}
    monkeypatch: pytest.MonkeyPatch = field(repr=False)
    endpoint: str | None = None

    @classmethod
    def create(cls, monkeypatch: pytest.MonkeyPatch, hf_home: Path, *, instant_retries: bool = True) -> HfEnv:
        """Isolate the in-process client and the environment of subprocesses under ``hf_home``.

        ``instant_retries``: keep huggingface_hub's retries but skip their backoff sleeps (in-process only).
        """
        hf_home = Path(hf_home)
        cache_dir = hf_home / "hub"
        cache_dir.mkdir(parents=True, exist_ok=True)
        for name in _UNSET_ENV:
            monkeypatch.delenv(name, raising=False)
        for name, value in {
            "HF_HOME": str(hf_home),
            "HF_HUB_CACHE": str(cache_dir),
            "HF_HUB_OFFLINE": "0",
            "HF_HUB_DISABLE_TELEMETRY": "1",  # no telemetry pings, no agent-registry fetch in the user agent
            "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",  # never read (or OAuth-refresh) a developer's stored token
            "HF_HUB_DISABLE_XET": "1",  # uploads would go to Xet whenever hf_xet is installed; HubServer has none
            "HF_HUB_DISABLE_UPDATE_CHECK": "1",
        }.items():
            monkeypatch.setenv(name, value)

        # Paths derived from HF_HOME at import time (token files included, so no real token is ever found).
        for name, path in {
            "HF_HOME": hf_home,
            "HF_HUB_CACHE": cache_dir,
            "HUGGINGFACE_HUB_CACHE": cache_dir,
            "HF_ASSETS_CACHE": hf_home / "assets",
            "HUGGINGFACE_ASSETS_CACHE": hf_home / "assets",
            "HF_XET_CACHE": hf_home / "xet",
            "HF_TOKEN_PATH": hf_home / "token",
            "HF_STORED_TOKENS_PATH": hf_home / "stored_tokens",
            "AGENT_HARNESSES_PATH": hf_home / ".agent_harnesses.json",
            "CHECK_FOR_UPDATE_DONE_PATH": hf_home / ".check_for_update_done",
        }.items():
            monkeypatch.setattr(constants, name, str(path), raising=False)
        # Switches read at call time (is_offline_mode() returns constants.HF_HUB_OFFLINE).
        for name, flag in {
            "HF_HUB_OFFLINE": False,
            "HF_HUB_DISABLE_TELEMETRY": True,
            "HF_HUB_DISABLE_IMPLICIT_TOKEN": True,
            "HF_HUB_DISABLE_XET": True,
            "HF_HUB_DISABLE_UPDATE_CHECK": True,
        }.items():
            monkeypatch.setattr(constants, name, flag, raising=False)
        # Modules that copied a cache path with `from ..constants import X`.
        _patch_module_attr(monkeypatch, "huggingface_hub.utils._cache_manager", "HF_HUB_CACHE", str(cache_dir))
        assets = str(hf_home / "assets")
        _patch_module_attr(monkeypatch, "huggingface_hub.utils._cache_assets", "HF_ASSETS_CACHE", assets)
        if instant_retries:
            for module in ("huggingface_hub.utils._http", "huggingface_hub.file_download"):
                with contextlib.suppress(ImportError):
                    if getattr(importlib.import_module(module), "time", None) is time:
                        _patch_module_attr(monkeypatch, module, "time", _NoWaitTime())
        return cls(hf_home=hf_home, cache_dir=cache_dir, monkeypatch=monkeypatch)

    def use_endpoint(self, url: str) -> None:
        """Send every Hub request of this test (in-process and subprocesses) to ``url``."""
        url = url.rstrip("/")
        mp = self.monkeypatch
        mp.setenv("HF_ENDPOINT", url)
        mp.setattr(constants, "ENDPOINT", url)
        template = url + "/{repo_id}/resolve/{revision}/{filename}"
        mp.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)  # used by hf_hub_url()
        if "HUGGINGFACE_CO_URL_TEMPLATE" in vars(huggingface_hub):  # lazily re-exported copy, if already loaded
            mp.setattr(huggingface_hub, "HUGGINGFACE_CO_URL_TEMPLATE", template)
        host = urlsplit(url).hostname
        if host and isinstance(getattr(constants, "HF_URL_HOSTS", None), frozenset):
            mp.setattr(constants, "HF_URL_HOSTS", constants.HF_URL_HOSTS | {host})  # hf:// URL parsing
        mp.setattr(hf_api.api, "endpoint", url)  # the HfApi behind huggingface_hub.model_info(), create_repo()...
        file_system = sys.modules.get("huggingface_hub.hf_file_system")
        if file_system is not None:  # fsspec caches HfFileSystem instances, each bound to the endpoint it saw
            file_system.HfFileSystem.clear_instance_cache()
        self.endpoint = url

    def set_offline(self, offline: bool = True) -> None:
        """Switch the in-process client (and subprocesses started afterwards) to or from offline mode."""
        self.monkeypatch.setattr(constants, "HF_HUB_OFFLINE", offline)
        self.monkeypatch.setenv("HF_HUB_OFFLINE", "1" if offline else "0")

    @contextlib.contextmanager
    def offline(self) -> Iterator[None]:
        """Offline mode inside the ``with`` block: the client serves from the cache and sends no request."""
        previous = bool(constants.HF_HUB_OFFLINE)
        self.set_offline(True)
        try:
            yield
        finally:
            self.set_offline(previous)


class _NoWaitTime:
    """``time`` as seen by huggingface_hub's retry loops: the real module, except that ``sleep`` returns at once."""

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        """Backoff waits only pace retries against a real Hub; a local test server needs none."""


def _patch_module_attr(monkeypatch: pytest.MonkeyPatch, module: str, name: str, value: Any) -> None:
    with contextlib.suppress(ImportError):
        monkeypatch.setattr(importlib.import_module(module), name, value, raising=False)


@pytest.fixture
def hf_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> HfEnv:
    """Sandboxed huggingface_hub client state for one test (cache under ``tmp_path / "hf_home"``)."""
    return HfEnv.create(monkeypatch, tmp_path / "hf_home")


@pytest.fixture
def hub_server(hf_env: HfEnv) -> Iterator[HubServer]:
    """A running :class:`HubServer` that the in-process client and subprocesses talk to; stopped after the test.

    Fails the test if the server hit an internal error (HTTP 500), which would otherwise surface as a confusing
    client-side exception.
    """
    with HubServer() as server:
        hf_env.use_endpoint(server.url)
        yield server
    if server.errors:
        pytest.fail("HubServer internal error(s):\n" + "\n".join(server.errors), pytrace=False)
