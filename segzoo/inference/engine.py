"""Inference engines: how a model's forward pass is executed (memory layout, fusion, compiler, runtime, precision).

``Engine(model, engine=..., precision=...)`` is a callable ``engine(x) -> float32 logits`` on ``x``'s device. Engines:

* ``eager``: ``model(x)`` under ``torch.inference_mode`` (the reference).
* ``channels_last``: BatchNorm folded into the preceding convolutions, convolution+ReLU fused (fp32 on CPU), weights
  and inputs in channels-last (NHWC) layout, which oneDNN's convolutions prefer on CPU and cuDNN's on GPU.
* ``compile``: the ``channels_last`` model through ``torch.compile`` (inductor). Fast per call, but every new input
  size compiles first (tens of seconds on a small CPU).
* ``onnxruntime``: the model exported to ONNX (dynamic batch, height and width; checked at two sizes) and run by
  onnxruntime.
* ``auto``: ``onnxruntime`` for fp32 on CPU when it is installed and the model exports, else ``channels_last``.

``precision="bf16"`` runs the ``channels_last`` (or ``compile``) engine under bfloat16 autocast; heavily dilated
convolutions stay in fp32 (see :func:`segzoo.inference.optimize.keep_fp32`). ``precision="int8"`` runs the
``onnxruntime`` engine on a statically quantized copy of the export, calibrated on ``calibration`` images and cached
(:mod:`segzoo.inference.quantize`). fp32 engines are checked against eager
fp32 when built and raise if they differ by more than ``tolerance``. docs/benchmarking.md has the measurements.
"""

from __future__ import annotations

import copy
import logging
import math
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from segzoo import export  # the module, not its names: tests replace export.export_onnx
from segzoo._hardware import bf16_supported
from segzoo.errors import SegzooError
from segzoo.inference.optimize import fold_batchnorm, fuse_conv_relu, keep_fp32
from segzoo.inference.preprocessing import Preprocessing
from segzoo.inference.quantize import DEFAULT_CALIBRATION_SIZE, calibration_inputs, int8_session
from segzoo.metrics import compare_logits

log = logging.getLogger("segzoo")

__all__ = ["DEFAULT_ENGINE", "ENGINES", "PRECISIONS", "TORCH_ENGINE", "Engine", "default_engine", "resolve_device"]

ENGINES = ("auto", "eager", "channels_last", "compile", "onnxruntime")
PRECISIONS = ("fp32", "bf16", "int8")
#: what ``auto`` means for fp32 on CPU (when onnxruntime is installed and the model exports); chosen by measurement,
#: see docs/benchmarking.md. bf16, CUDA, and models that do not export use :data:`TORCH_ENGINE`.
DEFAULT_ENGINE = "onnxruntime"
TORCH_ENGINE = "channels_last"


def default_engine(device: torch.device, precision: str) -> str:
    """The engine ``auto`` resolves to."""
    if precision == "int8":
        return "onnxruntime"  # the only int8 engine
    if device.type != "cpu" or precision != "fp32":
        return TORCH_ENGINE
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return TORCH_ENGINE
    return DEFAULT_ENGINE


