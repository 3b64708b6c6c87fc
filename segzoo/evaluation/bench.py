"""``segzoo bench``: accuracy, latency, throughput, memory, size and compute of several models, one table.

For each model: the evaluation of :func:`segzoo.evaluation.scoring.evaluate` (when a dataset is given), then on
random inputs of the evaluation input size (the first sample after preprocessing, or ``size``):

* ``latency_ms`` p50/p95/mean over ``repeat`` timed calls at batch 1 (after ``warmup`` calls), of the full inference
  mode (whole, slide or msflip) — what one image costs;
* ``throughput_img_s`` at ``throughput_batch`` images per call;
* ``peak_memory_mb``: on CPU the process's resident-set high-water mark (``VmHWM``, reset through
  ``/proc/self/clear_refs`` just before) during the batch-1 runs, so it includes the weights and the Python process;
  on CUDA ``torch.cuda.max_memory_allocated`` (tensors only);
* ``params_m``; ``gmacs``: multiply-accumulates of one batch-1 inference counted by
  ``torch.utils.flop_counter.FlopCounterMode`` divided by 2 (torchvision's "GFLOPS" column uses this convention);
* ``model_time_share`` from the evaluation (model forward time / wall time). The split is decoded and preprocessed
  once into memory (``data_cache_mb`` permitting) and shared by every model with the same preprocessing, so that
  the evaluations time the models and the scoring rather than PNG decoding; ``data_cache`` says what it held.

With ``precision="bf16"`` or ``"int8"`` the model is also evaluated in fp32 (``compare_fp32``) and ``mIoU_fp32``
and ``mIoU_change`` (bf16/int8 minus fp32, in mIoU points x 100) are reported. int8 calibrates on ``calibration``
(a dataset; ``calibration_size`` images of it).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode
from tqdm.auto import tqdm

import segzoo
from segzoo.evaluation.scoring import evaluate, first_input_size, prepare_split
from segzoo.evaluation.environment import fingerprint, peak_rss_mb, reset_peak_rss
from segzoo.inference.engine import Engine, resolve_device
from segzoo.inference.modes import InferenceSettings, infer

log = logging.getLogger("segzoo")

#: bf16 or int8 losing more mIoU points than this against fp32, on the evaluated data, gets a warning
PRECISION_LOSS_WARNING = 1.0

__all__ = ["bench_model", "count_gmacs", "measure_latency", "percentile", "run_bench"]


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), ``q`` in [0, 100]."""
    if not values:
        return math.nan
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_latency(
    fn,
    x: torch.Tensor,
    *,
    warmup: int,
    repeat: int,
    device: torch.device,
    progress: bool = False,
    desc: str = "latency",
) -> list[float]:
    for _ in range(warmup):
        fn(x)
    _sync(device)
    times = []
    for _ in tqdm(range(repeat), desc=desc, leave=False, disable=not progress, dynamic_ncols=True):
        start = time.perf_counter()
        fn(x)
        _sync(device)
        times.append(time.perf_counter() - start)
    return times


def count_gmacs(model: torch.nn.Module, x: torch.Tensor, settings: Any = None) -> float:
    """Multiply-accumulates (1e9) of one inference of ``x`` in ``settings``' mode: FlopCounterMode's FLOPs / 2."""
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        infer(model, x, settings)
    return counter.get_total_flops() / 2 / 1e9


def _model_name(ref: Any, model: Any) -> str:
    name = (getattr(model, "config", {}) or {}).get("name")
    if name:
        return str(name)
    p = Path(str(ref))
    return p.name if p.name else str(ref)


