"""Plain-text output shared by the ``segzoo`` commands: one table look for ``list``, ``eval``, ``predict``...

It sits in the lowest layer, with no imports, so every command module (core, inference, evaluation) prints tables
the same way without importing a layer above its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["table"]


def table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    """Left-aligned columns two spaces apart, a dashed rule under ``header``, no trailing spaces."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*(str(c) for c in r)) for r in rows]
    return "\n".join(line.rstrip() for line in lines)
