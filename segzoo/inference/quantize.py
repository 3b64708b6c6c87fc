"""INT8 inference on CPU: onnxruntime static quantization (QDQ, per-channel int8 weights, uint8 activations).

Why this method: on a CPU with AVX-512 VNNI (AMD EPYC, measured) it is well above 4x torchvision eager on the
ResNet-50 models with nothing beyond ``segzoo[onnx]``, and it quantizes the ONNX graph the fp32 ``onnxruntime``
engine already exports and checks (docs/benchmarking.md, "INT8", also says why OpenVINO+NNCF and torch.ao were not
taken). The quantized file is built once per (weights, calibration
images, settings, onnxruntime version) and kept in segzoo's cache (``$SEGZOO_CACHE/int8/<key>.onnx``), written
atomically; a file that onnxruntime cannot open is rebuilt.

What stays fp32, and why (measured on the CamVid models, docs/benchmarking.md): the *head tail*, i.e. the last
convolution (the classifier that produces the logits) and everything after it (the resize of the logits to the
input size). Quantizing the logits to 8 bits moves the class of pixels where two classes are close, and the
classifier is a 1x1 convolution that costs a negligible share of the time.

A catalog entry (or a saved config.json) may keep more in fp32 with a ``quantization`` block, read by
:meth:`QuantSettings.from_model`: ``fp32_first_convs`` (the first N convolutions of the exported graph and every node
before them) and ``fp32_op_types`` (nodes of these ONNX types, e.g. ``Concat``). The retrained MobileNetV3 U-Net on
CamVid needs both: 62.38 mIoU in fp32, 58.28 in int8 with defaults, 62.35 with its first 11 convolutions and its
concatenations in fp32 (a quantized ``Concat`` gives the skip features the scale of the upsampled deep ones).

Weights use 7 bits (onnxruntime's ``reduce_range``) on CPUs without VNNI: there onnxruntime's uint8 x int8 kernels
(AVX2, AVX-512 without VNNI) add pairs of 8-bit products in 16 bits, which saturate. Measured on an AVX2-only AMD
EPYC: the CamVid FCN kept the fp32 class of 93.5-96.1% of the pixels of six val frames with 8-bit weights, 97.3-98.8%
with 7-bit. With VNNI the products are summed in 32 bits and weights keep all 8 bits. The choice is part of the cache
key; an int8 file exported on a CPU with VNNI loses accuracy on one without.

Calibration: ``calibration_inputs(dataset, preprocessing)`` picks :data:`DEFAULT_CALIBRATION_SIZE` images spread
evenly over the split (consecutive video frames, as in CamVid, are near duplicates), preprocessed and padded as
whole-image inference pads them. Never calibrate on the images you evaluate: the CLI refuses by default.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import nn

from segzoo._hardware import cpu_has_vnni
from segzoo._paths import cache_dir
from segzoo.errors import SegzooError
from segzoo.export import _quiet, export_onnx
from segzoo.inference.defaults import DEFAULT_CALIBRATION_SIZE, DEFAULT_CALIBRATION_SPLIT
from segzoo.nn.functional import pad_to_divisor

log = logging.getLogger("segzoo")

__all__ = [
    "DEFAULT_CALIBRATION_SIZE",
    "DEFAULT_CALIBRATION_SPLIT",
    "QuantSettings",
    "calibration_inputs",
    "int8_session",
    "weights_fingerprint",
]

#: bump when the way a quantized file is built changes, so old cache entries are not reused
FORMAT_VERSION = 1


@dataclass(frozen=True)
class QuantSettings:
    """How the model is quantized (part of the cache key). ``keep_tail_fp32``: the last convolution and what follows
    it stay fp32 (see the module docstring); ``calibrate_method``: onnxruntime's ``MinMax``, ``Percentile`` or
    ``Entropy``; ``reduce_range``: 7-bit weights (``None``: on CPUs without VNNI); ``fp32_first_convs`` and
    ``fp32_op_types``: what else stays fp32 (a model's ``quantization`` block, see :meth:`from_model`)."""

    per_channel: bool = True
    keep_tail_fp32: bool = True
    fp32_first_convs: int = 0
    fp32_op_types: tuple[str, ...] = ()
    reduce_range: bool | None = None  # 7-bit weights; None: where this CPU has no VNNI (see the module docstring)
    calibrate_method: str = "MinMax"
    op_types: tuple[str, ...] | None = None  # None: onnxruntime's default set for QDQ
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_model(cls, model: nn.Module) -> QuantSettings:
        """The defaults, with what the model's ``quantization`` block (catalog entry or config.json) sets."""
        block = (getattr(model, "config", {}) or {}).get("quantization") or {}
        unknown = sorted(set(block) - {"fp32_first_convs", "fp32_op_types", "calibrate_method"})
        if unknown:
            raise SegzooError(
                f"the model's quantization block has unknown key(s) {', '.join(unknown)}; known: fp32_first_convs, "
                "fp32_op_types, calibrate_method"
            )
        n = block.get("fp32_first_convs", 0)
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise SegzooError(f"quantization.fp32_first_convs must be a whole number >= 0, not {n!r}")
        types = block.get("fp32_op_types", [])
        if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
            raise SegzooError(f"quantization.fp32_op_types must be a list of ONNX operator names, not {types!r}")
        return cls(**{**block, "fp32_op_types": tuple(types)})

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["op_types"] = list(self.op_types) if self.op_types else None
        d["fp32_op_types"] = list(self.fp32_op_types)
        return d


def weights_fingerprint(model: nn.Module) -> str:
    """sha256 of the state dict (names, dtypes, shapes and bytes) and the model's config: what the graph computes."""
    h = hashlib.sha256()
    h.update(json.dumps(getattr(model, "config", {}) or {}, sort_keys=True, default=str).encode())
    for name, tensor in model.state_dict().items():
        t = tensor.detach().to("cpu").contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _tensors_fingerprint(tensors: Sequence[torch.Tensor]) -> str:
    h = hashlib.sha256()
    for t in tensors:
        t = t.detach().to("cpu", torch.float32).contiguous()
        h.update(str(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def _spread(n: int, k: int) -> list[int]:
    """``k`` indices spread evenly over ``range(n)`` (all of them when ``k >= n``)."""
    if k >= n:
        return list(range(n))
    if k == 1:
        return [0]
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


def calibration_inputs(
    source: Any,
    preprocessing: Any = None,
    *,
    size: int = DEFAULT_CALIBRATION_SIZE,
    divisor: int = 1,
) -> list[torch.Tensor]:
    """Model inputs ``(1, C, H, W)`` to calibrate on: ``size`` images spread evenly over ``source`` (a dataset whose
    items are ``(image, mask)`` or images; PIL images go through ``preprocessing``), or ``source`` itself when it
    is a tensor / a list of tensors (already normalised). Each is zero-padded as whole-image inference pads it."""
    if isinstance(source, torch.Tensor):
        items: Iterable[torch.Tensor] = source if source.dim() == 4 else [source]
        tensors = [t[None] if t.dim() == 3 else t for t in items]
    elif isinstance(source, (list, tuple)) and source and all(isinstance(t, torch.Tensor) for t in source):
        tensors = [t[None] if t.dim() == 3 else t for t in source]
    else:
        try:
            n = len(source)
        except TypeError:
            raise SegzooError(
                f"calibration must be a dataset, a tensor or a list of tensors, not {type(source).__name__}"
            ) from None
        if n == 0:
            raise SegzooError(
                "the calibration dataset is empty; point --calibration-root/--calibration-split at images"
            )
        tensors = []
        for index in _spread(n, max(1, int(size))):
            item = source[index]
            image = item[0] if isinstance(item, (tuple, list)) else item
            if isinstance(image, Image.Image):
                if preprocessing is None:
                    raise SegzooError("calibration images are PIL images: pass the model's preprocessing")
                image = preprocessing(image)
            tensors.append(torch.as_tensor(image)[None] if torch.as_tensor(image).dim() == 3 else image)
    if not tensors:
        raise SegzooError("no calibration images")
    return [pad_to_divisor(t.float(), divisor) for t in tensors]


def _tail_nodes(graph: Any) -> tuple[list[str], list[str]]:
    """Names of the nodes from the last convolution to the graph's output (walking back from the output through
    non-convolution nodes), and their op types."""
    producers = {out: node for node in graph.node for out in node.output}
    names, ops = [], []
    stack = [o.name for o in graph.output]
    seen: set[str] = set()
    while stack:
        node = producers.get(stack.pop())
        if node is None or node.name in seen:
            continue
        seen.add(node.name)
        names.append(node.name)
        ops.append(node.op_type)
        if node.op_type in ("Conv", "ConvTranspose", "MatMul", "Gemm"):
            continue  # the classifier: stop here on this path
        stack.extend(i for i in node.input if i in producers)
    return names, ops


def _fp32_nodes(graph: Any, settings: QuantSettings) -> tuple[list[str], list[str]]:
    """Names of the nodes ``settings`` keep in fp32 (onnxruntime's ``nodes_to_exclude``), and what they are, one
    phrase per setting that kept some. ONNX lists nodes in topological order, so the nodes up to the N-th
    convolution are the layers between the image and it."""
    names, ops = _tail_nodes(graph) if settings.keep_tail_fp32 else ([], [])
    parts = [f"the classifier tail ({', '.join(sorted(set(ops)))})"] if names else []
    nodes = list(graph.node)
    if settings.fp32_first_convs:
        convs = [i for i, node in enumerate(nodes) if node.op_type in ("Conv", "ConvTranspose")]
        if settings.fp32_first_convs > len(convs):
            raise SegzooError(
                f"quantization.fp32_first_convs is {settings.fp32_first_convs}, but the exported graph has only "
                f"{len(convs)} convolutions"
            )
        first = [n.name for n in nodes[: convs[settings.fp32_first_convs - 1] + 1] if n.name not in names]
        names += first
        parts.append(f"the first {settings.fp32_first_convs} convolutions ({_nodes(len(first))})")
    for op in settings.fp32_op_types:
        typed = [n.name for n in nodes if n.op_type == op and n.name not in names]
        names += typed
        parts.append(f"every {op} ({_nodes(len(typed))} not kept above)")
    return names, parts


def _nodes(n: int) -> str:
    return f"{n} node" if n == 1 else f"{n} nodes"


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over a list of tensors, with ``set_range`` for
    ``CalibStridedMinMax`` (ranges computed one image at a time: the intermediate outputs of all images at once
    would not fit in memory for ResNet-50 models at 512x512)."""

    def __init__(self, name: str, tensors: Sequence[torch.Tensor]) -> None:
        self._name, self._tensors = name, list(tensors)
        self.set_range(0, len(self._tensors))

    def __len__(self) -> int:
        return len(self._tensors)

    def set_range(self, start_index: int, end_index: int) -> None:
        self._items = iter(self._tensors[start_index:end_index])

    def get_next(self) -> dict | None:
        t = next(self._items, None)
        return None if t is None else {self._name: t.numpy()}


def _build(
    model: nn.Module, calibration: Sequence[torch.Tensor], settings: QuantSettings, target: Path
) -> dict[str, Any]:
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="segzoo-int8-", dir=target.parent) as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        report = export_onnx(model.to("cpu"), fp32, size=64, check=True)
        proto = onnx.load(str(fp32))
        excluded, kept = _fp32_nodes(proto.graph, settings)
        try:
            method = CalibrationMethod[settings.calibrate_method]
        except KeyError:
            raise SegzooError(
                f"unknown calibration method {settings.calibrate_method!r}; choose from "
                f"{', '.join(m.name for m in CalibrationMethod)}"
            ) from None
        name = proto.graph.input[0].name
        out = Path(tmp) / "int8.onnx"
        with _quiet(""):  # onnxruntime's advice to pre-process the graph goes to the root logger
            quantize_static(
                str(fp32),
                str(out),
                _Reader(name, calibration),
                quant_format=QuantFormat.QDQ,
                per_channel=settings.per_channel,
                reduce_range=bool(settings.reduce_range),
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                op_types_to_quantize=list(settings.op_types) if settings.op_types else None,
                nodes_to_exclude=excluded,
                calibrate_method=method,
                extra_options={
                    **({"CalibStridedMinMax": 1} if method == CalibrationMethod.MinMax else {}),
                    **settings.extra,
                },
            )
        os.replace(out, target)  # atomic: a reader sees the old file or the whole new one
    info = {
        "exporter": report.get("exporter"),
        "fp32_nodes": kept,
        "fp32_reason": "the classifier tail: 8-bit logits change the class of pixels where two classes are close; "
        "anything else: the model's quantization block (docs/benchmarking.md)"
        if kept
        else None,
        "calibration_images": len(calibration),
        "build_seconds": round(time.perf_counter() - start, 1),
    }
    return info


def _cache_dir() -> Path:
    return cache_dir() / "int8"


def int8_session(
    model: nn.Module,
    calibration: Sequence[torch.Tensor],
    open_session: Callable[[Path], Any],
    settings: QuantSettings | None = None,
    *,
    cache: str | Path | None = None,
) -> tuple[Any, dict[str, Any]]:
    """``(open_session(path), info)`` for ``model`` quantized to int8 on ``calibration`` (model inputs), with
    ``settings`` (default: :meth:`QuantSettings.from_model`). The file is
    taken from the cache when the same weights, calibration images and settings were quantized before; a cached
    file that ``open_session`` cannot open is rebuilt. ``info["cache"]`` is ``"hit"`` or ``"built"``."""
    import onnxruntime

    settings = settings or QuantSettings.from_model(model)
    if settings.reduce_range is None:
        settings = replace(settings, reduce_range=not cpu_has_vnni())
    key_data = {
        "weights": weights_fingerprint(model),
        "calibration": _tensors_fingerprint(calibration),
        "settings": settings.as_dict(),
        "onnxruntime": onnxruntime.__version__,
        "format": FORMAT_VERSION,
    }
    key = hashlib.sha256(json.dumps(key_data, sort_keys=True).encode()).hexdigest()[:24]
    folder = Path(cache) if cache is not None else _cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise SegzooError(
            f"cannot create the int8 cache folder {folder}: {err}; set SEGZOO_CACHE to a writable folder"
        ) from None
    path, meta = folder / f"{key}.onnx", folder / f"{key}.json"
    if path.is_file():
        try:
            session = open_session(path)
            info = json.loads(meta.read_text()) if meta.is_file() else {}
            return session, {**info, "cache": "hit", "path": str(path)}
        except Exception as err:  # noqa: BLE001 - onnxruntime raises its own types for a damaged file
            log.warning("the cached int8 model %s is damaged (%s); rebuilding it", path, str(err).splitlines()[0][:200])
            with contextlib.suppress(OSError):
                path.unlink()
    log.info(
        "quantizing the model to int8 on %d calibration images (built once, cached in %s)", len(calibration), folder
    )
    info = _build(model, calibration, settings, path)
    info["settings"] = settings.as_dict()
    tmp_meta = meta.with_suffix(f".json.{os.getpid()}")
    tmp_meta.write_text(json.dumps(info, indent=2))
    os.replace(tmp_meta, meta)
    return open_session(path), {**info, "cache": "built", "path": str(path)}
