"""Typed registries of named components, each entry remembering the plugin that provided it.

A plugin registers either the object itself or a lazy factory, the string ``"package.module:attribute"``; the
string is imported on first use of :attr:`Entry.obj` and cached, so that discovery imports no model code (or torch).
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from segzoo.errors import NameClashError, PluginError, UnknownNameError, UnknownOptionError

#: ``package.module:attribute`` (the attribute may be dotted: ``module:Class.method``)
LAZY_PATTERN = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_resolve_lock = threading.Lock()


@dataclass(frozen=True)
class Entry:
    """One registered name. ``raw`` is what the plugin passed (an object, or a lazy ``"module:attribute"`` string
    for callable kinds); :attr:`obj` is the usable object."""

    name: str
    raw: Any
    provider: str  # the distribution (pip package) that registered it, e.g. "segzoo-deeplab"
    plugin: str  # the plugin (entry point) name
    metadata: dict[str, Any] = field(default_factory=dict)
    kind: str = ""  # "architecture", "loss"...; set by the registry the entry is added to
    _resolved: list[Any] = field(default_factory=list, compare=False, repr=False)

    @property
    def lazy(self) -> bool:
        """Whether :attr:`raw` is a ``"package.module:attribute"`` string resolved on first use."""
        return isinstance(self.raw, str) and self.kind != "model"

    @property
    def obj(self) -> Any:
        """The registered object; a lazy factory is imported the first time (one line naming the plugin if not)."""
        if not self.lazy:
            return self.raw
        if not self._resolved:
            with _resolve_lock:
                if not self._resolved:
                    self._resolved.append(resolve(self.raw, f"{self.kind or 'entry'} {self.name!r} of {self.provider}"))
        return self._resolved[0]


def resolve(spec: str, what: str) -> Callable[..., Any]:
    """Import ``"package.module:attribute"``; ``what`` names the entry and its plugin in the error."""
    module_name, _, attribute = spec.partition(":")
    try:
        value: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            value = getattr(value, part)
    except (Exception, SystemExit) as err:  # noqa: BLE001 - whatever the plugin's module raises: one line naming it
        cause = "; ".join(line.strip() for line in str(err).splitlines() if line.strip())
        raise PluginError(
            f"{what} cannot be loaded from {spec!r}: {type(err).__name__}: {cause}; reinstall or upgrade the "
            "plugin, or report this to its authors"
        ) from err
    if not callable(value):
        raise PluginError(f"{what}: {spec!r} is a {type(value).__name__}, not a callable; fix the plugin")
    return value


def check_lazy_spec(spec: str) -> None:
    """Refuse a malformed lazy factory at registration, before anyone tries to use it."""
    if not LAZY_PATTERN.match(spec):
        raise PluginError(f"lazy factory {spec!r} must be written 'package.module:function'")


def closest(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """The ``n`` closest names, by similarity (case-insensitive)."""
    pool = {c.lower(): c for c in candidates}
    return [pool[m] for m in difflib.get_close_matches(name.lower(), list(pool), n=n, cutoff=0.5)]


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    matches = closest(name, candidates)
    return f"; did you mean {', '.join(repr(m) for m in matches)}?" if matches else ""


def check_options(
    what: str, builder: Callable[..., Any], options: Iterable[str], *, passed_by_segzoo: Iterable[str]
) -> None:
    """Refuse an option ``builder`` does not take, with its options and the closest name (a typo, or an option
    spelled as in another component), where Python's own TypeError names neither. ``what``: ``"encoder 'x'"``;
    ``passed_by_segzoo``: the arguments segzoo itself gives the builder, which are not the user's options."""
    try:
        params = inspect.signature(builder).parameters
    except (TypeError, ValueError):  # no signature to read: the builder decides
        return
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    own = set(passed_by_segzoo)
    known = [n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and n not in own]
    for name in options:
        if name not in known:
            raise UnknownOptionError(
                f"{what} has no option {name!r}{did_you_mean(name, known)} (its options: {', '.join(known) or 'none'})"
            )


class Registry:
    """Names of one kind (``"architecture"``, ``"loss"``...) mapped to :class:`Entry`.

    ``explain(name)`` adds to an unknown-name error which plugins that could have provided it are not loaded.
    """

    def __init__(self, kind: str, explain: Callable[[str, str], str] | None = None) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}
        self._explain = explain

    def add(self, entry: Entry, *, override: bool = False) -> None:
        existing = self._entries.get(entry.name)
        if existing is not None and not override:
            raise NameClashError(
                f"{self.kind} {entry.name!r} is registered by both {existing.provider!r} and {entry.provider!r}; "
                f"uninstall one, or have {entry.provider!r} register it with override=True"
            )
        if entry.kind != self.kind:
            entry = Entry(entry.name, entry.raw, entry.provider, entry.plugin, entry.metadata, self.kind)
        self._entries[entry.name] = entry

    def get(self, name: str, *, extra_names: Iterable[str] = ()) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            names = [*self._entries, *extra_names]
            hint = self._explain(self.kind, name) if self._explain else ""
            raise UnknownNameError(f"unknown {self.kind} {name!r}{did_you_mean(name, names)}{hint}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry]:
        return iter(sorted(self._entries.values(), key=lambda e: e.name))

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        return sorted(self._entries)


#: where the registry of encoders comes from, named rather than imported: ``segzoo.nn`` (the module layer) looks
#: plugin encoders up by name without importing plugin discovery, which sits above it (docs/architecture.md)
ENCODERS = "segzoo._plugins:encoder_registry"


def encoder_registry() -> Registry:
    """The registered encoders (discovering plugins on first use)."""
    module, _, function = ENCODERS.partition(":")
    return getattr(importlib.import_module(module), function)()
