"""Plugin discovery and registration.

Plugins are found through the ``segzoo`` entry-point group the first time a registry is needed (never at
``import segzoo``). Each plugin is imported and registered in isolation: a plugin that fails to import, targets an
incompatible plugin API, implements unknown hooks, or raises while registering is recorded as broken with a one-line
cause, and everything it tried to register is dropped; the core and the other plugins are unaffected.

Environment:
  ``SEGZOO_PLUGINS``          unset: load all; ``none``: load none; ``a,b``: load only these (entry-point or
                              package names).
  ``SEGZOO_DISABLE_PLUGINS``  ``a,b``: skip these, e.g. to recover from a plugin that breaks start-up.

Names are never taken over by accident, whatever the package names or the installation order: segzoo's core and the
first-party plugins (:data:`FIRST_PARTY`) register first; a third-party plugin that registers one of their names
without ``override=True`` is refused (all or nothing). Third-party plugins are then staged together: when several
register the same name, the one that says ``override=True`` gets it if it is the only one to say so; otherwise all of
them are refused. ``SEGZOO_REGISTRY`` catalog files come last, in the order given.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any

import pluggy

from segzoo import __version__, _builtin, hookspecs
from segzoo._catalog import add_environment_catalogs, read_catalog, shipped_catalog, validate_entry
from segzoo._registry import Entry, Registry, check_lazy_spec, closest
from segzoo.errors import NameClashError, SegzooError

log = logging.getLogger("segzoo")

#: The distributions shipped with segzoo (``plugins/``): they register before any third-party plugin, so no
#: third-party package can take one of their names without ``override=True``. The one list of them.
FIRST_PARTY = frozenset(
    {
        "segzoo-datasets",
        "segzoo-deeplab",
        "segzoo-fcn",
        "segzoo-fpn",
        "segzoo-hrnet",
        "segzoo-losses",
        "segzoo-lraspp",
        "segzoo-ocrnet",
        "segzoo-pspnet",
        "segzoo-segnet",
        "segzoo-transformers",
        "segzoo-unet",
    }
)
#: What plugin code may raise during discovery and still leave the process running: a plugin that calls
#: ``sys.exit()`` or is interrupted while importing is reported as broken, by name.
PLUGIN_FAULTS = (Exception, SystemExit, KeyboardInterrupt)
#: ``trace(line)`` receives discovery progress (``segzoo plugins --trace``)
Trace = Callable[[str], None]

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
    first_party: bool = False
    #: what it tried to register, kept when it was refused, so an unknown-name error can name it
    attempted: dict[str, list[str]] = field(default_factory=dict)
    #: kind -> {name: package} of its names that another plugin replaced with override=True
    replaced: dict[str, dict[str, str]] = field(default_factory=dict)
    #: the kinds its module has hooks for; None when that is not known (it did not import, or was not run)
    kinds: frozenset[str] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "package": self.package,
            "version": self.version,
            "status": self.status,
            "error": self.error,
            "registered": self.registered,
            "replaced": self.replaced,
            "first_party": self.first_party,
        }

    @property
    def key(self) -> str:
        """Unique per plugin (two packages may both name their entry point ``unet``)."""
        return f"{self.package}::{self.name}"

    def why_unavailable(self) -> str:
        """``"broken: <error>"``, ``"disabled by SEGZOO_DISABLE_PLUGINS"``...; empty when it is loaded."""
        if self.status == "ok":
            return ""
        if self.status == "disabled":
            return self.error or "disabled"
        return f"{self.status}: {self.error}"


@dataclass
class _Staged:
    """A plugin whose hooks ran, with what it wants to register, before anything is committed."""

    info: PluginInfo
    entries: list[tuple[str, Entry, bool]]  # (kind, entry, override)
    refusal: str | None = None


class Registries:
    """All registries, one per kind, plus the record of every plugin seen."""

    def __init__(self) -> None:
        for kind in HOOKS.values():
            setattr(self, kind, Registry(KIND_SINGULAR[kind], explain=self.explain_unknown))
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
        """By distribution name first, then by entry-point name."""
        for info in [*(p for p in self.plugins if p.package == package_or_name), *self.plugins]:
            if package_or_name in (info.name, info.package):
                return info
        return None

    def unavailable(self) -> list[PluginInfo]:
        """Plugins that are installed but not loaded (broken, disabled, incompatible)."""
        return [p for p in self.plugins if p.status != "ok"]

    def explain_unknown(self, kind: str, name: str) -> str:
        """The part of an unknown-name error that names installed plugins which could have provided ``name``."""
        kind_plural = next(k for k, singular in KIND_SINGULAR.items() if singular == kind)
        for p in self.unavailable():
            if name in p.attempted.get(kind_plural, []):
                return f"; it would come from {p.package!r}, which is {p.why_unavailable()} (see `segzoo plugins`)"
        unknown = [
            p
            for p in self.unavailable()
            if not p.attempted
            and (p.kinds is None or kind_plural in p.kinds)
            and not p.name.startswith("SEGZOO_REGISTRY:")
        ]
        if not unknown:
            return ""
        return (
            "; installed plugins that are not loaded and could provide it: "
            + ", ".join(f"{p.package} ({p.why_unavailable()})" for p in unknown)
            + " (see `segzoo plugins`)"
        )

    # -- registration ------------------------------------------------------------------------------------------------
    def add_plugin(
        self, plugin: object, *, name: str, package: str | None = None, version: str | None = None
    ) -> PluginInfo:
        """Register a plugin object (module or instance) and everything its hooks contribute, all or nothing.

        A name already registered is refused unless the plugin registers it with ``override=True``.
        """
        info = self._record(name, package, version)
        staged = self._stage(plugin, info)
        if staged is not None:
            self._commit([staged])
        return info

    def _record(self, name: str, package: str | None, version: str | None) -> PluginInfo:
        info = PluginInfo(name=name, package=package or name, version=version)
        info.first_party = info.package in FIRST_PARTY or info.package == "segzoo"
        self.plugins.append(info)
        return info

    def _stage(self, plugin: object, info: PluginInfo) -> _Staged | None:
        """Run the plugin's hooks and collect what it registers; ``None`` (and ``info`` says why) if it failed."""
        try:
            _check_api(plugin)
        except _Incompatible as err:
            info.status, info.error = "incompatible", str(err)
            log.warning("segzoo plugin %s skipped: %s", info.package, err)
            return None
        try:
            _check_hook_names(plugin)
            info.kinds = frozenset(kind for hook, kind in HOOKS.items() if callable(getattr(plugin, hook, None)))
            self._pm.register(plugin, name=info.key)
        except PLUGIN_FAULTS as err:  # any plugin fault is reported, not raised
            self._broken(info, err)
            return None
        staged: list[tuple[str, Entry, bool]] = []
        try:
            for hook, kind in HOOKS.items():
                for impl in getattr(self._pm.hook, hook).get_hookimpls():
                    if impl.plugin_name == info.key:
                        impl.function(register=self._stager(kind, info, staged))
        except PLUGIN_FAULTS as err:
            self._pm.unregister(name=info.key)
            self._broken(info, err)
            return None
        for kind, entry, _ in staged:
            info.attempted.setdefault(kind, []).append(entry.name)
        return _Staged(info, staged)

    def _commit(self, group: list[_Staged]) -> None:
        """Register a group of staged plugins at once, so that their order decides nothing.

        A member that claims a name registered before the group without ``override=True`` is refused. Among the
        others, a name claimed by several goes to the one claimant that says ``override=True``; with none, or more
        than one, every claimant is refused. Refused plugins register nothing.
        """
        for staged in group:
            for kind, entry, override in staged.entries:
                existing = self.kind(kind)._entries.get(entry.name)
                if existing is not None and not override:
                    staged.refusal = _clash_with_earlier(
                        KIND_SINGULAR[kind], entry.name, existing.provider, staged.info.package or staged.info.name
                    )
                    break
        claims: dict[tuple[str, str], list[tuple[_Staged, bool]]] = {}
        for staged in group:
            if staged.refusal is None:
                for kind, entry, override in staged.entries:
                    claims.setdefault((kind, entry.name), []).append((staged, override))
        winners: dict[tuple[str, str], _Staged] = {}
        for (kind, name), claimants in sorted(claims.items()):
            if len(claimants) < 2:
                continue
            overriding = [s for s, override in claimants if override]
            if len(overriding) == 1:
                winners[(kind, name)] = overriding[0]
                continue
            packages = sorted(s.info.package or s.info.name for s, _ in claimants)
            for staged, _ in claimants:
                staged.refusal = staged.refusal or _clash_among(KIND_SINGULAR[kind], name, packages, len(overriding))
        for staged in group:
            info = staged.info
            if staged.refusal is not None:
                self._pm.unregister(name=info.key)
                self._broken(info, NameClashError(staged.refusal))
                continue
            for kind, entry, override in staged.entries:
                winner = winners.get((kind, entry.name))
                if winner is not None and winner is not staged:
                    continue  # another plugin replaces it, on purpose
                self._replace_record(kind, entry)
                self.kind(kind).add(entry, override=override)
                info.registered.setdefault(kind, []).append(entry.name)

    def _replace_record(self, kind: str, entry: Entry) -> None:
        """Note on the plugin that registered ``entry.name`` before that another package now provides it."""
        existing = self.kind(kind)._entries.get(entry.name)
        previous = self.plugin(existing.provider) if existing is not None else None
        if previous is None or existing is None or existing.provider == entry.provider:
            return
        if entry.name in previous.registered.get(kind, []):
            previous.registered[kind].remove(entry.name)
        previous.replaced.setdefault(kind, {})[entry.name] = entry.provider

    def _stager(self, kind: str, info: PluginInfo, staged: list):
        seen: set[str] = set()

        def register(name: str, obj: Any, *, override: bool = False, **metadata: Any) -> None:
            if not isinstance(name, str) or not name:
                raise SegzooError(f"{KIND_SINGULAR[kind]} names must be non-empty strings, got {name!r}")
            if name in seen:
                raise SegzooError(f"{KIND_SINGULAR[kind]} {name!r} registered twice by {info.package!r}")
            seen.add(name)
            if kind != "models":
                if isinstance(obj, str):
                    check_lazy_spec(obj)
                elif not callable(obj):
                    raise SegzooError(
                        f"{KIND_SINGULAR[kind]} {name!r}: expected a callable or a lazy factory "
                        f"'package.module:function', got {type(obj).__name__}"
                    )
            if kind == "models":
                validate_entry(obj, f"catalog entry from {info.package}")
                if obj["name"] != name:
                    raise SegzooError(f"catalog entry registered as {name!r} is named {obj['name']!r}")
            entry = Entry(name, obj, info.package or info.name, info.name, metadata, KIND_SINGULAR[kind])
            staged.append((kind, entry, override))

        return register

    def _broken(self, info: PluginInfo, err: BaseException) -> PluginInfo:
        info.status = "broken"
        info.error = _describe(err)
        log.warning("segzoo plugin %s is broken and was skipped: %s", info.package, info.error)
        log.debug("traceback of plugin %s", info.package, exc_info=err)
        return info


