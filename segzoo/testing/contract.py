"""The plugin contract as small checks that pytest runs as ordinary test items, or that one call runs together.

A plugin's whole contract test file can be::

    from segzoo.testing import contract

    @contract.parametrize_with_checks("segzoo-linknet", encoder="resnet18")
    def test_contract(check):
        check()

one pytest item per check and per registered thing (``architecture:linknet:shapes``, ``loss:...``, the catalog
entries' download from a local Hub, and that discovery imports no torch). Outside pytest,
``segzoo.testing.check_plugin("segzoo-linknet")`` runs the same checks and raises one ``AssertionError`` listing
every failure.

A check raises ``AssertionError`` saying what was expected and what happened, raises ``unittest.SkipTest`` (pytest
reports a skip) when it does not apply, or returns a note (a string) or ``None``. What the checks require is
documented in ``docs/testing.md``. Architectures opt out of the optional features (:data:`OPTIONAL_FEATURES`) by
declaring why at registration: ``register(name, build, ..., unsupported={"onnx": "MaxUnpool2d has no ONNX export"})``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from unittest import SkipTest

from segzoo.testing._checks.architecture import ARCHITECTURE_CHECKS, OPTIONAL_FEATURES, architecture_checks
from segzoo.testing._checks.base import Check, one_line, registries
from segzoo.testing._checks.catalog import catalog_checks, check_hub_entry, publish_entry_weights
from segzoo.testing._checks.dataset import dataset_checks
from segzoo.testing._checks.discovery import discovery_check
from segzoo.testing._checks.encoder import encoder_checks
from segzoo.testing._checks.loss import LOSS_MODES, loss_checks

__all__ = [
    "ARCHITECTURE_CHECKS",
    "LOSS_MODES",
    "OPTIONAL_FEATURES",
    "Check",
    "architecture_checks",
    "catalog_checks",
    "check_hub_entry",
    "check_plugin",
    "dataset_checks",
    "discovery_check",
    "encoder_checks",
    "loss_checks",
    "parametrize_with_checks",
    "plugin_checks",
    "publish_entry_weights",
    "run_checks",
]


def _provided(kind: str, package: str | None) -> list[str]:
    regs = registries()
    if package is None:
        return regs.kind(kind).names()
    return [e.name for e in regs.kind(kind) if e.provider == package]


def _installed(package: str) -> str:
    """The distribution name of an installed, working plugin given by distribution, entry point or import name."""
    regs = registries()
    info = regs.plugin(package) or next(
        (p for p in regs.plugins if p.package and p.package.replace("-", "_") == package.replace("-", "_")), None
    )
    if info is None:
        known = sorted(p.package or p.name for p in regs.plugins)
        raise LookupError(
            f"{package!r} is not an installed segzoo plugin (no entry point in the 'segzoo' group; installed: "
            f"{', '.join(known) or 'none'}); install it, e.g. `pip install -e .`, and check `segzoo plugins`"
        )
    if info.status != "ok":
        raise LookupError(f"segzoo plugin {info.package!r} is {info.status}: {info.error}")
    return info.package or info.name


def plugin_checks(
    package: str | None = None,
    *,
    encoder: str | None = None,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    hub: bool = True,
) -> list[Check]:
    """Every contract check of everything ``package`` registered (all installed plugins when ``None``).

    ``package``: the distribution (``"segzoo-linknet"``), entry-point or import name (``"segzoo_linknet"``); an
    unknown or broken one raises ``LookupError``, so a parametrised test cannot pass by checking nothing.
    ``encoder``: the encoder of every architecture (default: each one's ``default_encoder``). ``settings``: extra
    keyword arguments per registered name, for :func:`encoder_checks`, :func:`architecture_checks`, :func:`loss_checks`,
    :func:`dataset_checks` (``root`` there) or :func:`catalog_checks`. ``hub=False`` leaves out the catalog
    entries' download from a local Hub.
    """
    settings = settings or {}
    dist = None if package is None else _installed(package)
    checks = [] if dist is None else [discovery_check(dist)]
    for name in _provided("encoders", dist):
        checks += encoder_checks(name, **settings.get(name, {}))
    for name in _provided("architectures", dist):
        checks += architecture_checks(name, **{"encoder": encoder, **settings.get(name, {})})
    for name in _provided("losses", dist):
        checks += loss_checks(name, **settings.get(name, {}))
    for name in _provided("datasets", dist):
        extra = dict(settings.get(name, {}))
        checks += dataset_checks(name, extra.pop("root", None), **extra)
    for name in _provided("models", dist):
        checks += catalog_checks(name, **{"hub": hub, **settings.get(name, {})})
    return checks


def parametrize_with_checks(
    package_or_checks: str | Iterable[Check], *, marks: Mapping[str, Any] | None = None, **kwargs: Any
) -> Any:
    """A ``pytest.mark.parametrize("check", ...)`` decorator: one test item per check, with readable ids.

    ``package_or_checks``: a plugin package (its checks come from :func:`plugin_checks` with ``kwargs``) or checks
    already made by the ``*_checks`` functions. The test calls ``check()``. ``marks``: pytest marks (one, or a list)
    for the checks whose name, ``kind:subject`` or id is the key, e.g. ``{"compile": pytest.mark.slow}``.
    """
    import pytest

    checks = (
        plugin_checks(package_or_checks, **kwargs) if isinstance(package_or_checks, str) else list(package_or_checks)
    )
    marks = marks or {}

    def marks_of(check: Check) -> list[Any]:
        found = [marks[k] for k in (check.name, f"{check.kind}:{check.subject}", check.id) if k in marks]
        return [m for mark in found for m in (mark if isinstance(mark, (list, tuple)) else [mark])]

    return pytest.mark.parametrize("check", [pytest.param(c, id=c.id, marks=marks_of(c)) for c in checks])


def run_checks(checks: Iterable[Check]) -> dict[str, str]:
    """Run ``checks``; returns ``{id: "passed" | "skipped: <why>" | "passed: <note>"}``, or raises one
    ``AssertionError`` listing every failed check (and chaining the first failure's traceback)."""
    outcomes: dict[str, str] = {}
    failures: dict[str, BaseException] = {}
    for check in checks:
        try:
            note = check()
        except SkipTest as skip:
            outcomes[check.id] = f"skipped: {skip}"
        except Exception as err:  # noqa: BLE001 - every failure is listed with its check's id
            failures[check.id] = err
        else:
            outcomes[check.id] = f"passed: {note}" if note else "passed"
    if failures:
        lines = [f"{len(failures)} of {len(failures) + len(outcomes)} contract checks failed:"]
        lines += [f"  {key}: {one_line(err)}" for key, err in failures.items()]
        raise AssertionError("\n".join(lines)) from next(iter(failures.values()))
    return outcomes


def check_plugin(package: str, **kwargs: Any) -> dict[str, str]:
    """Run every contract check of everything plugin ``package`` registered (see :func:`plugin_checks` for
    ``kwargs``) and raise one ``AssertionError`` listing the failures; returns each check's outcome."""
    return run_checks(plugin_checks(package, **kwargs))
