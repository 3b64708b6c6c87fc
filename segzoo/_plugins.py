"""Plugin discovery and registration.

Plugins are found through the ``segzoo`` entry-point group the first time a registry is needed (never at
``import segzoo``). Each plugin is imported and registered in isolation: a plugin that fails to import, targets an
incompatible plugin API, implements unknown hooks, or raises while registering is recorded as broken with a one-line
cause, and everything it tried to register is dropped; the core and the other plugins are unaffected.

Environment:
  ``SEGZOO_PLUGINS``          unset: load all; ``none``: load none; ``a,b``: load only these (entry-point or
                              package names).
  ``SEGZOO_DISABLE_PLUGINS``  ``a,b``: skip these, e.g. to recover from a plugin that breaks start-up.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any

import pluggy

from segzoo import hookspecs
from segzoo._registry import Entry, Registry, closest
from segzoo.errors import SegzooError

log = logging.getLogger("segzoo")

#: Registry attribute per hook; the attribute names are also the kinds shown by ``segzoo plugins``.
HOOKS = {
    "register_architectures": "architectures",
    "register_encoders": "encoders",
    "register_losses": "losses",
    "register_datasets": "datasets",
    "register_converters": "converters",
    "register_catalog": "models",
}
KIND_SINGULAR = {
    "architectures": "architecture",
    "encoders": "encoder",
    "losses": "loss",
    "datasets": "dataset",
    "converters": "weights format",
    "models": "model",
}


@dataclass
class PluginInfo:
    name: str
    package: str | None
    version: str | None
    status: str = "ok"  # ok | broken | disabled | incompatible
    error: str | None = None
    registered: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "package": self.package,
            "version": self.version,
            "status": self.status,
            "error": self.error,
            "registered": self.registered,
        }


class Registries:
    """All registries, one per kind, plus the record of every plugin seen."""

    def __init__(self) -> None:
        for kind in HOOKS.values():
            setattr(self, kind, Registry(KIND_SINGULAR[kind]))
        self.plugins: list[PluginInfo] = []
        self._pm = pluggy.PluginManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)

    architectures: Registry
    encoders: Registry
    losses: Registry
    datasets: Registry
    converters: Registry
    models: Registry

    def kind(self, kind: str) -> Registry:
        return getattr(self, kind)

    def plugin(self, package_or_name: str) -> PluginInfo | None:
        for info in self.plugins:
            if package_or_name in (info.name, info.package):
                return info
        return None

    # -- registration ------------------------------------------------------------------------------------------------
    def add_plugin(self, plugin: object, *, name: str, package: str | None = None, version: str | None = None) -> PluginInfo:
        """Register a plugin object (module or instance) and everything its hooks contribute, all or nothing."""
        info = PluginInfo(name=name, package=package or name, version=version)
        self.plugins.append(info)
        try:
            _check_api(plugin)
        except _Incompatible as err:
            info.status, info.error = "incompatible", str(err)
            log.warning("segzoo plugin %s skipped: %s", info.package, err)
            return info
        try:
            _check_hook_names(plugin)
            self._pm.register(plugin, name=name)
        except Exception as err:  # noqa: BLE001 - any plugin fault is reported, not raised
            return self._broken(info, err)
        staged: list[tuple[str, Entry, bool]] = []
        try:
            for hook, kind in HOOKS.items():
                for impl in getattr(self._pm.hook, hook).get_hookimpls():
                    if impl.plugin_name == name:
                        impl.function(register=self._stager(kind, info, staged))
            for kind, entry, override in staged:  # validate everything before committing anything
                self.kind(kind).check_free(entry.name, entry.provider, override=override)
        except Exception as err:  # noqa: BLE001
            self._pm.unregister(name=name)
            return self._broken(info, err)
        for kind, entry, override in staged:
            self.kind(kind).add(entry, override=override)
            info.registered.setdefault(kind, []).append(entry.name)
        return info

    def _stager(self, kind: str, info: PluginInfo, staged: list):
        seen: set[str] = set()

        def register(name: str, obj: Any, *, override: bool = False, **metadata: Any) -> None:
            if not isinstance(name, str) or not name:
                raise SegzooError(f"{KIND_SINGULAR[kind]} names must be non-empty strings, got {name!r}")
            if name in seen:
                raise SegzooError(f"{KIND_SINGULAR[kind]} {name!r} registered twice by {info.package!r}")
            seen.add(name)
            if kind == "models":
                from segzoo._catalog import validate_entry

                validate_entry(obj, f"catalog entry from {info.package}")
                if obj["name"] != name:
                    raise SegzooError(f"catalog entry registered as {name!r} is named {obj['name']!r}")
            staged.append((kind, Entry(name, obj, info.package or info.name, info.name, metadata), override))

        return register

    def _broken(self, info: PluginInfo, err: BaseException) -> PluginInfo:
        info.status = "broken"
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        info.error = f"{type(err).__name__}: {'; '.join(lines)}"
        log.warning("segzoo plugin %s is broken and was skipped: %s", info.package, info.error)
        log.debug("traceback of plugin %s", info.package, exc_info=err)
        return info


class _Incompatible(Exception):
    pass


def _check_api(plugin: object) -> None:
    wanted = getattr(plugin, "SEGZOO_PLUGIN_API", hookspecs.PLUGIN_API_VERSION)
    if not isinstance(wanted, int) or wanted > hookspecs.PLUGIN_API_VERSION:
        raise _Incompatible(
            f"it targets segzoo plugin API {wanted}, this segzoo provides API {hookspecs.PLUGIN_API_VERSION}; "
            "upgrade segzoo (pip install -U segzoo)"
        )
    if wanted < 1:
        raise _Incompatible(f"it targets segzoo plugin API {wanted}, which is no longer supported; upgrade the plugin")


def _check_hook_names(plugin: object) -> None:
    """pluggy would silently keep a misspelt hook pending; refuse it with the closest valid name."""
    for attr in dir(plugin):
        obj = getattr(plugin, attr, None)
        if callable(obj) and hasattr(obj, f"{hookspecs.PROJECT}_impl") and attr not in HOOKS:
            hint = closest(attr, HOOKS, n=1)
            raise SegzooError(f"unknown hook {attr!r}" + (f" (did you mean {hint[0]!r}?)" if hint else ""))


def _split(value: str | None) -> set[str]:
    return {part.strip() for part in (value or "").replace(":", ",").split(",") if part.strip()}


def _selected(ep: metadata.EntryPoint) -> bool:
    names = {ep.name}
    if ep.dist is not None:
        names.add(ep.dist.name)
    enabled = os.environ.get("SEGZOO_PLUGINS")
    if enabled is not None:
        wanted = _split(enabled)
        if wanted == {"none"} or not wanted or not (names & wanted):
            return False
    return not (names & _split(os.environ.get("SEGZOO_DISABLE_PLUGINS")))


def discover() -> Registries:
    """Build fresh registries: segzoo's own contributions, then every selected entry-point plugin."""
    from segzoo import __version__, _builtin

    regs = Registries()
    regs.add_plugin(_builtin, name="segzoo", package="segzoo", version=__version__)
    eps = sorted(metadata.entry_points(group=hookspecs.PROJECT), key=lambda ep: ep.name)
    for ep in eps:
        package = ep.dist.name if ep.dist is not None else None
        version = ep.dist.version if ep.dist is not None else None
        if not _selected(ep):
            regs.plugins.append(PluginInfo(ep.name, package, version, status="disabled"))
            continue
        try:
            plugin: ModuleType = ep.load()
        except Exception as err:  # noqa: BLE001 - includes ImportError, SyntaxError and errors raised at import
            regs._broken(_append(regs, ep.name, package, version), err)
            continue
        regs.add_plugin(plugin, name=ep.name, package=package, version=version)
    from segzoo._catalog import add_environment_catalogs

    add_environment_catalogs(regs)
    return regs


def _append(regs: Registries, name: str, package: str | None, version: str | None) -> PluginInfo:
    info = PluginInfo(name, package, version)
    regs.plugins.append(info)
    return info


_lock = threading.Lock()
_current: Registries | None = None


def registries() -> Registries:
    """The process-wide registries, discovered on first use."""
    global _current
    if _current is None:
        with _lock:
            if _current is None:
                _current = discover()
    return _current


def reset() -> None:
    """Forget discovered plugins; the next :func:`registries` call discovers again (tests, environment changes)."""
    global _current
    with _lock:
        _current = None