class _Incompatible(Exception):
    pass


def _describe(err: BaseException) -> str:
    """One line for a plugin fault; ``sys.exit()`` and Ctrl-C in plugin code say what happened."""
    if isinstance(err, SystemExit):
        return f"SystemExit: the plugin called sys.exit({err.code!r}) while segzoo loaded it"
    if isinstance(err, KeyboardInterrupt):
        return (
            "KeyboardInterrupt: interrupted while segzoo loaded this plugin (if it hangs, `segzoo plugins "
            "--trace` shows it; skip it with SEGZOO_DISABLE_PLUGINS)"
        )
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return f"{type(err).__name__}: {'; '.join(lines)}"


def _clash_with_earlier(kind: str, name: str, owner: str, package: str) -> str:
    who = "segzoo's core" if owner == "segzoo" else owner
    first = " (first-party)" if owner in FIRST_PARTY else ""
    if package.startswith("SEGZOO_REGISTRY:"):
        fix = 'rename the entry, or give it "override": true to replace it on purpose'
    else:
        fix = (
            f"rename it in {package!r}, or register it there with override=True to replace it on purpose (or "
            f"uninstall {package})"
        )
    return (
        f"{kind} {name!r} is registered by both {owner!r}{first} and {package!r}; {package!r} was refused so "
        f"that it cannot take over {who}'s name: {fix}"
    )


