"""The checks of an architecture: built with an encoder, it must meet the model contract (docs/testing.md)."""

from __future__ import annotations

import io
import json
import math
import tempfile
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from unittest import SkipTest

import torch
import torch.nn.functional as F

import segzoo
from segzoo.nn.model import SegmentationModel
from segzoo.testing._checks.base import Check, Shared, expect_logits, one_line, quiet, registries, skipped

__all__ = ["ARCHITECTURE_CHECKS", "OPTIONAL_FEATURES", "architecture_checks"]

#: Every check of :func:`architecture_checks`, in the order they run.
ARCHITECTURE_CHECKS = (
    "options",
    "config",
    "shapes",
    "batch1",
    "variants",
    "gradients",
    "predict",
    "save_load",
    "compile",
    "onnx",
)
#: Features an architecture may declare unsupported: ``register(..., unsupported={"onnx": "why"})``.
#: ``onnx_dynamic``: the ONNX export works at a fixed input size only (checked at that size).
OPTIONAL_FEATURES = ("compile", "onnx", "onnx_dynamic")


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
    selected = list(ARCHITECTURE_CHECKS if checks is None else checks)
    unknown = sorted(set(selected) - set(ARCHITECTURE_CHECKS))
    if unknown:
        raise ValueError(f"unknown checks {unknown}; choose from {list(ARCHITECTURE_CHECKS)}")
    selected = [c for c in selected if c not in set(skip)]
    entry = registries().architectures.get(name)
    encoder = encoder or entry.metadata.get("default_encoder")
    options = dict(options or {})
    declared = entry.metadata.get("unsupported") or {}
    valid = isinstance(declared, dict) and all(
        k in OPTIONAL_FEATURES and isinstance(v, str) and v.strip() for k, v in declared.items()
    )
    unsupported = declared if valid else {}

    def metadata() -> None:
        assert valid, (
            f"unsupported= must map features among {list(OPTIONAL_FEATURES)} to a non-empty reason "
            f"string, got {declared!r}"
        )

    def create(num_classes: int = 3, in_channels: int = 3) -> SegmentationModel:
        return segzoo.create(name, encoder=encoder, num_classes=num_classes, in_channels=in_channels, **options)

    def build() -> _ArchState:
        with quiet(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return _ArchState(create(), sizes)

    run_now = [c for c in selected if c not in unsupported]
    shared = Shared(build, len(run_now))

    def runner(check: str) -> Callable[[], str | None]:
        def run() -> str | None:
            with shared.use() as state, quiet(), torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                return _ARCH_CHECKS[check](
                    state,
                    create=create,
                    name=name,
                    encoder=encoder,
                    options=options,
                    backend=compile_backend,
                    atol=atol,
                    unsupported=unsupported,
                )

        return run

    subject = name if encoder == entry.metadata.get("default_encoder") else f"{name}({encoder})"
    result = [Check("architecture", subject, "metadata", metadata)]
    for check in selected:
        run = skipped(f"declared unsupported: {unsupported[check]}") if check in unsupported else runner(check)
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


def _check_options(state: _ArchState, *, create: Callable, **_: Any) -> None:
    model = state.model
    assert isinstance(model, SegmentationModel), f"build returned {type(model).__name__}, not a SegmentationModel"
    assert sum(p.numel() for p in model.parameters()) > 0, "the model has no parameters"
    for prefix, _module in model.named_children():
        assert prefix in ("encoder", "decoder", "head", "aux_head"), (
            f"top-level module {prefix!r}: state_dict keys must start with encoder./decoder./head./aux_head."
        )
    try:
        segzoo.create(model.config["architecture"], encoder=model.config["encoder"], num_classes=2, __not_an_option__=1)
    except TypeError:
        return
    except Exception as err:  # noqa: BLE001
        raise AssertionError(f"an unknown option raised {type(err).__name__}, expected TypeError: {err}") from None
    raise AssertionError(
        "an unknown option was accepted silently; the builder must raise TypeError "
        "(keyword-only parameters, no **kwargs swallowing)"
    )


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
            expect_logits(out, 2, 3, size, f"input {size[0]}x{size[1]}")
        if model.aux_head is not None:
            size = state.valid[0]
            result = model.forward_with_aux(state.input(2, size))
            assert set(result) == {"out", "aux"}, f"forward_with_aux returned keys {sorted(result)}"
            expect_logits(result["aux"], 2, 3, size, "forward_with_aux()['aux']")
    return f"refuses {', '.join(refused)} (not divisible by {d})" if refused else None


def _check_batch1(state: _ArchState, **_: Any) -> str | None:
    model = state.model
    with torch.no_grad():
        expect_logits(model.eval()(state.input(1)), 1, 3, state.valid[0], "eval forward with batch size 1")
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
            expect_logits(model(state.input(1, channels=channels)), 1, classes, state.valid[0], what)
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
    assert not missing, (
        f"{len(missing)} parameters get no gradient from the loss on the logits (unused layers?), e.g. {missing[:4]}"
    )
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
        torch.testing.assert_close(
            loaded(x), model(x), atol=1e-6, rtol=0, msg=lambda m: f"reloaded model gives other logits: {m}"
        )


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
    torch.testing.assert_close(
        got,
        expected,
        atol=atol,
        rtol=atol,
        msg=lambda m: f"torch.compile(backend={backend!r}) output differs from eager: {m}",
    )
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
        torch.onnx.export(
            model,
            (state.input(1, first),),
            buffer,
            dynamo=False,
            input_names=["image"],
            output_names=["logits"],
            dynamic_axes={"image": axes, "logits": axes},
        )
    except Exception as err:
        raise AssertionError(
            f"torch.onnx.export (TorchScript exporter, {'dynamic' if dynamic else 'fixed'} height/width) failed: "
            f"{one_line(err)}. If the design cannot be exported, declare it: "
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
                f"{one_line(err)}. Are sizes baked in as constants (e.g. int(x.shape[-1]) in forward)? Otherwise "
                "declare unsupported={'onnx_dynamic': '<reason>'}"
            ) from None
        with torch.no_grad():
            expected = model(x)
        torch.testing.assert_close(
            torch.from_numpy(got),
            expected,
            atol=atol,
            rtol=atol,
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
