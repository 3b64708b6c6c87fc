"""The one error boundary of the ``segzoo`` command: every exception becomes one line on stderr.

Every sub-command (and ``python -m segzoo.train``) runs through :func:`run_command`, so no command can leak a
traceback and each kind of failure is worded in one place:

* expected failures: segzoo's own errors, OS errors on the user's files (missing, not writable, disk full...),
  unreadable or oversized images, running out of memory: ``segzoo: error: <what went wrong>``, exit status 1;
* Ctrl-C: ``segzoo: interrupted``, exit status 130; ``sys.exit()`` called by plugin or library code during a
  command (none of segzoo's commands exits that way): one line naming the component if known, exit status 70;
* an exception raised by a registered architecture, encoder, loss or dataset names that component and the package
  that registered it, exit status 1: wrong options are the usual cause, else it is that package's bug. segzoo's
  calls of components mark what they raise (:func:`calling`); later calls of a component's methods (``forward``,
  ``__getitem__``) are found by walking the traceback (:func:`component_of`);
* anything else is a bug in segzoo or in a plugin, not in the user's input: one line that says so and how to get
  the traceback, exit status 70 (``EX_SOFTWARE``), so that scripts can tell a bug from bad input.

``-v`` prints the full traceback (chained causes included) before the line, in every case.

Errors raised inside DataLoader worker processes reach the main process re-wrapped by torch ("Caught X in DataLoader
worker process 0. Original Traceback ..."); :func:`message` unwraps them to the original message, so they read the
same as with no workers.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

from segzoo import registry
from segzoo.errors import SegzooError

__all__ = [
    "EXIT_BUG",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_STDOUT_CLOSED",
    "OneLineParser",
    "calling",
    "component_of",
    "configure_logging",
    "int_at_least",
    "message",
    "read_item",
    "run_command",
    "user_message",
]

EXIT_ERROR = 1
EXIT_BUG = 70
#: the reader of stdout went away early: 128 + SIGPIPE, what the shell reports for cat, yes and other tools a closed
#: pipe ends, so ``set -o pipefail`` scripts treat segzoo like them; 0 would claim all the output was delivered
EXIT_STDOUT_CLOSED = 141
EXIT_INTERRUPTED = 130

_LOG_FORMAT = "segzoo: %(levelname)s: %(message)s"

#: OS errors whose own text is clearer with a hint about what to do
_ERRNO_HINTS = {
    errno.ENOSPC: "free some space or write elsewhere",
    errno.EDQUOT: "free some space or write elsewhere",
    errno.EROFS: "write elsewhere",
    errno.EACCES: "check the permissions or choose another path",
    errno.EPERM: "check the permissions or choose another path",
}

_WORKER = re.compile(r"^Caught (\w+) in DataLoader worker process \d+\.\nOriginal Traceback", re.S)


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record is emitted (pytest's capsys swaps it per test)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


_handler = _CurrentStderr()
_handler.setFormatter(logging.Formatter(_LOG_FORMAT))


def configure_logging(verbose: bool) -> None:
    """Print the ``segzoo`` logger's records on stderr (debug with ``-v``, else warnings).

    Only segzoo's logger gets a handler, never the root logger: huggingface_hub prints its warnings through a
    handler of its own and lets them propagate, so a root handler would print every one of them a second time.
    """
    logger = logging.getLogger("segzoo")
    logger.setLevel(logging.DEBUG if verbose else logging.WARNING)
    if _handler not in logger.handlers:
        logger.addHandler(_handler)


def message(err: BaseException) -> str:
    """The exception's message on one line; a DataLoader worker's re-wrapped exception gives the original one."""
    text = str(err)
    match = _WORKER.match(text)
    if match:
        name = match.group(1)
        lines = text.rstrip().splitlines()
        pattern = re.compile(rf"^(?:[\w.]+\.)?{re.escape(name)}(?::\s?|$)")
        for i in range(len(lines) - 1, 0, -1):
            found = pattern.match(lines[i])
            if found and not lines[i].startswith(" "):
                text = "\n".join([lines[i][found.end() :], *lines[i + 1 :]])
                break
    text = " ".join(part.strip() for part in text.strip().splitlines() if part.strip())
    return text if len(text) <= 1000 else text[:997] + "..."


def _os_message(err: OSError) -> str:
    text = re.sub(r"^\[Errno \d+\] ", "", message(err))
    hint = _ERRNO_HINTS.get(err.errno or 0)
    return f"{text} ({hint})" if hint and hint not in text else text


def _loaded(entry: Any) -> Any:
    """The entry's object if it is already imported (a lazy factory whose module was never imported cannot be in a
    traceback, and importing it now would cost seconds), else None."""
    if not entry.lazy:
        return entry.raw
    module_name, _, attribute = str(entry.raw).partition(":")
    value: Any = sys.modules.get(module_name)
    for part in attribute.split(".") if value is not None else ():
        value = getattr(value, part, None)
    return value


def _codes(obj: Any) -> list[Any]:
    """Code objects of a registered callable: a function's own, or the methods of a class (and of its bases from
    the same package), so ``__init__``, ``__getitem__`` and ``forward`` all count."""
    obj = getattr(obj, "func", obj)  # functools.partial
    if isinstance(obj, type):
        top = obj.__module__.split(".")[0]
        return [
            getattr(f, "__code__", None)
            for cls in obj.__mro__
            if cls.__module__.split(".")[0] == top
            for f in vars(cls).values()
        ]
    return [getattr(obj, "__code__", None)]


_NOTE = "raised by "


def _describe(entry: Any) -> str:
    return f"{entry.kind} {entry.name!r} of {entry.provider}"


@contextlib.contextmanager
def calling(entry: Any) -> Iterator[None]:
    """Mark an exception raised while calling a registered component with a note naming it and its package (the
    exception keeps its type: ``create(..., bogus=1)`` still raises TypeError). A constructor inherited from a base
    class leaves no frame of the plugin in the traceback, so only the caller knows whom to blame."""
    try:
        yield
    except Exception as err:
        note = _NOTE + _describe(entry)
        if hasattr(err, "add_note"):  # Python 3.11+
            err.add_note(note)
        else:
            err.__notes__ = [*getattr(err, "__notes__", []), note]  # type: ignore[attr-defined]
        raise


def component_of(err: BaseException) -> str | None:
    """``"<kind> '<name>' of <package>"`` for the innermost registered architecture, encoder, loss or dataset that
    raised ``err``: the note :func:`calling` left, else the innermost traceback frame of a component's code (its
    methods called later: ``forward``, ``__getitem__``), else None."""
    for note in getattr(err, "__notes__", ()):
        if isinstance(note, str) and note.startswith(_NOTE):
            return note[len(_NOTE) :]

    owners: dict[Any, Any] = {}
    try:
        for kind in ("architectures", "encoders", "losses", "datasets"):
            for entry in registry.entries(kind):
                for code in _codes(_loaded(entry)):
                    if code is not None:
                        owners.setdefault(code, entry)
    except Exception:  # noqa: BLE001 - describing an error must never raise another
        return None
    found = None
    tb = err.__traceback__
    while tb is not None:
        found = owners.get(tb.tb_frame.f_code, found)
        tb = tb.tb_next
    return None if found is None else _describe(found)


def read_item(dataset: Any, index: Any) -> Any:
    """``dataset[index]``; a failure becomes one line naming the dataset, its package, the item and the cause.
    Raised in a DataLoader worker, it reaches the user with the same text (see :func:`message`)."""
    try:
        return dataset[index]
    except SegzooError:
        raise
    except Exception as err:  # noqa: BLE001 - whatever the dataset's code raises
        who = component_of(err) or f"dataset {type(dataset).__name__}"
        cause = re.sub(r"\[Errno \d+\] ", "", message(err)) or "(no message)"
        raise SegzooError(f"{who} could not read item {index}: {type(err).__name__}: {cause}") from err


def user_message(err: BaseException) -> str | None:
    """One line for an expected failure (bad input, the user's files, resources); None for a bug."""
    from PIL import Image

    if isinstance(err, SegzooError):
        return message(err)
    if isinstance(err, Image.DecompressionBombError):
        return f"{message(err)} (Pillow refuses images this large; downscale the image)"
    if isinstance(err, OSError):  # files, permissions, disk full, unreadable images (UnidentifiedImageError)
        return _os_message(err)
    if isinstance(err, MemoryError) or type(err).__name__ == "OutOfMemoryError":
        return f"out of memory: {message(err) or 'MemoryError'} (use a smaller --batch-size, image size or model)"
    return None


class OneLineParser(argparse.ArgumentParser):
    """An argparse parser whose usage errors are one line too (``segzoo: error: argument --crop: ...``), pointing at
    ``--help`` instead of printing the whole usage block; exit status 2, as argparse's."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"segzoo: error: {message} (see `{self.prog} --help`)\n")


def int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse ``type``: an integer no smaller than ``minimum`` (counts, sizes, workers, opsets)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


def run_command(func: Callable[[Any], int], args: Any, *, verbose: bool = False) -> int:
    """Call ``func(args)`` and turn whatever it raises into one line on stderr and an exit status; a reader that
    closes stdout early (``segzoo list | head -1``) ends the command quietly with :data:`EXIT_STDOUT_CLOSED`."""
    try:
        status = func(args)
        sys.stdout.flush()  # output buffered for a pipe meets the closed pipe here, not at interpreter exit
        return status
    except BrokenPipeError:
        # Python flushes stdout again at exit: point it at devnull so that flush cannot fail (the recipe of
        # https://docs.python.org/3/library/signal.html#note-on-sigpipe)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_STDOUT_CLOSED
    except KeyboardInterrupt:
        print("segzoo: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except SystemExit as err:  # no segzoo command exits this way: plugin or library code ended the command early
        if verbose:
            traceback.print_exc(file=sys.stderr)
        who = component_of(err) or "code run by this command"
        print(
            f"segzoo: error: {who} called sys.exit({err.code!r}) before the command finished; this is a bug there "
            "(`segzoo -v ...` shows where)",
            file=sys.stderr,
        )
        return EXIT_BUG
    except Exception as err:  # noqa: BLE001 - this is the boundary
        if verbose:
            traceback.print_exc(file=sys.stderr)
        text = user_message(err)
        if text is not None:
            print(f"segzoo: error: {text}", file=sys.stderr)
            return EXIT_ERROR
        component = component_of(err)
        if component is not None:
            package = component.rsplit(" of ", 1)[1]
            print(
                f"segzoo: error: {component} raised {type(err).__name__}: {message(err) or '(no message)'}; check "
                f"the options given to it, else this is a bug in {package}: report it (`segzoo -v ...` shows the "
                "traceback)",
                file=sys.stderr,
            )
            return EXIT_ERROR
        print(
            f"segzoo: error: unexpected {type(err).__name__}: {message(err) or '(no message)'}; this is a bug in "
            f"segzoo or a plugin, not in your input: run `segzoo -v ...` for the traceback and report it",
            file=sys.stderr,
        )
        return EXIT_BUG
