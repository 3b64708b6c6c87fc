"""What ``segzoo eval`` and ``segzoo bench`` options mean, shared by the commands (:mod:`segzoo.evaluation.cli`)
and the catalog-wide loop (:mod:`segzoo.evaluation.zoo`).

Kept out of the command module so that the CLI sits on top: ``zoo`` takes the options' meaning from here, not from
the module that registers its command.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from segzoo.inference.modes import InferenceSettings

__all__ = [
    "PROTOCOL_ARGS",
    "bench_options",
    "dataset_options",
    "describe_settings",
    "measured_split",
    "protocol_requested",
    "protocol_settings",
]

#: the options that choose an inference protocol; giving any of them overrides a model's published one
PROTOCOL_ARGS = ("mode", "crop", "stride", "scales", "flip")


def protocol_requested(args: argparse.Namespace) -> bool:
    """Whether the command line chose the inference protocol (any of :data:`PROTOCOL_ARGS`)."""
    return any(getattr(args, k, None) for k in PROTOCOL_ARGS)


def protocol_settings(
    model: Any, args: argparse.Namespace, requested: InferenceSettings
) -> tuple[InferenceSettings, str]:
    """The inference settings for ``segzoo eval`` and where they come from: ``requested`` (built from the options)
    when the user gave any, else the protocol of the model's published metrics (its catalog entry's ``inference``)."""
    published = (getattr(model, "config", {}) or {}).get("inference")
    if protocol_requested(args):
        return requested, f"{describe_settings(requested)}, as requested"
    if not published:
        return requested, f"{describe_settings(requested)} (the model records no published protocol)"
    settings = InferenceSettings(
        mode=published["mode"],
        crop=published.get("crop"),
        stride=published.get("stride"),
        batch_size=requested.batch_size,
    )
    return settings, f"{describe_settings(settings)}, the published protocol (override with --mode/--crop/--stride)"


def describe_settings(settings: InferenceSettings) -> str:
    """``whole image``, ``sliding 769x769 windows, stride 513x513``, ``multi-scale 0.5,...,1.75 + flip``."""
    d = settings.as_dict()
    window = f"{d['crop'][0]}x{d['crop'][1]} windows, stride {d['stride'][0]}x{d['stride'][1]}" if "crop" in d else ""
    if settings.mode == "whole":
        return "whole image"
    if settings.mode == "slide":
        return f"sliding {window}"
    scales = ",".join(f"{s:g}" for s in d["scales"])
    return f"multi-scale {scales}{' + flip' if d['flip'] else ''}{', ' + window if window else ''}"


def bench_options(args: argparse.Namespace) -> dict[str, Any]:
    """What `segzoo bench` measures and how, from its options: the same for MODELs and for --models entries."""
    return dict(
        engine=args.engine,
        precision=args.precision,
        size=args.size,
        resize=not args.no_resize,
        resize_override=args.resize,
        batch_size=args.batch_size,
        limit=args.limit,
        num_workers=args.num_workers,
        warmup=args.warmup,
        repeat=args.repeat,
        throughput_batch=args.throughput_batch,
        compare_fp32=not args.no_compare_fp32,
        boundary=args.boundary,
        data_cache_mb=args.data_cache_mb,
    )


def _measured_on(published: Mapping[str, Any], dataset: str | None) -> Mapping[str, Any]:
    """``published``'s ``dataset`` block when ``dataset`` is the one its metrics were measured on, else empty."""
    info = published.get("dataset") or {}
    return info if dataset and str(info.get("name", "")).lower() == dataset.lower() else {}


def dataset_options(published: Mapping[str, Any], dataset: str | None, given: list[tuple[str, Any]]) -> dict[str, Any]:
    """The dataset options of an evaluation: the ``eval_options`` the published metrics were measured with (e.g.
    DRIVE's ``fov_as_ignore=false``: every pixel scored, as mmseg reports it) when ``dataset`` is the one they were
    measured on, overridden by the command's ``--dataset-option``s. ``published``: a catalog entry, or a loaded
    model's ``config`` (which keeps its entry's ``dataset`` block, also in a saved folder)."""
    return {**dict(_measured_on(published, dataset).get("eval_options") or {}), **dict(given)}


def measured_split(published: Mapping[str, Any], dataset: str | None) -> str:
    """The split an evaluation on ``dataset`` defaults to: the one the published metrics were measured on (DRIVE:
    test) when ``dataset`` is theirs, else val. ``published``: as for :func:`dataset_options`."""
    return str(_measured_on(published, dataset).get("eval_split") or "val")
