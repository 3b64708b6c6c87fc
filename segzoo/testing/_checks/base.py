"""What every check shares: the :class:`Check` itself, the lazily built object its checks share, and helpers."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from unittest import SkipTest

import torch

from segzoo import _plugins
from segzoo._plugins import Registries

__all__ = ["Check", "Shared", "expect_logits", "one_line", "quiet", "registries", "skipped"]


@dataclass(frozen=True)
class Check:
    """One contract check of one registered thing: call it to run it.

    ``kind`` is ``"architecture"``, ``"encoder"``, ``"loss"``, ``"dataset"``, ``"catalog"`` or ``"plugin"``;
    ``subject`` the registered name (or the package); ``name`` the check. Calling it raises ``AssertionError`` on
    failure and ``unittest.SkipTest`` when it does not apply, or returns a note.
    """

    kind: str
    subject: str
    name: str
    run: Callable[[], str | None] = field(repr=False, compare=False)

    @property
    def id(self) -> str:
        """``kind:subject:name``, the pytest id."""
        return f"{self.kind}:{self.subject}:{self.name}"

    def __call__(self) -> str | None:
        return self.run()


class Shared:
    """What the checks of one subject share (the built model, the dataset): built by the first check that needs it,
    dropped after the last one ran, so a whole test session does not keep every model alive."""

    def __init__(self, build: Callable[[], Any], users: int) -> None:
        self._build, self._users = build, users
        self._value: Any = None
        self._error: str | None = None

    def get(self) -> Any:
        if self._error is not None:
            raise AssertionError(self._error)
        if self._value is None:
            try:
                self._value = self._build()
            except SkipTest:
                raise
            except Exception as err:
                self._error = f"cannot be built: {one_line(err)}"
                raise AssertionError(self._error) from err
        return self._value

    @contextlib.contextmanager
    def use(self) -> Iterator[Any]:
        try:
            yield self.get()
        finally:
            self._users -= 1
            if self._users <= 0:
                self._value = None


def one_line(err: BaseException, limit: int = 300) -> str:
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    if isinstance(err, AssertionError):
        return " ".join(lines)
    first = lines[0] if lines else ""
    return f"{type(err).__name__}: {first[:limit]}" + (" ..." if len(first) > limit or len(lines) > 1 else "")


def skipped(reason: str) -> Callable[[], None]:
    def run() -> None:
        raise SkipTest(reason)

    return run


def registries() -> Registries:
    """The registries, looked up at each call: a test may reset them between checks."""
    return _plugins.registries()


def expect_logits(out: Any, batch: int, classes: int, size: tuple[int, int], what: str) -> None:
    assert isinstance(out, torch.Tensor), f"{what} returned {type(out).__name__}, expected a tensor of logits"
    expected = (batch, classes, *size)
    assert tuple(out.shape) == expected, f"{what} gave logits of shape {tuple(out.shape)}, expected {expected}"
    assert out.dtype == torch.float32, f"{what} gave {out.dtype} logits, expected float32"
    assert torch.isfinite(out).all(), f"{what} gave non-finite logits"


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence the tracer/exporter warnings the checks provoke on purpose."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
