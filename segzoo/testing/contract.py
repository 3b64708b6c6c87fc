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

import contextlib
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest import SkipTest

import torch
import torch.nn.functional as F

if TYPE_CHECKING:  # pragma: no cover
    from segzoo.nn.model import SegmentationModel
    from segzoo.testing.hub_server import HubServer

__all__ = [
    "ARCHITECTURE_CHECKS",
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

#: Every check of :func:`architecture_checks`, in the order they run.
ARCHITECTURE_CHECKS = (
    "options", "config", "shapes", "batch1", "variants", "gradients", "predict", "save_load", "compile",
    "onnx",
)
#: Features an architecture may declare unsupported: ``register(..., unsupported={"onnx": "why"})``.
#: ``onnx_dynamic``: the ONNX export works at a fixed input size only (checked at that size).
OPTIONAL_FEATURES = ("compile", "onnx", "onnx_dynamic")
LOSS_MODES = ("binary", "multiclass", "multilabel")
DATASET_CHECKS = ("metadata", "attributes", "items", "transform")


@dataclass(frozen=True)
class Check:
    """One contract check of one registered thing: call it to run it.

    ``kind`` is ``"architecture"``, ``"encoder"``, ``"loss"``, ``"dataset"``, ``"catalog"`` or ``"plugin"``; ``subject`` the
    registered name (or the package); ``name`` the check. Calling it raises ``AssertionError`` on failure and
    ``unittest.SkipTest`` when it does not apply, or returns a note.
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


class _Shared:
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
                self._error = f"cannot be built: {_one_line(err)}"
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


def _one_line(err: BaseException, limit: int = 300) -> str:
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    if isinstance(err, AssertionError):
        return " ".join(lines)
    first = lines[0] if lines else ""
    return f"{type(err).__name__}: {first[:limit]}" + (" ..." if len(first) > limit or len(lines) > 1 else "")


def _skip(reason: str) -> Callable[[], None]:
    def run() -> None:
        raise SkipTest(reason)

    return run


def _registries():
    from segzoo._plugins import registries

    return registries()


# -- architectures ----------------------------------------------------------------------------------------------------
def architecture_checks(
    name: str,
    *,
    encoder: str | None = None,
    options: dict[str, Any] | None = None,
    sizes: Sequence[tuple[int, int]] = ((64, 64), (96, 128), (70, 90)),
    checks: Iterable[str] | None = None,
    skip: Iterable[str] = (),
    compile_backend: str = "aot_eager",
    atol: float = 1e-4,
    seed: int = 0,
) -> list[Check]:
    """The checks of architecture ``name`` built with ``encoder`` (default: its ``default_encoder``) and ``options``.

    ``checks`` selects among :data:`ARCHITECTURE_CHECKS` (default: all), ``skip`` removes some; a ``metadata`` check
    of the registration comes first. ``sizes`` are the input (height, width) tried; sizes the architecture cannot
    take must be refused with a ValueError that mentions "divisible". ``compile_backend``: "aot_eager" (cheap),
    "eager" or "inductor" (slow). The model is built once, by the first check, and shared by the others.
    """
    import segzoo

    selected = list(ARCHITECTURE_CHECKS if checks is None else checks)
    unknown = sorted(set(selected) - set(ARCHITECTURE_CHECKS))
    if unknown:
        raise ValueError(f"unknown checks {unknown}; choose from {list(ARCHITECTURE_CHECKS)}")
    selected = [c for c in selected if c not in set(skip)]
    entry = _registries().architectures.get(name)
    encoder = encoder or entry.metadata.get("default_encoder")
    options = dict(options or {})
    declared = entry.metadata.get("unsupported") or {}
    valid = isinstance(declared, dict) and all(
        k in OPTIONAL_FEATURES and isinstance(v, str) and v.strip() for k, v in declared.items())
    unsupported = declared if valid else {}

    def metadata() -> None:
        assert valid, (f"unsupported= must map features among {list(OPTIONAL_FEATURES)} to a non-empty reason "
                       f"string, got {declared!r}")

    def create(num_classes: int = 3, in_channels: int = 3) -> SegmentationModel:
        return segzoo.create(name, encoder=encoder, num_classes=num_classes, in_channels=in_channels, **options)

    def build() -> _ArchState:
        with _quiet(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return _ArchState(create(), sizes)

    run_now = [c for c in selected if c not in unsupported]
    shared = _Shared(build, len(run_now))

    def runner(check: str) -> Callable[[], str | None]:
        def run() -> str | None:
            with shared.use() as state, _quiet(), torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                return _ARCH_CHECKS[check](state, create=create, name=name, encoder=encoder, options=options,
                                           backend=compile_backend, atol=atol, unsupported=unsupported)

        return run

    subject = name if encoder == entry.metadata.get("default_encoder") else f"{name}({encoder})"
    result = [Check("architecture", subject, "metadata", metadata)]
    for check in selected:
        run = _skip(f"declared unsupported: {unsupported[check]}") if check in unsupported else runner(check)
        result.append(Check("architecture", subject, check, run))
    return result


class _ArchState:
    """The model under test, the sizes to try, and those divisible by its ``input_divisor`` (a fallback size
    when none is)."""

    def __init__(self, model: SegmentationModel, sizes: Sequence[tuple[int, int]]) -> None:
        self.model = model
        self.sizes = [tuple(s) for s in sizes]
        d = model.input_divisor
        self.valid = [s for s in self.sizes if s[0] % d == 0 and s[1] % d == 0]
        if not self.valid:
            self.valid = [(d * math.ceil(64 / d),) * 2]

    def input(self, batch: int, size: tuple[int, int] | None = None, channels: int = 3) -> torch.Tensor:
        return torch.randn(batch, channels, *(size or self.valid[0]))


def _expect_logits(out: Any, batch: int, classes: int, size: tuple[int, int], what: str) -> None:
    assert isinstance(out, torch.Tensor), f"{what} returned {type(out).__name__}, expected a tensor of logits"
    expected = (batch, classes, *size)
    assert tuple(out.shape) == expected, f"{what} gave logits of shape {tuple(out.shape)}, expected {expected}"
    assert out.dtype == torch.float32, f"{what} gave {out.dtype} logits, expected float32"
    assert torch.isfinite(out).all(), f"{what} gave non-finite logits"


def _check_options(state: _ArchState, *, create: Callable, **_: Any) -> None:
    import segzoo
    from segzoo.nn.model import SegmentationModel

    model = state.model
    assert isinstance(model, SegmentationModel), f"build returned {type(model).__name__}, not a SegmentationModel"
    assert sum(p.numel() for p in model.parameters()) > 0, "the model has no parameters"
    for prefix, _module in model.named_children():
        assert prefix in ("encoder", "decoder", "head", "aux_head"), (
            f"top-level module {prefix!r}: state_dict keys must start with encoder./decoder./head./aux_head."
        )
    try:
        segzoo.create(model.config["architecture"], encoder=model.config["encoder"], num_classes=2,
                      __not_an_option__=1)
    except TypeError:
        return
    except Exception as err:  # noqa: BLE001
        raise AssertionError(f"an unknown option raised {type(err).__name__}, expected TypeError: {err}") from None
    raise AssertionError("an unknown option was accepted silently; the builder must raise TypeError "
                         "(keyword-only parameters, no **kwargs swallowing)")


def _check_config(state: _ArchState, *, name: str, encoder: str, options: dict, **_: Any) -> None:
    config = state.model.config
    expected = {"architecture": name, "encoder": encoder, "num_classes": 3, "in_channels": 3, "options": options}
    for key, value in expected.items():
        assert config.get(key) == value, f"model.config[{key!r}] is {config.get(key)!r}, expected {value!r}"
    try:
        json.loads(json.dumps(config))
    except (TypeError, ValueError) as err:
        raise AssertionError(f"model.config is not JSON-serialisable (save_pretrained writes it): {err}") from None


def _check_shapes(state: _ArchState, **_: Any) -> str | None:
    model = state.model.eval()
    d = model.input_divisor
    refused = []
    with torch.no_grad():
        for size in state.sizes:
            divisible = size[0] % d == 0 and size[1] % d == 0
            try:
                out = model(state.input(2, size))
            except ValueError as err:
                if divisible or "divisible" not in str(err):
                    raise AssertionError(
                        f"input {size[0]}x{size[1]} (input_divisor {d}) raised ValueError: {err}"
                        + ("" if divisible else " (a refused size must say 'divisible')")
                    ) from None
                refused.append(f"{size[0]}x{size[1]}")
                continue
            _expect_logits(out, 2, 3, size, f"input {size[0]}x{size[1]}")
        if model.aux_head is not None:
            size = state.valid[0]
            result = model.forward_with_aux(state.input(2, size))
            assert set(result) == {"out", "aux"}, f"forward_with_aux returned keys {sorted(result)}"
            _expect_logits(result["aux"], 2, 3, size, "forward_with_aux()['aux']")
    return f"refuses {', '.join(refused)} (not divisible by {d})" if refused else None


def _check_batch1(state: _ArchState, **_: Any) -> str | None:
    model = state.model
    with torch.no_grad():
        _expect_logits(model.eval()(state.input(1)), 1, 3, state.valid[0], "eval forward with batch size 1")
    model.train()
    try:
        model(state.input(1)).mean().backward()
    except ValueError as err:
        if "more than 1 value per channel" in str(err) or "batch" in str(err).lower():
            return f"training with batch size 1 raises ValueError ({str(err).splitlines()[0]}): train with batch >= 2"
        raise
    finally:
        model.zero_grad(set_to_none=True)
        model.eval()
    return None


def _check_variants(state: _ArchState, *, create: Callable, **_: Any) -> None:
    """1 and 4 input channels, 1 and 150 classes (two builds: (1, 150) and (4, 1))."""
    for channels, classes in ((1, 150), (4, 1)):
        what = f"in_channels={channels}, num_classes={classes}"
        model = create(num_classes=classes, in_channels=channels).eval()
        assert model.num_classes == classes, f"{what}: model.num_classes is {model.num_classes}"
        with torch.no_grad():
            _expect_logits(model(state.input(1, channels=channels)), 1, classes, state.valid[0], what)
            try:
                model(state.input(1, channels=channels + 1))
            except (ValueError, RuntimeError):
                pass
            else:
                raise AssertionError(f"{what}: a {channels + 1}-channel input was accepted")


def _check_gradients(state: _ArchState, **_: Any) -> None:
    model = state.model.train()
    x = state.input(2)
    target = torch.randint(0, 3, (2, *x.shape[-2:]))
    try:
        outputs = model.forward_with_aux(x)
        loss = F.cross_entropy(outputs["out"], target)
        if "aux" in outputs:
            loss = loss + 0.4 * F.cross_entropy(outputs["aux"], target)
        loss.backward()
        missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
        bad = [n for n, p in model.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
    finally:
        model.zero_grad(set_to_none=True)
        model.eval()
    assert not missing, (f"{len(missing)} parameters get no gradient from the loss on the logits "
                         f"(unused layers?), e.g. {missing[:4]}")
    assert not bad, f"{len(bad)} parameters get non-finite gradients, e.g. {bad[:4]}"


def _check_predict(state: _ArchState, **_: Any) -> None:
    model = state.model.train()
    x = state.input(2)
    pred = model.predict(x)
    assert model.training, "predict() did not restore training mode"
    model.eval()
    assert pred.shape == (2, *x.shape[-2:]), f"predict() gave shape {tuple(pred.shape)}, expected {(2, *x.shape[-2:])}"
    assert pred.dtype == torch.int64, f"predict() gave {pred.dtype}, expected int64 class indices"
    with torch.no_grad():
        assert torch.equal(pred, model(x).argmax(1)), "predict() differs from the eval logits' argmax"


def _check_save_load(state: _ArchState, **_: Any) -> None:
    import segzoo

    model = state.model.eval()
    with torch.no_grad():  # non-default BatchNorm statistics, so buffers are compared too
        for buffer_name, buffer in model.named_buffers():
            if buffer.is_floating_point():
                buffer.add_(torch.rand_like(buffer) * 0.1)
    with tempfile.TemporaryDirectory(prefix="segzoo-contract-") as tmp:
        model.save_pretrained(tmp)
        loaded = segzoo.load(tmp).eval()
    expected, got = model.state_dict(), loaded.state_dict()
    assert list(got) == list(expected), (
        f"segzoo.load(save_pretrained dir) has other state_dict keys: "
        f"{sorted(set(got) ^ set(expected))[:4]} (the config does not rebuild the same model?)"
    )
    differ = [k for k in expected if not torch.equal(expected[k], got[k])]
    assert not differ, f"{len(differ)} tensors differ after the safetensors round trip, e.g. {differ[:3]}"
    x = state.input(1)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), atol=1e-6, rtol=0,
                                   msg=lambda m: f"reloaded model gives other logits: {m}")


def _check_compile(state: _ArchState, *, backend: str, atol: float, **_: Any) -> str | None:
    import torch._dynamo

    model = state.model.eval()
    x = state.input(1)
    note = None
    torch._dynamo.reset()
    try:
        with torch.no_grad():
            expected = model(x)
            try:
                got = torch.compile(model, backend=backend, fullgraph=True)(x)
            except Exception as err:  # noqa: BLE001 - graph breaks are allowed, but noted
                torch._dynamo.reset()
                got = torch.compile(model, backend=backend)(x)
                note = f"compiles with graph breaks only: {str(err).splitlines()[0][:200]}"
    finally:
        torch._dynamo.reset()
    torch.testing.assert_close(got, expected, atol=atol, rtol=atol,
                               msg=lambda m: f"torch.compile(backend={backend!r}) output differs from eager: {m}")
    return note


def _check_onnx(state: _ArchState, *, atol: float, unsupported: dict, **_: Any) -> str | None:
    try:
        import onnxruntime
    except ImportError:
        raise SkipTest("onnxruntime is not installed (pip install onnx onnxruntime)") from None
    model = state.model.eval()
    first = state.valid[0]
    dynamic = "onnx_dynamic" not in unsupported
    second = next((s for s in state.valid if s != first), (first[0] * 2, first[1] * 2)) if dynamic else first
    axes = {0: "batch", 2: "height", 3: "width"} if dynamic else {0: "batch"}
    buffer = io.BytesIO()
    try:
        torch.onnx.export(model, (state.input(1, first),), buffer, dynamo=False, input_names=["image"],
                          output_names=["logits"], dynamic_axes={"image": axes, "logits": axes})
    except Exception as err:
        raise AssertionError(
            f"torch.onnx.export (TorchScript exporter, {'dynamic' if dynamic else 'fixed'} height/width) failed: "
            f"{_one_line(err)}. If the design cannot be exported, declare it: "
            "register(..., unsupported={'onnx': '<reason>'}) or {'onnx_dynamic': '<reason>'} for fixed sizes only"
        ) from None
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 4  # errors are raised and reported below; keep onnxruntime's own log quiet
    session = onnxruntime.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])
    for size, batch in ((first, 1), (second, 2)):
        x = state.input(batch, size)
        try:
            (got,) = session.run(None, {"image": x.numpy()})
        except Exception as err:
            raise AssertionError(
                f"the ONNX model exported at {first[0]}x{first[1]} fails at {size[0]}x{size[1]} (batch {batch}): "
                f"{_one_line(err)}. Are sizes baked in as constants (e.g. int(x.shape[-1]) in forward)? Otherwise "
                "declare unsupported={'onnx_dynamic': '<reason>'}"
            ) from None
        with torch.no_grad():
            expected = model(x)
        torch.testing.assert_close(
            torch.from_numpy(got), expected, atol=atol, rtol=atol,
            msg=lambda m, s=size: f"ONNX output at {s[0]}x{s[1]} differs from eager: {m}",
        )
    return None if dynamic else f"fixed input size only ({unsupported['onnx_dynamic']})"


_ARCH_CHECKS: dict[str, Callable[..., str | None]] = {
    "options": _check_options,
    "config": _check_config,
    "shapes": _check_shapes,
    "batch1": _check_batch1,
    "variants": _check_variants,
    "gradients": _check_gradients,
    "predict": _check_predict,
    "save_load": _check_save_load,
    "compile": _check_compile,
    "onnx": _check_onnx,
}


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the tracer/exporter warnings the checks provoke on purpose."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# -- encoders ---------------------------------------------------------------------------------------------------------
def encoder_checks(name: str, *, size: tuple[int, int] = (64, 96), seed: int = 0) -> list[Check]:
    """The check of a registered (non-timm) encoder: ``create_encoder(name, in_channels=c)`` for 3 and 4 channels
    is a :class:`segzoo.nn.Encoder` whose ``forward`` gives one map per ``out_channels``/``reductions`` entry,
    finest first, with those channels and the input size divided by the reduction (rounded either way)."""

    def features() -> None:
        from segzoo.nn import Encoder, create_encoder

        for channels in (3, 4):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                encoder = create_encoder(name, in_channels=channels).eval()
            assert isinstance(encoder, Encoder), f"build returned {type(encoder).__name__}, not a segzoo.nn.Encoder"
            assert len(encoder.out_channels) == len(encoder.reductions) > 0, (
                f"out_channels {encoder.out_channels} and reductions {encoder.reductions} must pair up")
            assert list(encoder.reductions) == sorted(encoder.reductions), f"reductions {encoder.reductions}: finest first"
            with torch.no_grad():
                maps = encoder(torch.randn(2, channels, *size))
            assert len(maps) == len(encoder.out_channels), f"{len(maps)} maps for {len(encoder.out_channels)} out_channels"
            for i, (x, c, r) in enumerate(zip(maps, encoder.out_channels, encoder.reductions)):
                assert x.shape[:2] == (2, c), f"map {i} (in_channels={channels}) has shape {tuple(x.shape)}, expected {c} channels"
                assert all(abs(got - side / r) < 1 for got, side in zip(x.shape[-2:], size)), (
                    f"map {i} is {tuple(x.shape[-2:])} for a {size} input, but its reduction is {r}")

    return [Check("encoder", name, "features", features)]


# -- losses -------------------------------------------------------------------------------------------------------------
def loss_checks(
    name: str, *, options: dict[str, Any] | None = None, modes: Iterable[str] | None = None,
    num_classes: int = 4, seed: int = 0,
) -> list[Check]:
    """The checks of loss ``name``: its registration, then one per mode it declares (``modes=``, default
    ``("multiclass",)``).

    Per mode: ``create_loss(name, mode=mode, **options)`` is an ``nn.Module``; ``loss(logits, target)`` is a finite
    float scalar with a finite, non-zero gradient; confident correct logits score lower than confident wrong ones;
    and (multiclass, binary) pixels equal to the loss's ``ignore_index`` (default 255) change neither the value nor
    get any gradient. Binary mode takes targets ``(N, H, W)`` and ``(N, 1, H, W)`` alike.
    """
    entry = _registries().losses.get(name)
    declared = tuple(entry.metadata.get("modes") or ("multiclass",))

    def metadata() -> None:
        wrong = [m for m in declared if m not in LOSS_MODES]
        assert not wrong, f"modes={declared!r}: unknown {wrong}; use {list(LOSS_MODES)}"

    def runner(mode: str) -> Callable[[], str | None]:
        def run() -> str | None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                return _check_loss_mode(name, mode, dict(options or {}), num_classes)

        return run

    return [Check("loss", name, "metadata", metadata),
            *(Check("loss", name, mode, runner(mode)) for mode in modes or declared)]


def _loss_inputs(mode: str, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    n, h, w = 2, 12, 16
    if mode == "binary":
        return torch.randn(n, 1, h, w) * 2, torch.randint(0, 2, (n, h, w))
    if mode == "multilabel":
        return torch.randn(n, num_classes, h, w) * 2, torch.randint(0, 2, (n, num_classes, h, w)).float()
    return torch.randn(n, num_classes, h, w) * 2, torch.randint(0, num_classes, (n, h, w))


def _perfect_logits(mode: str, target: torch.Tensor, num_classes: int, correct: bool) -> torch.Tensor:
    if mode == "multiclass":
        labels = target if correct else (target + 1) % num_classes
        return F.one_hot(labels, num_classes).permute(0, 3, 1, 2).float() * 20 - 10
    positive = target.float() if correct else 1 - target.float()
    return (positive * 20 - 10).reshape(target.shape[0], -1, *target.shape[-2:])


def _check_loss_mode(name: str, mode: str, options: dict, num_classes: int) -> str | None:
    import segzoo

    loss = segzoo.create_loss(name, mode=mode, **options)
    assert isinstance(loss, torch.nn.Module), f"mode={mode!r}: create_loss returned {type(loss).__name__}, not an nn.Module"
    logits, target = _loss_inputs(mode, num_classes)
    logits.requires_grad_(True)
    value = loss(logits, target)
    assert isinstance(value, torch.Tensor) and value.dim() == 0, (
        f"mode={mode!r}: returned {type(value).__name__} of shape {tuple(getattr(value, 'shape', ()))}, "
        "expected a scalar tensor"
    )
    assert value.is_floating_point() and torch.isfinite(value), f"mode={mode!r}: value {value} is not finite"
    assert value.requires_grad, f"mode={mode!r}: the loss is not differentiable (no grad_fn)"
    value.backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all(), f"mode={mode!r}: non-finite gradient"
    assert logits.grad.abs().sum() > 0, f"mode={mode!r}: the gradient is zero everywhere"
    with torch.no_grad():
        good = loss(_perfect_logits(mode, target, num_classes, True), target)
        bad = loss(_perfect_logits(mode, target, num_classes, False), target)
    assert good < bad, f"mode={mode!r}: correct logits score {float(good):.4g}, wrong ones {float(bad):.4g}"
    if mode == "binary":
        other = loss(logits.detach(), target.unsqueeze(1).float())
        torch.testing.assert_close(other, value.detach(), msg=lambda m: f"binary (N,1,H,W) float target: {m}")
    if mode in ("multiclass", "binary"):
        ignore = getattr(loss, "ignore_index", 255)
        if ignore is None:
            return "ignore_index is None for these options: not checked"
        _check_ignore(loss, mode, logits.detach(), target, ignore)
    return None


def _check_ignore(loss, mode: str, logits: torch.Tensor, target: torch.Tensor, ignore: int) -> None:
    ignored = torch.rand(target.shape) < 0.3
    target = target.masked_fill(ignored, ignore)
    changed = torch.where(ignored.unsqueeze(1), torch.randn_like(logits) * 5, logits)
    a = logits.clone().requires_grad_(True)
    value = loss(a, target)
    value.backward()
    assert torch.isfinite(value), f"mode={mode!r}: non-finite value with ignored pixels"
    leaked = a.grad.abs().amax(1)[ignored].max()
    assert leaked == 0, f"mode={mode!r}: pixels with target {ignore} (ignore_index) get gradient {float(leaked):.3g}"
    with torch.no_grad():
        torch.testing.assert_close(loss(changed, target), value.detach(), msg=lambda m: (
            f"mode={mode!r}: the logits at ignored pixels change the loss: {m}"))


# -- datasets -----------------------------------------------------------------------------------------------------------
def dataset_checks(
    name: str, root: str | Path | Callable[[Path], str | Path] | None, *, split: str | None = None,
    options: dict[str, Any] | None = None, max_items: int = 3,
) -> list[Check]:
    """The checks of dataset ``name`` read from ``root`` (first ``max_items`` items).

    ``root`` is a folder, or a callable that writes example data into the empty folder it is given and returns the
    root (e.g. the template's ``make_synthetic``); ``None`` skips all but the registration check.
    Registration metadata: ``classes``, ``ignore_index``, ``splits``, ``homepage``, ``license``, ``palette``.
    Instance: the same ``classes``/``ignore_index``/``palette``, ``num_classes``, ``split``, ``files`` (one
    (image, mask) path pair per item, or empty for a synthetic dataset). Items: ``(PIL image RGB or L, PIL mask L or
    I)`` of the same size, mask values in ``range(num_classes)`` or ``ignore_index``; a joint ``transform(image,
    mask)`` is applied to both, and ``ToTensor()`` + ``Normalize()`` give ``(float32 (C, H, W), int64 (H, W))``.
    """
    import segzoo

    meta = _registries().datasets.get(name).metadata
    splits = list(meta.get("splits") or ["train"])
    split = split or ("train" if "train" in splits else splits[0])
    options = dict(options or {})
    folder: list[tempfile.TemporaryDirectory] = []

    def data_root() -> Path:
        if not callable(root):
            return Path(root)
        folder.append(tempfile.TemporaryDirectory(prefix=f"segzoo-contract-{name}-"))
        return Path(root(Path(folder[-1].name)))

    def build() -> tuple[Path, Any]:
        path = data_root()
        return path, segzoo.create_dataset(name, path, split=split, **options)

    def metadata() -> None:
        missing = [k for k in ("classes", "ignore_index", "splits", "homepage", "license", "palette") if k not in meta]
        assert not missing, f"register(...) lacks metadata {missing}"
        assert meta["classes"] and all(isinstance(c, str) for c in meta["classes"]), "classes must be names"
        assert meta["ignore_index"] is None or isinstance(meta["ignore_index"], int), "ignore_index: int or None"
        assert len(meta["palette"]) == len(meta["classes"]), (
            f"{len(meta['palette'])} palette colours for {len(meta['classes'])} classes")
        assert all(len(c) == 3 and all(0 <= v <= 255 for v in c) for c in meta["palette"]), "palette: [r, g, b]"

    def attributes(path: Path, dataset: Any) -> str | None:
        for attr, value in (("classes", list(meta.get("classes", []))), ("ignore_index", meta.get("ignore_index")),
                            ("split", split), ("num_classes", len(meta.get("classes", [])))):
            got = list(getattr(dataset, attr)) if attr == "classes" else getattr(dataset, attr, "<missing>")
            assert got == value, f"dataset.{attr} is {got!r}, expected {value!r}"
        assert [list(c) for c in dataset.palette] == [list(c) for c in meta.get("palette", [])], "dataset.palette"
        assert len(dataset) > 0, f"split {split!r} under {path} is empty"
        assert len(dataset.files) in (0, len(dataset)), f"{len(dataset.files)} files for {len(dataset)} items"
        assert all(len(pair) == 2 and all(Path(p).exists() for p in pair) for pair in dataset.files[:max_items]), (
            "dataset.files must hold existing (image_path, mask_path) pairs")
        return "no files (a synthetic dataset)" if len(dataset.files) == 0 else None

    def items(path: Path, dataset: Any) -> None:
        for i in range(min(max_items, len(dataset))):
            _check_item(dataset, i)

    def transform(path: Path, dataset: Any) -> None:
        from segzoo.data.transforms import Compose, Normalize, ToTensor

        calls = []

        def record(image, mask):
            calls.append((image.size, mask.size))
            return image, mask

        channels = len(dataset[0][0].getbands())  # RGB or L: normalise each channel
        dataset = segzoo.create_dataset(name, path, split=split, **options,
                                        transform=Compose([record, ToTensor(), Normalize([0.5] * channels,
                                                                                         [0.25] * channels)]))
        image, mask = dataset[0]
        assert calls, "the transform was not called"
        assert isinstance(image, torch.Tensor) and image.dtype == torch.float32 and image.dim() == 3, (
            f"transformed image: {type(image).__name__} {getattr(image, 'dtype', '')}, expected float32 (C, H, W)")
        assert isinstance(mask, torch.Tensor) and mask.dtype == torch.int64 and mask.shape == image.shape[1:], (
            f"transformed mask: {getattr(mask, 'dtype', type(mask))} {tuple(getattr(mask, 'shape', ()))}, "
            f"expected int64 {tuple(image.shape[1:])}")

    shared = _Shared(build, 3)

    def runner(check: Callable[[Path, Any], str | None]) -> Callable[[], str | None]:
        def run() -> str | None:
            if root is None:
                raise SkipTest(f"no data for dataset {name!r}: pass its root (or a callable that writes example "
                               "data), e.g. settings={name: {'root': make_synthetic}}")
            try:
                with shared.use() as (path, dataset):
                    return check(path, dataset)
            finally:
                if shared._users <= 0 and folder:  # the last check removes the example data
                    folder.pop().cleanup()

        return run

    return [Check("dataset", name, "metadata", metadata),
            *(Check("dataset", name, c.__name__, runner(c)) for c in (attributes, items, transform))]


def _check_item(dataset, i: int) -> None:
    import numpy as np
    from PIL import Image

    image, mask = dataset[i]
    assert isinstance(image, Image.Image) and image.mode in ("RGB", "L"), (
        f"item {i}: image is {type(image).__name__} {getattr(image, 'mode', '')}, expected a PIL image, RGB or L")
    assert isinstance(mask, Image.Image) and mask.mode in ("L", "I"), (
        f"item {i}: mask is {type(mask).__name__} {getattr(mask, 'mode', '')}, expected a PIL image, L or I")
    assert image.size == mask.size, f"item {i}: image {image.size} and mask {mask.size} differ in size"
    values = set(np.unique(np.asarray(mask)).tolist())
    allowed = set(range(dataset.num_classes)) | ({dataset.ignore_index} if dataset.ignore_index is not None else set())
    assert values <= allowed, f"item {i}: mask values {sorted(values - allowed)[:5]} are neither classes nor ignore_index"


# -- catalog entries ----------------------------------------------------------------------------------------------------
def _entry(entry_or_name: dict | str) -> dict:
    if isinstance(entry_or_name, dict):
        return entry_or_name
    return _registries().models.get(entry_or_name).obj


def catalog_checks(entry_or_name: dict | str, *, build: bool = True, hub: bool = True) -> list[Check]:
    """The checks of a catalog entry (a dict, or a registered name).

    ``schema``: valid against the registry schema; ``architecture``: registered, and ``requires`` names the package
    that provides it or its converter; ``converter``: one exists for the weights format; ``preprocessing``: one mean
    and std per input channel; ``build`` (optional): the model built without weights has ``num_classes`` outputs for
    ``in_channels`` inputs; ``hub`` (optional, Hub-hosted ``"segzoo"``-format weights): random weights published
    where the entry says on a local Hub server load by name (:func:`check_hub_entry` in
    :func:`segzoo.testing.hub.sandbox`).
    """
    import segzoo

    entry = _entry(entry_or_name)
    name = str(entry.get("name", "?"))

    def schema() -> None:
        from segzoo._catalog import validate_entry
        from segzoo.errors import SegzooError

        try:
            validate_entry(entry, "the catalog entry")
        except SegzooError as err:
            raise AssertionError(str(err)) from None

    def architecture() -> None:
        regs = _registries()
        arch = entry["architecture"]
        assert arch in regs.architectures, (
            f"architecture {arch!r} is not registered; is {entry['requires']!r} installed? (segzoo plugins)")
        providers = {regs.architectures.get(arch).provider}
        fmt = entry["weights"]["format"]
        for key in (f"{fmt}:{arch}", fmt):
            if key in regs.converters:
                providers.add(regs.converters.get(key).provider)
        assert entry["requires"] in providers, (
            f"requires={entry['requires']!r}, but {arch!r} and its converter come from {sorted(providers)}")

    def converter() -> None:
        from segzoo.hub.loading import converter_for

        converter_for(entry)

    def preprocessing() -> None:
        pre, channels = entry["preprocessing"], entry.get("in_channels", 3)
        assert len(pre["mean"]) == len(pre["std"]) == channels, (
            f"preprocessing mean/std have {len(pre['mean'])}/{len(pre['std'])} values for {channels} channels")

    def built() -> None:
        regs, channels = _registries(), entry.get("in_channels", 3)
        with torch.random.fork_rng(devices=[]), _quiet():
            torch.manual_seed(0)
            registered = name in regs.models and regs.models.get(name).obj is entry
            model = segzoo.load(name, pretrained=False) if registered else segzoo.create(
                entry["architecture"], encoder=entry["encoder"], num_classes=entry["num_classes"],
                in_channels=channels, **entry.get("options", {}))
        assert model.num_classes == entry["num_classes"], f"model has {model.num_classes} classes"
        d = model.input_divisor
        size = (d * math.ceil(64 / d),) * 2
        with torch.no_grad():
            _expect_logits(model.eval()(torch.randn(1, channels, *size)), 1, entry["num_classes"], size,
                           "the model built without weights")

    def from_hub() -> None:
        weights = entry.get("weights", {})
        if "hub" not in weights:
            raise SkipTest("the weights are not on the Hugging Face Hub")
        if weights.get("format") != "segzoo":
            raise SkipTest(f"{weights.get('format')!r} weights: publish a state dict in that layout with "
                           "check_hub_entry(server, name, state_dict=...)")
        from segzoo.testing.hub import sandbox

        with sandbox() as server:
            check_hub_entry(server, entry_or_name)

    checks = [Check("catalog", name, "schema", schema), Check("catalog", name, "architecture", architecture),
              Check("catalog", name, "converter", converter), Check("catalog", name, "preprocessing", preprocessing)]
    if build:
        checks.append(Check("catalog", name, "build", built))
    if hub:
        checks.append(Check("catalog", name, "hub", from_hub))
    return checks


def publish_entry_weights(
    server: HubServer, entry_or_name: dict | str, *, state_dict: dict[str, torch.Tensor] | None = None, seed: int = 0
) -> tuple[dict, dict[str, torch.Tensor]]:
    """Publish weights for a Hub-hosted catalog entry on a local :class:`HubServer`, where the entry says.

    ``state_dict``: the file's tensors in the entry's weights ``format``; default (format ``"segzoo"`` only) the
    state of a freshly built, randomly initialised model. Returns ``(entry, state_dict)``: the entry as published,
    which is the original unless it pins a sha256 or a commit id (random weights cannot match those: the copy has
    the published file's sha256 and commit instead).
    """
    import hashlib

    import segzoo

    entry = _entry(entry_or_name)
    weights = entry["weights"]
    if "hub" not in weights:
        raise ValueError(f"{entry['name']!r} has URL weights, not Hub weights")
    hub = weights["hub"]
    if state_dict is None:
        if weights["format"] != "segzoo":
            raise ValueError(f"{entry['name']!r} has {weights['format']!r} weights: pass state_dict= in that layout")
        with torch.random.fork_rng(devices=[]), _quiet():
            torch.manual_seed(seed)
            model = segzoo.create(entry["architecture"], encoder=entry["encoder"], num_classes=entry["num_classes"],
                                  in_channels=entry.get("in_channels", 3), **entry.get("options", {}))
        state_dict = model.state_dict()
    state_dict = {k: v.detach().clone().contiguous() for k, v in state_dict.items()}
    if hub["filename"].endswith((".pth", ".pt", ".bin", ".ckpt")):
        buffer = io.BytesIO()
        torch.save(state_dict, buffer)
        data = buffer.getvalue()
    else:
        from safetensors.torch import save

        data = save(state_dict)
    revision = hub["revision"]
    is_commit = len(revision) == 40 and all(c in "0123456789abcdef" for c in revision)
    server.create_repo(hub["repo_id"], exist_ok=True)
    branch = "main" if is_commit or revision == "main" else revision
    if branch != "main" and branch not in _branches(server, hub["repo_id"]):
        server.create_branch(hub["repo_id"], branch)
    commit = server.commit(hub["repo_id"], {hub["filename"]: data}, branch=branch,
                           message=f"segzoo.testing: weights for {entry['name']}")
    sha = hashlib.sha256(data).hexdigest()
    if is_commit or (weights.get("sha256") and not sha.startswith(weights["sha256"])):
        entry = json.loads(json.dumps(entry))
        entry["weights"]["sha256"] = sha
        entry["weights"]["hub"]["revision"] = commit
    return entry, state_dict


def _branches(server: HubServer, repo_id: str) -> set[str]:
    try:
        return set(server._repos[repo_id].branches)  # noqa: SLF001 - HubServer has no public branch listing
    except (AttributeError, KeyError):
        return {"main"}


def check_hub_entry(
    server: HubServer, entry_or_name: dict | str, *, state_dict: dict[str, torch.Tensor] | None = None
) -> SegmentationModel:
    """Publish weights for a Hub-hosted catalog entry on ``server`` and check that loading it by name downloads
    them, verifies them, converts them and gives a model that runs. Returns the loaded model.

    Use with the ``hub_server`` fixture (``pytest_plugins = ["segzoo.testing.pytest_plugin"]``), which points
    ``huggingface_hub`` at the server. An entry that pins a sha256 or a commit is loaded from the published copy
    (see :func:`publish_entry_weights`) through the same code path as ``segzoo.load(name)``.
    """
    import segzoo
    from huggingface_hub import constants

    from segzoo._plugins import registries
    from segzoo.hub import loading

    if constants.ENDPOINT.rstrip("/") != server.url:
        raise AssertionError(f"huggingface_hub talks to {constants.ENDPOINT}, not to the HubServer at {server.url}: "
                             "use the hub_server fixture (segzoo.testing.pytest_plugin)")
    original = _entry(entry_or_name)
    entry, state = publish_entry_weights(server, original, state_dict=state_dict)
    server.clear_requests()
    filename = entry["weights"]["hub"]["filename"]
    regs = registries()
    by_name = entry is original and original["name"] in regs.models and regs.models.get(original["name"]).obj is original
    with _quiet():
        model = segzoo.load(entry["name"]) if by_name else loading.load_from_catalog(entry, pretrained=True)
    asked = [r for r in server.requests if filename in r.path]
    assert asked, f"loading {entry['name']!r} did not ask the HubServer for {filename}"
    assert model.num_classes == entry["num_classes"], f"loaded model has {model.num_classes} classes"
    if entry["weights"]["format"] == "segzoo":
        loaded = model.state_dict()
        differ = [k for k in state if k not in loaded or not torch.equal(loaded[k], state[k])]
        assert not differ, f"{len(differ)} tensors differ from the published ones, e.g. {differ[:3]}"
    d = model.input_divisor
    size = (d * math.ceil(64 / d),) * 2
    with torch.no_grad():
        _expect_logits(model.eval()(torch.randn(1, entry.get("in_channels", 3), *size)), 1, entry["num_classes"],
                       size, f"{entry['name']!r} loaded from the Hub")
    return model


# -- a whole plugin -----------------------------------------------------------------------------------------------------
_DISCOVERY = """
import json, sys
import segzoo
from segzoo._plugins import registries
for listing in ("list_models", "list_architectures", "list_losses", "list_datasets"):
    getattr(segzoo, listing)()
info = registries().plugin(sys.argv[1])
print(json.dumps({"status": info and info.status, "error": info and info.error,
                  "heavy": sorted(m for m in ("torch", "timm", "torchvision") if m in sys.modules)}))
"""


def discovery_check(package: str, *, timeout: float = 120) -> Check:
    """``package``, alone with segzoo (``SEGZOO_PLUGINS``), is discovered without error and without importing torch.

    Why: every segzoo command discovers every installed plugin; a plugin whose hooks import its model modules makes
    ``segzoo list`` pay for ``import torch`` (1.5 s). Register ``"package.module:function"`` strings instead.
    Runs in a fresh Python process.
    """

    def run() -> None:
        env = {**os.environ, "SEGZOO_PLUGINS": package}
        env.pop("SEGZOO_DISABLE_PLUGINS", None)
        result = subprocess.run([sys.executable, "-c", _DISCOVERY, package], capture_output=True, text=True,
                                env=env, timeout=timeout)
        assert result.returncode == 0, f"discovery with only {package} failed: {result.stderr.strip()[-600:]}"
        found = json.loads(result.stdout.strip().splitlines()[-1])
        assert found["status"] == "ok", (f"{package} is {found['status']}: {found['error']}" if found["status"] else
                                         f"{package} is not installed (no entry point in the 'segzoo' group)")
        assert not found["heavy"], (
            f"discovering {package} imported {', '.join(found['heavy'])}: register 'package.module:function' strings "
            "(resolved on first use) instead of importing model modules in the hooks or at module level")

    return Check("plugin", package, "discovery", run)


def _provided(kind: str, package: str | None) -> list[str]:
    regs = _registries()
    if package is None:
        return regs.kind(kind).names()
    return [e.name for e in regs.kind(kind) if e.provider == package]


def _installed(package: str) -> str:
    """The distribution name of an installed, working plugin given by distribution, entry point or import name."""
    regs = _registries()
    info = regs.plugin(package) or next(
        (p for p in regs.plugins if p.package and p.package.replace("-", "_") == package.replace("-", "_")), None)
    if info is None:
        known = sorted(p.package or p.name for p in regs.plugins)
        raise LookupError(
            f"{package!r} is not an installed segzoo plugin (no entry point in the 'segzoo' group; installed: "
            f"{', '.join(known) or 'none'}); install it, e.g. `pip install -e .`, and check `segzoo plugins`")
    if info.status != "ok":
        raise LookupError(f"segzoo plugin {info.package!r} is {info.status}: {info.error}")
    return info.package or info.name


def plugin_checks(
    package: str | None = None, *, encoder: str | None = None, settings: Mapping[str, Mapping[str, Any]] | None = None,
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


def parametrize_with_checks(package_or_checks: str | Iterable[Check], **kwargs: Any) -> Any:
    """A ``pytest.mark.parametrize("check", ...)`` decorator: one test item per check, with readable ids.

    ``package_or_checks``: a plugin package (its checks come from :func:`plugin_checks` with ``kwargs``) or checks
    already made by the ``*_checks`` functions. The test calls ``check()``.
    """
    import pytest

    checks = plugin_checks(package_or_checks, **kwargs) if isinstance(package_or_checks, str) else list(
        package_or_checks)
    return pytest.mark.parametrize("check", checks, ids=[c.id for c in checks])


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
        lines += [f"  {key}: {_one_line(err)}" for key, err in failures.items()]
        raise AssertionError("\n".join(lines)) from next(iter(failures.values()))
    return outcomes


def check_plugin(package: str, **kwargs: Any) -> dict[str, str]:
    """Run every contract check of everything plugin ``package`` registered (see :func:`plugin_checks` for
    ``kwargs``) and raise one ``AssertionError`` listing the failures; returns each check's outcome."""
    return run_checks(plugin_checks(package, **kwargs))
