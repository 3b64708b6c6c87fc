"""Export a segzoo model to ONNX with dynamic batch, height and width, checked with onnxruntime.

``export_onnx(model, "model.onnx")`` picks an exporter:

* ``dynamo`` (torch's default since 2.9, ``torch.onnx.export(..., dynamo=True)``): ``torch.export`` with automatic
  dynamic dimensions, non-strict first, then strict (which keeps sizes symbolic through ``int(x.shape[-1])``, as
  the U-Net decoder does), then translated by onnxscript. Needs ``pip install onnxscript``.
* ``torchscript`` (the legacy tracer, ``dynamo=False``): needs only torch; a model whose Python code turns shapes
  into constants (``int(x.shape[-1])``) traces to a graph that is wrong at other sizes, which the check catches.

``auto`` tries torchscript, then (when onnxscript is installed) dynamo, and keeps the first export that passes the
check: the tracer exports 5-13x faster and onnxruntime runs both graphs equally fast, which matters for the
``onnxruntime`` inference engine that exports every model it runs; dynamo takes what the tracer cannot (SegNet's
max-unpooling). The check runs the ONNX file with onnxruntime at two different input sizes (the second also at
batch 2) and compares with eager PyTorch (:func:`segzoo.metrics.compare_logits`: max |difference| <=
``tolerance``, or for discontinuous architectures nearly all logits and classes).

Two things make segzoo models exportable with dynamic sizes:

* the core's padding to ``input_divisor`` is skipped while tracing or exporting (``torch.jit.is_tracing()``,
  ``torch.compiler.is_exporting()``), and its divisibility test while tracing or compiling, so the graph has no
  size-dependent padding and the example input only needs to be valid;
* ``nn.AdaptiveAvgPool2d`` with an output larger than 1 (PSPNet's and UperNet's pyramid pooling) has no ONNX
  operator for dynamic input sizes (the tracer refuses it; the dynamo decomposition gave wrong values at a second
  size). During export it is replaced by :class:`ExportableAdaptiveAvgPool2d`, which computes the same bins with
  slices and means (PyTorch's bin rule: ``start = floor(i*H/n)``, ``end = ceil((i+1)*H/n)``), and restored after.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.export import Dim

from segzoo._paths import check_writable
from segzoo.errors import SegzooError
from segzoo.metrics import compare_logits

log = logging.getLogger("segzoo")

__all__ = ["EXPORTERS", "ExportableAdaptiveAvgPool2d", "check_onnx", "export_onnx", "onnxscript_available"]

EXPORTERS = ("auto", "dynamo", "torchscript")


def onnxscript_available() -> bool:
    try:
        import onnxscript  # noqa: F401
    except ImportError:
        return False
    return True


class ExportableAdaptiveAvgPool2d(nn.Module):
    """``nn.AdaptiveAvgPool2d`` written with slices and means, so it exports with symbolic input sizes."""

    def __init__(self, output_size: int | Sequence[int | None]) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.output_size
        oh, ow = (out, out) if isinstance(out, int) else out
        h, w = x.shape[-2], x.shape[-1]
        oh = h if oh is None else oh
        ow = w if ow is None else ow
        if oh == 1 and ow == 1:
            return x.mean(dim=(-2, -1), keepdim=True)
        rows = []
        for i in range(oh):
            h0 = (i * h) // oh
            h1 = ((i + 1) * h + oh - 1) // oh
            cols = [
                x[..., h0:h1, (j * w) // ow : ((j + 1) * w + ow - 1) // ow].mean(dim=(-2, -1), keepdim=True)
                for j in range(ow)
            ]
            rows.append(torch.cat(cols, dim=-1))
        return torch.cat(rows, dim=-2)


@contextlib.contextmanager
def exportable(model: nn.Module) -> Iterator[nn.Module]:
    """Temporarily swap adaptive average pools with output > 1 for :class:`ExportableAdaptiveAvgPool2d`."""
    swapped: list[tuple[nn.Module, str, nn.Module]] = []
    for parent in model.modules():
        for name, child in list(parent.named_children()):
            if type(child) is nn.AdaptiveAvgPool2d and child.output_size not in (1, (1, 1)):
                setattr(parent, name, ExportableAdaptiveAvgPool2d(child.output_size))
                swapped.append((parent, name, child))
    try:
        yield model
    finally:
        for parent, name, child in swapped:
            setattr(parent, name, child)


def _model_size(model: Any) -> tuple[int, int]:
    divisor = max(1, int(getattr(model, "input_divisor", 1) or 1))
    config = getattr(model, "config", {}) or {}
    return divisor, int(config.get("in_channels", 3) or 3)


def _round_up(v: int, d: int) -> int:
    return max(d, int(math.ceil(v / d)) * d)


def default_sizes(model: Any, size: int | Sequence[int] | None = None) -> list[tuple[int, int]]:
    """The export size and a second, different, non-square check size, both multiples of ``input_divisor``."""
    divisor, _ = _model_size(model)
    if size is None:
        h = w = 256
    elif isinstance(size, int):
        h = w = size
    else:
        h, w = (int(s) for s in size)
    h, w = _round_up(h, divisor), _round_up(w, divisor)
    step = max(divisor, 32)
    return [(h, w), (h + step, w + 2 * step)]


@contextlib.contextmanager
def _quiet(*names: str) -> Iterator[None]:
    """Hold these loggers at ERROR: the translator's notes (e.g. on empty attribute lists) are not the user's.
    Handlers added to them meanwhile are removed: a library's ``logging.info(...)`` installs a stderr handler on the
    root logger when it has none, which would then print every segzoo warning a second time."""
    loggers = [logging.getLogger(n) for n in names]
    saved = [(lg.level, list(lg.handlers)) for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, (level, handlers) in zip(loggers, saved, strict=True):
            lg.setLevel(level)
            lg.handlers[:] = handlers


def _export_dynamo(
    model: nn.Module, example: torch.Tensor, path: Path, opset: int | None, dynamic: bool, strict: bool = False
) -> str:
    shapes = ({0: Dim.AUTO, 2: Dim.AUTO, 3: Dim.AUTO},) if dynamic else ({0: Dim.AUTO},)
    ep = torch.export.export(model, (example,), dynamic_shapes=shapes, strict=strict)
    if dynamic:
        placeholder = [n for n in ep.graph.nodes if n.op == "placeholder"][-1]
        shape = placeholder.meta["val"].shape
        if any(isinstance(s, int) for s in shape[2:]):
            raise SegzooError(f"torch.export(strict={strict}) specialised the input size to {tuple(shape)}")
    nbytes = sum(p.numel() * p.element_size() for p in model.parameters())
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), _quiet("onnx_ir", "onnxscript"):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            ep,
            (example,),
            str(path),
            dynamo=True,
            input_names=["input"],
            output_names=["logits"],
            opset_version=opset,
            external_data=nbytes > 1_800_000_000,
        )
    return f"torch.export strict={strict}"


def _cause(err: BaseException) -> str:
    """``Type: first line`` of ``err``, followed by its causes (``raise ... from``, or raised while handling): the
    exporters often raise a bare wrapper (``NotImplementedError()``) whose reason is only in the chain."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen and len(parts) < 4:
        seen.add(id(current))
        text = next((line.strip() for line in str(current).splitlines() if line.strip()), "")
        parts.append(f"{type(current).__name__}: {text[:300]}" if text else type(current).__name__)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return " <- ".join(parts)