def _clash_among(kind: str, name: str, packages: list[str], overriding: int) -> str:
    both = " and ".join(repr(p) for p in packages) if len(packages) == 2 else ", ".join(repr(p) for p in packages)
    why = "none of them says override=True" if not overriding else "more than one says override=True"
    return (
        f"{kind} {name!r} is registered by both {both}, and {why}, so all of them were refused: uninstall all "
        f"but one (or skip one with SEGZOO_DISABLE_PLUGINS), or have exactly one register it with override=True"
    )


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


def _disabled_by(ep: metadata.EntryPoint) -> str | None:
    """Which environment variable leaves this entry point out, if any."""
    names = {ep.name}
    if ep.dist is not None:
        names.add(ep.dist.name)
    enabled = os.environ.get("SEGZOO_PLUGINS")
    if enabled is not None:
        wanted = _split(enabled)
        if wanted == {"none"} or not wanted or not (names & wanted):
            return "SEGZOO_PLUGINS"
    return "SEGZOO_DISABLE_PLUGINS" if names & _split(os.environ.get("SEGZOO_DISABLE_PLUGINS")) else None


def discover(trace: Trace | None = None) -> Registries:
    """Build fresh registries: segzoo's own contributions, the first-party plugins, then the third-party ones.

    ``trace`` gets a line before each plugin is imported (so a plugin that hangs can be found) and one after.
    """
    regs = Registries()
    regs.add_plugin(_builtin, name="segzoo", package="segzoo", version=__version__)
    eps = sorted(
        metadata.entry_points(group=hookspecs.PROJECT),
        key=lambda ep: (ep.dist.name if ep.dist is not None else "", ep.name),
    )
    first_party = [ep for ep in eps if ep.dist is not None and ep.dist.name in FIRST_PARTY]
    third_party = [ep for ep in eps if ep not in first_party]
    for group in (first_party, third_party):
        regs._commit([s for s in (_load(regs, ep, trace) for ep in group) if s is not None])
    _add_unavailable_catalogs(regs, eps)
    add_environment_catalogs(regs)
    return regs


