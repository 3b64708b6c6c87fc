"""Writing benchmark results: a markdown leaderboard and an accuracy-vs-latency plot."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

__all__ = ["leaderboard_markdown", "plot_accuracy_latency"]


def _num(v: Any, fmt: str = "{:.2f}", scale: float = 1.0) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return fmt.format(v * scale)


def leaderboard_rows(bench: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    results = sorted(
        bench["results"],
        key=lambda r: -(r.get("mIoU") if r.get("mIoU") == r.get("mIoU") and r.get("mIoU") is not None else -1),
    )
    has_delta = any("mIoU_change" in r for r in results)
    header = [
        "model",
        "mIoU",
        "pixel acc",
        "mean acc",
        "p50 ms",
        "p95 ms",
        "img/s",
        "peak MiB",
        "params M",
        "GMACs",
        "engine",
        "model time",
        "data wait",
    ]
    if has_delta:
        header.insert(2, "mIoU change vs fp32")
    rows = []
    for r in results:
        lat = r.get("latency_ms", {})
        row = [
            r["model"],
            _num(r.get("mIoU"), scale=100),
            _num(r.get("pixel_accuracy"), scale=100),
            _num(r.get("mean_accuracy"), scale=100),
            _num(lat.get("p50"), "{:.1f}"),
            _num(lat.get("p95"), "{:.1f}"),
            _num(r.get("throughput_img_s"), "{:.2f}"),
            _num(r.get("peak_memory_mb"), "{:.0f}"),
            _num(r.get("params_m"), "{:.2f}"),
            _num(r.get("gmacs"), "{:.1f}"),
            str(r.get("engine", "-")),
            _num(r.get("model_time_share"), "{:.0f}%", 100),
            _num((r.get("eval_timing") or {}).get("data_time_share"), "{:.0f}%", 100),
        ]
        if has_delta:
            row.insert(2, _num(r.get("mIoU_change"), "{:+.2f}"))
        rows.append(row)
    if results and all(_foreground_dice(r) is not None for r in results):
        header.insert(2, "Dice")
        for r, row in zip(results, rows, strict=True):
            row.insert(2, _num(_foreground_dice(r), scale=100))
    if len({tuple(r.get("input_size") or ()) for r in results}) > 1:  # models at their own sizes: say which
        at = header.index("GMACs")
        header.insert(at, "input")
        for r, row in zip(results, rows, strict=True):
            row.insert(at, "x".join(str(v) for v in r.get("input_size") or []) or "-")
    return _zoo_columns(results, header, rows)


def _foreground_dice(result: dict[str, Any]) -> float | None:
    """A two-class model's Dice of class 1 (vessel, membrane, ...): the number binary benchmarks such as DRIVE
    publish ("Dice" in mmseg's metafiles)."""
    dice = (result.get("metrics") or {}).get("dice")
    return dice[1] if result.get("num_classes") == 2 and dice and len(dice) == 2 else None


def _zoo_columns(results: list[dict[str, Any]], header: list[str], rows: list[list[str]]):
    """``segzoo bench --models``: the published metric and measured - published (``!`` beyond the tolerance)
    after mIoU; speed only (no accuracy measured): without the accuracy columns, with a ``weights`` column."""
    if any("published" in r for r in results):
        for r, row in zip(results, rows, strict=True):
            delta = _num(r.get("delta_published"), "{:+.2f}") + (" !" if r.get("flagged") else "")
            metric = r.get("published_metric", "")
            row[2:2] = [_num(r.get("published")) + (f" {metric}" if metric not in ("", "mIoU") else ""), delta]
        header[2:2] = ["published", "measured - published"]
    if all(r.get("mIoU") is None for r in results) and any(r.get("random_weights") for r in results):
        drop = {"mIoU", "pixel acc", "mean acc", "model time", "data wait"}
        keep = [i for i, h in enumerate(header) if h not in drop]
        header = [header[i] for i in keep] + ["weights"]
        rows = [
            [row[i] for i in keep] + ["random" if r.get("random_weights") else "catalog"]
            for r, row in zip(results, rows, strict=True)
        ]
        if any(r.get("measured_as") for r in results):
            header.append("same network as")
            for r, row in zip(results, rows, strict=True):
                row.append(r.get("measured_as") or "")
    return header, rows


def _zoo_notes(bench: dict[str, Any]) -> list[str]:
    """Paragraphs of a ``segzoo bench --models`` leaderboard: weights, how much of the selection is done, runtime."""
    notes = []
    if any(r.get("random_weights") for r in bench["results"]):
        notes.append(
            "**Random weights**: speed only, every model built from its catalog config without downloading "
            "its weights; latency, memory, parameters and GMACs do not depend on the weight values."
        )
    shared = sum(bool(r.get("measured_as")) for r in bench["results"])
    if shared:
        notes.append(
            f"{shared} entries build the same network as another entry (same architecture, encoder, options and "
            "classes; they differ in training schedule or data only): with random weights that is the same "
            "computation, measured once and listed under each name (column *same network as*)."
        )
    if "selected" in bench:
        done = len(bench["results"])
        notes.append(
            f"{done} of {bench['selected']} selected catalog entries measured"
            + (
                f" ({len(bench['missing'])} not yet: the run was stopped or they failed; rerun the same "
                "command to resume)"
                if bench["missing"]
                else ""
            )
            + f"; {bench['bench_s_total'] / 60:.1f} minutes of benchmarking in all, read from "
            f"`{Path(bench['store']).name}`."
        )
    if any("published" in r for r in bench["results"]):
        notes.append(
            f"measured - published: points of the catalog's published metric; `!` marks a difference "
            f"beyond {bench.get('tolerance_points')} points (docs/benchmarking.md says why this tolerance)."
        )
    return [n + "\n" for n in notes]


def _cache_note(bench: dict[str, Any]) -> str:
    cache = next((r["data_cache"] for r in bench["results"] if r.get("data_cache")), None)
    if not cache:
        return ""
    return (
        f" The split was decoded and preprocessed once ({cache['images']} images, {cache['mib']} MiB in memory, "
        f"{cache['decode_s']} s) and shared by the evaluations, so data wait is reading it from memory."
    )


def leaderboard_markdown(bench: dict[str, Any], *, plot_name: str | None = None) -> str:
    header, rows = leaderboard_rows(bench)
    s = bench["settings"]
    fp = bench["fingerprint"]
    first = bench["results"][0] if bench["results"] else {}
    size = "x".join(str(v) for v in first.get("input_size", [])) or "?"
    size_text = "input: column *input* (H x W)" if "input" in header else f"input {size} (H x W)"
    dataset = f"{bench['dataset']} {bench['split']}" if bench.get("dataset") else "no dataset (speed only)"
    images = f" ({bench['eval_images']} images)" if bench.get("eval_images") else ""
    mode = s.get("mode", "whole")
    if mode == "slide":
        mode += f" (crop {s.get('crop')}, stride {s.get('stride')})"
    elif mode == "msflip":
        mode += f" (scales {s.get('scales')}, flip {s.get('flip')})"
    lines = [
        "# Leaderboard",
        "",
        f"Generated by `segzoo bench` on {bench['created']}. Dataset: {dataset}{images}. Inference: {mode}; engine "
        f"{s.get('engine')}; precision {s.get('precision')}; device {fp.get('device')}; "
        f"{size_text}.",
        "",
        *_zoo_notes(bench),
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines += [
        "",
        "Columns: mIoU, pixel and mean (class) accuracy in percent on the split above"
        + (
            "; Dice: of class 1 (two-class models: the foreground's, as binary benchmarks publish it)"
            if "Dice" in header
            else ""
        )
        + "; latency p50/p95 of one image "
        f"at batch 1 over {s.get('repeat')} timed calls after {s.get('warmup')} warm-up calls; img/s at batch "
        f"{s.get('throughput_batch')}; peak MiB: {first.get('peak_memory_kind', 'peak memory')}; "
        + (
            "input: the image size after the model's own preprocessing, which latency and GMACs are measured at; "
            if "input" in header
            else ""
        )
        + "GMACs: "
        "multiply-accumulates of one inference at the input size (FlopCounterMode FLOPs / 2, torchvision's "
        "'GFLOPS' convention; GFLOPs = 2 x GMACs, also in the JSON as gflops); engine: what ran the model "
        "(`auto` picks per model); model time: share of the "
        "evaluation's wall time spent in the model's forward pass; data wait: share spent waiting for the "
        "DataLoader (decoding and resizing images); the rest is post-processing at the label resolution "
        "(bilinear resize of the scores, class map, confusion matrix)." + _cache_note(bench),
        "",
        f"Machine: {fp.get('cpu')}, {fp.get('cpu_cores')} logical cores ({fp.get('torch_threads')} torch threads)"
        + (f", GPU {fp['gpu']}" if fp.get("gpu") else "")
        + f"; torch {fp.get('torch')}, timm {fp.get('timm')}, segzoo {fp.get('segzoo')}, Python {fp.get('python')}"
        + (f"; 1-minute load average {fp['load_average_1min']} at the start" if "load_average_1min" in fp else "")
        + ".",
    ]
    if plot_name and bench["results"]:
        accuracy = any(r.get("mIoU") is not None for r in bench["results"])
        lines += ["", f"![{'mIoU against latency' if accuracy else 'latency against GMACs'}]({plot_name})"]
    return "\n".join(lines) + "\n"


def _label_points(fig: Any, ax: Any, points: list[tuple[float, float, str, Any]]) -> None:
    """Name each point in its colour, moving a label below or further up when it would cover a marker or a label
    already placed (models of similar speed and accuracy are common: the CamVid MobileNets lie within a point and
    a millisecond of each other)."""
    fig.canvas.draw()  # fixes the layout, so data -> pixel positions are final
    scale = fig.dpi / 72  # pixels per point
    placed = []  # (x0, y0, x1, y1) in pixels: the markers, then each label
    for x, y, _, _ in points:
        px, py = ax.transData.transform((x, y))
        placed.append((px - 5 * scale, py - 5 * scale, px + 5 * scale, py + 5 * scale))
    for x, y, name, color in sorted(points, key=lambda p: -p[1]):
        px, py = ax.transData.transform((x, y))
        width, height = 5.2 * len(name) * scale, 10 * scale  # 8-point text
        dx = 6 if px + (6 + 5.2 * len(name)) * scale <= ax.bbox.x1 else -6 - 5.2 * len(name)  # left if no room
        for dy in (4, -13, 14, -23, 24, -33):
            box = (px + dx * scale, py + dy * scale, px + dx * scale + width, py + dy * scale + height)
            inside = ax.bbox.y0 <= box[1] and box[3] <= ax.bbox.y1
            if inside and not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
                break
        placed.append(box)
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(dx, dy), fontsize=8, color=color)


def plot_accuracy_latency(bench: dict[str, Any], path: str | Path) -> Path:
    """Scatter plot of mIoU (%) against p50 latency (ms), one labelled point per model. A speed-only bench (no
    accuracy) plots latency against GMACs instead, one point per network, coloured by architecture."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not any(r.get("mIoU") is not None for r in bench["results"]) and any(
        r.get("gmacs") and r.get("latency_ms") for r in bench["results"]
    ):
        return _plot_cost(bench, path, plt)
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    points = []
    for r in bench["results"]:
        x = r.get("latency_ms", {}).get("p50")
        y = r.get("mIoU")
        if x is None or y is None or (isinstance(y, float) and math.isnan(y)):
            continue
        marker = ax.scatter([x], [100 * y], s=40 + 6 * (r.get("params_m") or 0) ** 0.8, alpha=0.7)
        points.append((x, 100 * y, r["model"], marker.get_facecolor()[0][:3]))
    xs = [p[0] for p in points]
    if xs and max(xs) / max(min(xs), 1e-9) > 20:
        ax.set_xscale("log")
    ax.set_xlabel("latency p50, batch 1 (ms)")
    ax.set_ylabel("mIoU (%)")
    s = bench["settings"]
    ax.set_title(
        f"{bench.get('dataset') or ''} {bench.get('split') or ''} - {s.get('mode')}, {s.get('engine')}, "
        f"{s.get('precision')} on {bench['fingerprint'].get('device')}".strip(),
        fontsize=9,
    )
    if not xs:
        ax.text(0.5, 0.5, "no accuracy measured (run with --dataset)", ha="center", va="center", transform=ax.transAxes)
    ax.margins(x=0.15, y=0.12)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    _label_points(fig, ax, points)
    fig.savefig(path)
    plt.close(fig)
    return path


def _plot_cost(bench: dict[str, Any], path: Path, plt: Any) -> Path:
    """Latency against GMACs (log-log), one point per network (entries ``measured_as`` another are the same
    point), a colour per architecture: what a model costs before its weights are downloaded."""
    by_arch: dict[str, list[tuple[float, float]]] = {}
    for r in bench["results"]:
        p50 = (r.get("latency_ms") or {}).get("p50")
        if r.get("measured_as") or not r.get("gmacs") or p50 is None:
            continue
        by_arch.setdefault(str(r.get("architecture") or "?"), []).append((float(r["gmacs"]), float(p50)))
    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    markers = "osD^v<>ph*"
    for i, (arch, xy) in enumerate(sorted(by_arch.items())):
        ax.scatter(*zip(*xy, strict=True), s=22, alpha=0.75, marker=markers[i // 10 % len(markers)], label=arch)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("GMACs (batch 1)")
    ax.set_ylabel("latency p50, batch 1 (ms)")
    s = bench["settings"]
    size = "x".join(str(v) for v in (bench["results"][0].get("input_size") or [])) if bench["results"] else ""
    networks = sum(len(v) for v in by_arch.values())
    ax.set_title(
        f"speed only, {size} input, {s.get('engine')} {s.get('precision')} on {bench['fingerprint'].get('device')}: "
        f"{networks} networks, {len(bench['results'])} entries",
        fontsize=9,
    )
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=7, ncol=2, loc="upper left", frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