def _export_torchscript(model: nn.Module, example: torch.Tensor, path: Path, opset: int | None, dynamic: bool) -> str:
    axes = {0: "batch", 2: "height", 3: "width"} if dynamic else {0: "batch"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example,),
            str(path),
            dynamo=False,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": axes, "logits": axes},
            opset_version=opset or 17,
        )
    return ""


def _declare_axes(path: Path, num_classes: int, divisor: int) -> None:
    """Write the graph's shapes as the report says: the input's dynamic dimensions named ``batch``, ``height`` and
    ``width`` everywhere (dynamo calls them ``s77``...), the class dimension of ``logits`` as the integer and its
    other dimensions as the input's (the tracer's final Resize leaves them symbolic, ``Resizelogits_dim_1``), and
    the model's ``input_divisor`` as metadata: the graph does not pad, so its input sides must be multiples of it."""
    try:
        import onnx
    except ImportError:
        return
    proto = onnx.load(str(path), load_external_data=False)
    graph = proto.graph
    rename = {
        d.dim_param: name
        for d, name in zip(graph.input[0].type.tensor_type.shape.dim, ("batch", None, "height", "width"))
        if name and d.dim_param
    }
    for value in (*graph.input, *graph.output, *graph.value_info):
        for d in value.type.tensor_type.shape.dim:
            if d.dim_param in rename:
                d.dim_param = rename[d.dim_param]
    dims = graph.output[0].type.tensor_type.shape.dim
    if len(dims) == 4:
        dims[1].dim_value = num_classes
        for i in (0, 2, 3):
            dims[i].CopyFrom(graph.input[0].type.tensor_type.shape.dim[i])
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, {"input_divisor": str(divisor)})
    onnx.save(proto, str(path))