def _add_unavailable_catalogs(regs: Registries, eps: list[metadata.EntryPoint]) -> None:
    """List the shipped catalog entries of plugins that did not load, so that they say why they are unavailable
    instead of vanishing. They never replace a registered name."""
    for ep in eps:
        package = ep.dist.name if ep.dist is not None else None
        info = next((p for p in regs.plugins if (p.name, p.package) == (ep.name, package or ep.name)), None)
        path = shipped_catalog(ep.module) if info is not None and info.status != "ok" else None
        if path is None:
            continue
        try:
            entries = read_catalog(path)
        except SegzooError as err:
            log.warning("segzoo plugin %s ships an invalid catalog: %s", info.package, err)
            continue
        for entry in entries:
            if entry["name"] not in regs.models:
                regs.models.add(Entry(entry["name"], entry, info.package or info.name, info.name))


def _load(regs: Registries, ep: metadata.EntryPoint, trace: Trace | None) -> _Staged | None:
    """Import one entry point and run its hooks; faults mark it broken, by name, and never end the process."""
    package = ep.dist.name if ep.dist is not None else None
    version = ep.dist.version if ep.dist is not None else None
    info = regs._record(ep.name, package, version)
    disabled_by = _disabled_by(ep)
    if disabled_by:
        info.status, info.error = "disabled", f"disabled by {disabled_by}"
        return None
    if trace:
        trace(f"importing {info.package} ({ep.value}) ...")
    start = time.perf_counter()
    try:
        plugin: ModuleType = ep.load()
        imported = time.perf_counter()
        staged = regs._stage(plugin, info)
        if staged is not None:
            _stage_shipped_catalog(regs, staged, ep.module)
    except PLUGIN_FAULTS as err:  # includes ImportError, SyntaxError, sys.exit() and Ctrl-C at import
        if regs._pm.has_plugin(info.key):
            regs._pm.unregister(name=info.key)
        regs._broken(info, err)
        staged, imported = None, time.perf_counter()
    if trace:
        done = time.perf_counter()
        trace(
            f"  {info.package}: imported in {imported - start:.3f} s, hooks ran in {done - imported:.3f} s"
            + (f", {info.status}: {info.error}" if info.status != "ok" else "")
        )
    return staged


def _stage_shipped_catalog(regs: Registries, staged: _Staged, module: str) -> None:
    """Add the entries of the plugin's shipped catalog file to what it registers (all or nothing, like a hook)."""
    path = shipped_catalog(module)
    if path is None:
        return
    taken = {entry.name for kind, entry, _ in staged.entries if kind == "models"}
    for entry in read_catalog(path):
        if entry["name"] in taken:
            raise SegzooError(f"model {entry['name']!r} is both in {path} and registered by a hook; keep one")
        staged.entries.append(
            (
                "models",
                Entry(entry["name"], entry, staged.info.package or staged.info.name, staged.info.name, {}, "model"),
                bool(entry.get("override", False)),
            )
        )
        staged.info.attempted.setdefault("models", []).append(entry["name"])


_lock = threading.Lock()
_current: Registries | None = None


def registries(trace: Trace | None = None) -> Registries:
    """The process-wide registries, discovered on first use (``trace``: see :func:`discover`)."""
    global _current
    if _current is None:
        with _lock:
            if _current is None:
                _current = discover(trace)
    return _current


def encoder_registry() -> Registry:
    """The registered encoders, for ``segzoo.nn.create_encoder`` (through ``segzoo._registry.encoder_registry``)."""
    return registries().encoders


def reset() -> None:
    """Forget discovered plugins; the next :func:`registries` call discovers again (tests, environment changes)."""
    global _current
    with _lock:
        _current = None