def bench_model(
    ref: str,
    *,
    dataset: Any = None,
    engine: str = "auto",
    precision: str = "fp32",
    device: str | None = None,
    settings: Any = None,
    size: tuple[int, int] | None = None,
    resize: bool = True,
    resize_override: str | None = None,
    batch_size: int = 1,
    limit: int | None = None,
    num_workers: int | None = None,
    warmup: int = 2,
    repeat: int = 10,
    throughput_batch: int = 4,
    compare_fp32: bool = True,
    boundary: bool = False,
    progress: bool = True,
    data_cache_mb: float = 2048,
    prepared_splits: dict[str, Any] | None = None,
    pretrained: bool = True,
    speed: bool = True,
    calibration: Any = None,
    calibration_size: int | None = None,
) -> dict[str, Any]:
    """One model's record (see the module docstring). ``prepared_splits``: a dict shared between calls, in which the
    decoded split is kept per preprocessing (``run_bench`` passes one, so its models decode the data once).
    ``pretrained=False``: a catalog entry built from its config with random weights (nothing downloaded; speed only).
    ``speed=False``: the evaluation only, no latency, throughput or memory runs (torchrun's ranks other than 0)."""
    dev = resolve_device(device)
    model = segzoo.load(ref, pretrained=pretrained)
    name = _model_name(ref, model)
    settings = settings or InferenceSettings(batch_size=batch_size)
    pre = model.transforms(resize=resize, override=resize_override)
    record: dict[str, Any] = {
        "model": name,
        "ref": str(ref),
        "architecture": model.config.get("architecture"),
        "encoder": model.config.get("encoder"),
        "num_classes": model.num_classes,
        "random_weights": not pretrained,
    }
    params = sum(p.numel() for p in model.parameters())
    record["params_m"] = params / 1e6

    if size is None:
        size = first_input_size(dataset, pre) if dataset is not None else (512, 512)
    h, w = size
    channels = int(model.config.get("in_channels", 3) or 3)
    record["input_size"] = [h, w]
    generator = torch.Generator().manual_seed(0)
    x1 = torch.randn(1, channels, h, w, generator=generator).to(dev)
    try:  # on the untouched model: the engines' fused kernels are invisible to the FLOP counter
        record["gmacs"] = count_gmacs(model.to(dev), x1, settings)
        record["gflops"] = 2 * record["gmacs"]  # two floating-point operations per multiply-accumulate
    except Exception as err:  # noqa: BLE001 - counting must not sink the benchmark
        log.warning("could not count FLOPs of %s: %s", name, err)
        record["gmacs"] = record["gflops"] = None

    reference = None
    if precision in ("bf16", "int8") and compare_fp32 and dataset is not None:
        reference = Engine(model, engine, "fp32", dev, copy=True)
    eng = Engine(
        model,
        engine,
        precision,
        dev,
        copy=False,
        calibration=calibration,
        calibration_size=calibration_size,
        preprocessing=pre,
    )
    record.update(engine=eng.engine, precision=precision, device=str(dev), batchnorm_folded=eng.folded)
    if eng.int8:
        record["int8"] = eng.int8

    if dataset is not None:
        # decoded once per preprocessing and shared by every model (and precision) of the run, memory permitting
        prepared = {} if prepared_splits is None else prepared_splits
        key = json.dumps(pre.as_dict(), sort_keys=True)
        if key not in prepared:
            prepared[key] = prepare_split(dataset, pre, limit=limit, budget_mb=data_cache_mb, num_workers=num_workers)
        if prepared[key] is not None:
            dataset = prepared[key]
            record["data_cache"] = dataset.describe()
        result = evaluate(
            eng,
            dataset,
            preprocessing=pre,
            settings=settings,
            batch_size=batch_size,
            limit=limit,
            num_workers=num_workers,
            boundary=boundary,
            progress=progress,
            description=f"{name} eval",
        )
        m = result["metrics"]
        record.update({k: m[k] for k in ("mIoU", "pixel_accuracy", "mean_accuracy", "fwIoU", "mDice") if k in m})
        if "mBF" in m:
            record["mBF"] = m["mBF"]
        record["eval_images"] = result["images"]
        record["model_time_share"] = result["timing"]["model_time_share"]
        record["eval_timing"] = result["timing"]
        record["metrics"] = m
        if reference is not None:
            ref_result = evaluate(
                reference,
                dataset,
                preprocessing=pre,
                settings=settings,
                batch_size=batch_size,
                limit=limit,
                num_workers=num_workers,
                progress=progress,
                description=f"{name} eval fp32",
                class_names=m["class_names"],
            )
            record["mIoU_fp32"] = ref_result["metrics"]["mIoU"]
            record["mIoU_change"] = 100 * (record["mIoU"] - record["mIoU_fp32"])
            reference = None
            if record["mIoU_change"] < -PRECISION_LOSS_WARNING:
                advice = (
                    "keep more of it in fp32 with a `quantization` block in its config (docs/benchmarking.md#int8) or "
                    "run it in fp32"
                    if precision == "int8"
                    else "run it in fp32"
                )
                log.warning(
                    "%s lowers %s's mIoU by %.2f points on this data (%.2f -> %.2f): %s",
                    precision,
                    name,
                    -record["mIoU_change"],
                    100 * record["mIoU_fp32"],
                    100 * record["mIoU"],
                    advice,
                )

    if not speed:
        return record

    def run(x):
        return infer(eng, x, settings)

    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    else:
        reset_peak_rss()
    times = measure_latency(
        run, x1, warmup=warmup, repeat=repeat, device=dev, progress=progress, desc=f"{name} latency"
    )
    if dev.type == "cuda":
        record["peak_memory_mb"] = torch.cuda.max_memory_allocated(dev) / 2**20
        record["peak_memory_kind"] = "cuda max_memory_allocated"
    else:
        record["peak_memory_mb"] = peak_rss_mb()
        record["peak_memory_kind"] = "process RSS high-water mark (VmHWM)"
    record["latency_ms"] = {
        "p50": 1000 * percentile(times, 50),
        "p95": 1000 * percentile(times, 95),
        "mean": 1000 * statistics.fmean(times),
        "repeat": repeat,
        "warmup": warmup,
    }
    if throughput_batch and throughput_batch > 0:
        xb = torch.randn(throughput_batch, channels, h, w, generator=generator).to(dev)
        reps = max(2, repeat // 4)
        tb = measure_latency(run, xb, warmup=1, repeat=reps, device=dev, progress=progress, desc=f"{name} throughput")
        record["throughput_img_s"] = throughput_batch / statistics.median(tb)
        record["throughput_batch"] = throughput_batch
    return record


def run_bench(
    refs: Sequence[str],
    *,
    dataset: Any = None,
    dataset_name: str | None = None,
    split: str | None = None,
    progress: bool = True,
    **kwargs: Any,
) -> dict[str, Any]:
    settings = kwargs.get("settings")
    results = []
    prepared: dict[str, Any] = {}
    for ref in tqdm(list(refs), desc="bench", unit="model", disable=not progress or len(refs) < 2, leave=False):
        results.append(bench_model(ref, dataset=dataset, progress=progress, prepared_splits=prepared, **kwargs))
    return {
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "dataset": dataset_name,
        "split": split,
        "eval_images": results[0].get("eval_images") if results else None,
        "settings": {
            **(settings.as_dict() if settings is not None else {"mode": "whole"}),
            "engine": kwargs.get("engine", "auto"),  # as asked; what ran each model is in its result
            "precision": kwargs.get("precision", "fp32"),
            "batch_size": kwargs.get("batch_size", 1),
            "throughput_batch": kwargs.get("throughput_batch", 4),
            "repeat": kwargs.get("repeat", 10),
            "warmup": kwargs.get("warmup", 2),
            "limit": kwargs.get("limit"),
            "data_cache_mb": kwargs.get("data_cache_mb", 2048),
        },
        "fingerprint": fingerprint(resolve_device(kwargs.get("device"))),
        "conventions": {
            "gmacs": "multiply-accumulates of one batch-1 inference at input_size = FlopCounterMode FLOPs / 2 "
            "(torchvision's 'GFLOPS' convention)",
            "latency_ms": "batch 1, full inference mode, percentiles over repeat timed calls",
            "peak_memory_mb": "CPU: process VmHWM during the batch-1 runs (reset via /proc/self/clear_refs); "
            "CUDA: max_memory_allocated",
            "model_time_share": "model forward time / evaluation wall time",
        },
        "results": results,
    }
