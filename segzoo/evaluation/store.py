"""The results store of ``segzoo bench --models``: one JSON line per finished result, appended the moment it is done.

A line is ``{"key", "fields", "result", "fingerprint", "finished"}``: ``fields`` are what the result depends on (model,
dataset, split, protocol, engine, precision, sizes and repeat counts), ``key`` their hash. A run restarted with the
same command finds its finished keys here and skips them, and the leaderboard is always rebuilt from these lines, so
a run killed after hours loses at most the model it was on. JSONL rather than SQLite: appending a line is one
``write`` that a crash leaves either whole or as a torn last line, which :meth:`ResultStore.load` skips (and the next
append starts on a fresh line), and the file can be read, grepped and concatenated with standard tools.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger("segzoo")

__all__ = ["ResultStore", "result_key"]


def result_key(fields: dict[str, Any]) -> str:
    """A short stable hash of ``fields`` (canonical JSON)."""
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


class ResultStore:
    """Append-only JSONL file of benchmark results, keyed by :func:`result_key`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def load(self) -> dict[str, dict[str, Any]]:
        """Every stored line by key (a later line for the same key wins); torn or foreign lines are skipped."""
        lines: dict[str, dict[str, Any]] = {}
        if not self.path.exists():
            return lines
        for number, text in enumerate(self.path.read_text().splitlines(), 1):
            if not text.strip():
                continue
            try:
                line = json.loads(text)
                lines[line["key"]] = line
            except (json.JSONDecodeError, KeyError, TypeError):
                log.warning(
                    "%s line %d is not a complete result (a run killed while writing it?); ignored", self.path, number
                )
        return lines

    def append(self, fields: dict[str, Any], result: dict[str, Any], fingerprint: dict[str, Any]) -> str:
        """Write one finished result now (flushed and fsynced); returns its key."""
        key = result_key(fields)
        line = {
            "key": key,
            "fields": fields,
            "result": result,
            "fingerprint": fingerprint,
            "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        text = json.dumps(line, default=str, allow_nan=True) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+b") as f:
            if f.tell() > 0:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":  # a torn last line: start ours on a line of its own
                    text = "\n" + text
            f.write(text.encode())
            f.flush()
            os.fsync(f.fileno())
        return key
