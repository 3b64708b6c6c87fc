"""Where segzoo writes: its cache, and checking an output destination before the expensive work, so a bad ``--out``
fails in a second, in one line."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from segzoo.errors import SegzooError

__all__ = ["cache_dir", "check_writable"]


def check_writable(path: str | os.PathLike[str], *, option: str, directory: bool = False) -> Path:
    """Raise a one-line :class:`SegzooError` unless ``path`` (a file, or with ``directory`` a folder) can be written.

    Creates the missing folders and writes (then deletes) a probe file there: permission bits say nothing for root,
    read-only mounts or full disks, and a write is the only test that covers them all.
    """
    path = Path(path)
    folder = path if directory else path.parent
    if not directory and path.is_dir():
        raise SegzooError(f"{option} {path} is a directory; give a file name")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".segzoo-write-check-"):
            pass
    except OSError as err:
        reason = err.strerror or type(err).__name__
        if isinstance(err, (FileExistsError, NotADirectoryError)):
            reason = "a file is in the way of the folder"
        raise SegzooError(f"cannot write {option} {path}: {reason}; choose another path") from None
    return path


def cache_dir() -> Path:
    """segzoo's own cache (converted checkpoints, verification stamps): ``$SEGZOO_CACHE`` or beside the HF hub cache."""
    from huggingface_hub import constants  # not at import: `import segzoo` and discovery stay light

    return Path(os.environ.get("SEGZOO_CACHE") or Path(constants.HF_HUB_CACHE).parent / "segzoo")