def resolve_device(device: str | torch.device | None) -> torch.device:
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except RuntimeError as err:
        raise SegzooError(f"unknown device {str(device)!r}: {err}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SegzooError("device 'cuda' requested but torch sees no CUDA GPU")
    return device


def _probe_input(model: nn.Module, device: torch.device) -> torch.Tensor:
    divisor = max(1, int(getattr(model, "input_divisor", 1) or 1))
    side = divisor * max(1, math.ceil(64 / divisor))
    channels = int(getattr(model, "config", {}).get("in_channels", 3) or 3)
    generator = torch.Generator().manual_seed(0)
    return torch.randn(1, channels, side, side, generator=generator).to(device)


class Engine:
    """A callable ``engine(x) -> logits (float32)`` that runs ``model`` the chosen way.

    ``copy=True`` (default) leaves ``model`` untouched (the engine works on a copy when it rewrites weights);
    ``copy=False`` lets it rewrite ``model`` in place (saves memory; the CLI does this).
    ``tolerance``: maximum |difference| to eager fp32 allowed for fp32 engines, checked once on a probe input
    (``None`` skips the check).
    ``calibration`` (int8 only): a dataset, whose ``calibration_size`` images spread over it are preprocessed as
    ``preprocessing`` (default: the model's config) says, or model inputs (a tensor or list of tensors); never the
    images you evaluate on.
    """

    def __init__(
        self,
        model: nn.Module,
        engine: str = "auto",
        precision: str = "fp32",
        device: str | torch.device | None = None,
        *,
        copy: bool = True,
        tolerance: float | None = 1e-4,
        onnx_path: str | Path | None = None,
        calibration: Any = None,
        calibration_size: int | None = None,
        quant_settings: Any = None,
        preprocessing: Any = None,
    ) -> None:
        if engine not in ENGINES:
            raise SegzooError(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")
        if precision not in PRECISIONS:
            raise SegzooError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")
        self.requested = engine
        self.precision = precision
        self.device = resolve_device("cpu" if precision == "int8" and device is None else device)  # CPU-only
        self.engine = default_engine(self.device, precision) if engine == "auto" else engine
        if precision == "bf16" and self.engine == "onnxruntime":
            raise SegzooError("the onnxruntime engine runs fp32 only; use --engine channels_last for bf16")
        if precision == "int8" and (self.engine != "onnxruntime" or self.device.type != "cpu"):
            raise SegzooError("int8 runs on the onnxruntime engine on CPU only; use --engine auto --device cpu")
        if precision == "int8" and calibration is None:
            raise SegzooError(
                "int8 needs calibration images: pass calibration=<a dataset split or tensors> "
                "(CLI: --calibration-dataset NAME --calibration-root PATH)"
            )
        if precision == "bf16" and not bf16_supported(self.device):
            what = "CPU has no AVX-512 BF16 or AMX" if self.device.type == "cpu" else "GPU has no native bfloat16"
            log.warning(
                "bf16 requested but this %s: autocast emulates bf16, many times slower than fp32 (8x for the ResNet-18 "
                "U-Net on CamVid val on an AVX2-only CPU); use --precision fp32",
                what,
            )
        self.model = model
        self.num_classes = getattr(model, "num_classes", None)
        self.input_divisor = int(getattr(model, "input_divisor", 1) or 1)
        self.align_corners = bool(getattr(model, "align_corners", False))
        self.config = dict(getattr(model, "config", {}) or {})
        self.folded = 0
        self.fp32_convs = 0
        self.fused = 0
        self.max_abs_diff: float | None = None
        self.fallback: str | None = None
        self._session = None
        self.int8: dict[str, Any] | None = None
        model.eval()
        if precision == "int8":
            self._module = None
            self._setup_int8(model, calibration, calibration_size, quant_settings, preprocessing)
            return
        if self.engine == "onnxruntime":
            self._module = None
            try:
                self._setup_onnxruntime(model, onnx_path, tolerance)
                return
            except SegzooError as err:
                if engine != "auto":
                    raise
                # auto: a model the exporter cannot handle with dynamic sizes still runs, in PyTorch
                self.fallback = str(err)
                self.engine = "channels_last"
                log.info("onnxruntime engine unavailable for this model (%s); using channels_last", err)
        reference = None
        probe = None
        if self.engine != "eager" and tolerance is not None:
            probe = _probe_input(model, self.device)
            model.to(self.device)
            with torch.inference_mode():
                reference = model(probe).float()
        if self.engine == "eager":
            self._module = model.to(self.device)
        else:
            self._module = self._setup_torch(model, copy=copy)
        if reference is not None:
            self._check(probe, reference, tolerance)

    # -- set-up ------------------------------------------------------------------------------------------------------
    def _setup_torch(self, model: nn.Module, *, copy: bool) -> nn.Module:
        work = _copy_module(model) if copy else model
        work = work.to(self.device).eval()
        try:
            self.folded = fold_batchnorm(work, _probe_input(work, self.device))
        except Exception as err:  # noqa: BLE001 - an optimisation must never break inference
            log.debug("BatchNorm folding skipped: %s", err)
        work = work.to(memory_format=torch.channels_last)
        if self.precision == "fp32" and self.device.type == "cpu" and self.engine == "channels_last":
            try:
                self.fused = fuse_conv_relu(
                    work, _probe_input(work, self.device).contiguous(memory_format=torch.channels_last)
                )
            except Exception as err:  # noqa: BLE001
                log.debug("conv+ReLU fusion skipped: %s", err)
        if self.precision == "bf16":
            self.fp32_convs = keep_fp32(work, device_type=self.device.type)
        if self.engine == "compile":
            work = torch.compile(work)
        return work

    def _setup_onnxruntime(self, model: nn.Module, onnx_path: str | Path | None, tolerance: float | None) -> None:
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            raise SegzooError("the onnxruntime engine needs onnxruntime: pip install onnxruntime") from None
        if onnx_path is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="segzoo-onnx-")
            onnx_path = Path(self._tmp.name) / "model.onnx"
            # small example and check sizes: the check is what proves the graph is right at other sizes
            report = export.export_onnx(
                model.to("cpu"), onnx_path, size=64, check=tolerance is not None, tolerance=tolerance or 1e-4
            )
            self.max_abs_diff = report.get("max_abs_diff")
        elif tolerance is not None:
            checks = export.check_onnx(onnx_path, model.to("cpu"), export.default_sizes(model, 64), tolerance=tolerance)
            bad = [c for c in checks if not c.get("ok")]
            if bad:
                raise SegzooError(f"{onnx_path} does not reproduce the model: {bad[0]}")
            self.max_abs_diff = max(c["max_abs_diff"] for c in checks)
        self._session = self._open_session(onnx_path)
        self._input_name = self._session.get_inputs()[0].name

    def _open_session(self, onnx_path: str | Path):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # idle worker threads sleep instead of spinning: leaves the cores to DataLoader workers and other processes
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = ["CPUExecutionProvider"]
        if self.device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        return ort.InferenceSession(str(onnx_path), options, providers=providers)

    def _setup_int8(
        self, model: nn.Module, calibration: Any, size: int | None, settings: Any, preprocessing: Any
    ) -> None:
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            raise SegzooError("int8 needs onnxruntime: pip install 'segzoo[onnx]'") from None
        model.to("cpu")
        inputs = calibration_inputs(
            calibration,
            preprocessing or Preprocessing.from_model(model),
            size=size or DEFAULT_CALIBRATION_SIZE,
            divisor=self.input_divisor,
        )
        self._session, self.int8 = int8_session(model, inputs, self._open_session, settings)
        self._input_name = self._session.get_inputs()[0].name
        # how far int8 moves the logits, on a calibration image (random inputs are outside the calibrated ranges)
        with torch.inference_mode():
            reference = model(inputs[0]).float()
        out = self(inputs[0])
        self.max_abs_diff = compare_logits(out, reference, tolerance=1e-4, model=model)["max_abs_diff"]
        self.int8["argmax_agreement"] = float((out.argmax(1) == reference.argmax(1)).float().mean())

    def _check(self, probe: torch.Tensor, reference: torch.Tensor, tolerance: float) -> None:
        result = compare_logits(self(probe), reference, tolerance=tolerance, model=self.model)
        self.max_abs_diff = result["max_abs_diff"]
        if self.precision == "fp32" and not result["ok"]:
            raise SegzooError(
                f"engine {self.engine!r} disagrees with eager by {result['max_abs_diff']:.2e} (> {tolerance:g}"
                f"{'; needed: ' + result['criterion'] if 'criterion' in result else ''}) on a probe input; use "
                "--engine eager and report this model"
            )

    # -- running -----------------------------------------------------------------------------------------------------
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self._session is not None:
            out = self._session.run(None, {self._input_name: x.detach().to("cpu", torch.float32).contiguous().numpy()})
            return torch.from_numpy(out[0]).to(x.device)
        x = x.to(self.device, non_blocking=True)
        with torch.inference_mode():
            if self.engine != "eager":
                x = x.contiguous(memory_format=torch.channels_last)
            if self.precision == "bf16":
                with torch.autocast(self.device.type, dtype=torch.bfloat16):
                    out = self._module(x)
            else:
                out = self._module(x)
            return out.float().contiguous()

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def describe(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "precision": self.precision,
            "device": str(self.device),
            "batchnorm_folded": self.folded,
            "conv_relu_fused": self.fused,
            "fp32_convolutions": self.fp32_convs,
            "probe_max_abs_diff": self.max_abs_diff,
            **({"int8": self.int8} if self.int8 else {}),
            **({"fallback_reason": self.fallback} if self.fallback else {}),
        }

    def __repr__(self) -> str:
        return f"Engine(engine={self.engine!r}, precision={self.precision!r}, device={str(self.device)!r})"


def _copy_module(model: nn.Module) -> nn.Module:
    try:
        return copy.deepcopy(model)
    except Exception as err:  # noqa: BLE001
        raise SegzooError(f"cannot copy the model for the engine ({err}); pass copy=False") from None