def check_onnx(
    path: str | Path,
    model: nn.Module,
    sizes: Sequence[tuple[int, int]],
    *,
    batch_sizes: Sequence[int] | None = None,
    seed: int = 0,
    tolerance: float = 1e-4,
) -> list[dict[str, Any]]:
    """Run the ONNX file with onnxruntime at each size and compare with eager ``model``
    (:func:`segzoo.metrics.compare_logits`: max |difference|, and whether it passes)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise SegzooError("checking the export needs onnxruntime: pip install onnxruntime") from None
    _, channels = _model_size(model)
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.log_severity_level = 4  # failures are reported in the result, not printed
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    batch_sizes = list(batch_sizes or [1] + [2] * (len(sizes) - 1))
    generator = torch.Generator().manual_seed(seed)
    results = []
    for (h, w), n in zip(sizes, batch_sizes, strict=True):
        x = torch.randn(n, channels, h, w, generator=generator)
        with torch.inference_mode():
            ref = model(x).float()
        try:
            got = torch.from_numpy(session.run(None, {name: x.numpy()})[0])
        except Exception as err:  # noqa: BLE001 - onnxruntime raises its own exception types
            results.append({"size": [n, channels, h, w], "error": str(err).splitlines()[0][:300]})
            continue
        if got.shape != ref.shape:
            results.append(
                {"size": [n, channels, h, w], "error": f"output shape {tuple(got.shape)}, expected {tuple(ref.shape)}"}
            )
            continue
        results.append({"size": [n, channels, h, w], **compare_logits(got, ref, tolerance=tolerance, model=model)})
    return results


def export_onnx(
    model: nn.Module,
    path: str | Path,
    *,
    opset: int | None = None,
    size: int | Sequence[int] | None = None,
    exporter: str = "auto",
    dynamic: bool = True,
    check: bool = True,
    tolerance: float = 1e-4,
) -> dict[str, Any]:
    """Write ``model`` as ONNX to ``path`` (input ``input`` (N, C, H, W), output ``logits``) and return a report:
    exporter used, dynamic axes, seconds, and (with ``check``) the onnxruntime comparison at two sizes."""
    if exporter not in EXPORTERS:
        raise SegzooError(f"unknown exporter {exporter!r}; choose from {', '.join(EXPORTERS)}")
    path = check_writable(path, option="ONNX file")  # before the exporters, which would fail late and blame themselves
    model = model.eval().to("cpu")
    sizes = default_sizes(model, size)
    if not dynamic:
        sizes = [sizes[0], sizes[0]]
    divisor, channels = _model_size(model)
    dynamo = [("dynamo", False), ("dynamo", True)] if dynamic else [("dynamo", False)]
    if exporter == "auto":  # the tracer first: 5-13x quicker to export, and onnxruntime runs both graphs as fast
        candidates = [("torchscript", False)] + (dynamo if onnxscript_available() else [])
    elif exporter == "dynamo":
        if not onnxscript_available():
            raise SegzooError("the dynamo exporter needs onnxscript: pip install onnxscript")
        candidates = dynamo
    else:
        candidates = [("torchscript", False)]
    failures = []
    for name, strict in candidates:
        example = torch.randn(
            2 if name == "dynamo" else 1, channels, *sizes[0], generator=torch.Generator().manual_seed(0)
        )
        start = time.perf_counter()
        try:
            with exportable(model) as m:
                if name == "dynamo":
                    notes = _export_dynamo(m, example, path, opset, dynamic, strict=strict)
                else:
                    notes = _export_torchscript(m, example, path, opset, dynamic)
        except SegzooError as err:
            failures.append(f"{name}: {err}")
            continue
        except Exception as err:  # noqa: BLE001 - exporters raise many types
            log.debug("%s export failed", name, exc_info=True)
            with contextlib.suppress(OSError):
                path.unlink()
            failures.append(f"{name}: {_cause(err)}")
            continue
        num_classes = int(getattr(model, "num_classes", 0) or 0)
        if num_classes:
            _declare_axes(path, num_classes, divisor)
        seconds = time.perf_counter() - start
        report: dict[str, Any] = {
            "path": str(path),
            "exporter": name,
            "opset": opset,
            "dynamic_axes": ["batch", "height", "width"] if dynamic else ["batch"],
            "input_divisor": divisor,
            "export_seconds": round(seconds, 2),
            "file_mb": round(path.stat().st_size / 2**20, 2),
        }
        if notes:
            report["notes"] = notes
        if not check:
            return report
        checks = check_onnx(path, model, sizes, tolerance=tolerance)
        report["checks"] = checks
        bad = [c for c in checks if not c.get("ok")]
        if not bad:
            report["max_abs_diff"] = max(c["max_abs_diff"] for c in checks)
            return report
        name = f"{name} (strict)" if strict else name
        failures.append(
            f"{name}: onnxruntime disagrees with PyTorch at "
            + "; ".join(
                f"{'x'.join(map(str, c['size']))}: {c.get('error') or 'max |diff| %.2e' % c['max_abs_diff']}"
                for c in bad
            )
        )
    hint = "" if onnxscript_available() else " (install onnxscript to try the dynamo exporter)"
    if dynamic:
        hint += "; --static exports a fixed input size instead"
    raise SegzooError("ONNX export failed: " + " | ".join(failures) + hint)
