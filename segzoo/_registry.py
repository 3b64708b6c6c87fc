"""Typed registries of named components, each entry remembering the plugin that provided it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from segzoo.errors import NameClashError, UnknownNameError


@dataclass(frozen=True)
class Entry:
    name: str
    obj: Any
    provider: str  # the distribution (pip package) that registered it, e.g. "segzoo-deeplab"
    plugin: str  # the plugin (entry point) name
    metadata: dict[str, Any] = field(default_factory=dict)


def closest(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """The ``n`` closest names, by similarity (case-insensitive)."""
    pool = {c.lower(): c for c in candidates}
    return [pool[m] for m in difflib.get_close_matches(name.lower(), list(pool), n=n, cutoff=0.5)]


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    matches = closest(name, candidates)
    return f"; did you mean {', '.join(repr(m) for m in matches)}?" if matches else ""


class Registry:
    """Names of one kind (``"architecture"``, ``"loss"``...) mapped to :class:`Entry`."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def add(self, entry: Entry, *, override: bool = False) -> None:
        existing = self._entries.get(entry.name)
        if existing is not None and not override:
            raise NameClashError(
                f"{self.kind} {entry.name!r} is registered by both {existing.provider!r} and {entry.provider!r}; "
                f"uninstall one, or have {entry.provider!r} register it with override=True"
            )
        self._entries[entry.name] = entry

    def check_free(self, name: str, provider: str, *, override: bool = False) -> None:
        """Raise the clash error :meth:`add` would raise, without adding anything."""
        existing = self._entries.get(name)
        if existing is not None and not override:
            self.add(Entry(name, None, provider, provider), override=False)

    def get(self, name: str, *, extra_names: Iterable[str] = ()) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            names = [*self._entries, *extra_names]
            raise UnknownNameError(f"unknown {self.kind} {name!r}{did_you_mean(name, names)}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry]:
        return iter(sorted(self._entries.values(), key=lambda e: e.name))

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        return sorted(self._entries)
