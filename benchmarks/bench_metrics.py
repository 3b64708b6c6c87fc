"""Benchmark segzoo.metrics.ConfusionMatrix against torchmetrics on the same data, same run.

The like-for-like torchmetrics work is MulticlassJaccardIndex (mIoU) + MulticlassAccuracy
(pixel accuracy), both streaming over the same batches; segzoo's single confusion matrix gives
those and every other region metric. Also timed, for context: torchmetrics with
validate_args=False, and its MulticlassConfusionMatrix alone.

    .venv/bin/python benchmarks/bench_metrics.py            # 100 x 512x512, 21 classes
    .venv/bin/python benchmarks/bench_metrics.py --num-images 20 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import torch

from segzoo.metrics import ConfusionMatrix


def make_data(args: argparse.Namespace) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Batches of targets with ~5% ignored pixels and predictions that are right ~70% of the time."""
    g = torch.Generator().manual_seed(args.seed)
    preds, targets = [], []
    for start in range(0, args.num_images, args.batch_size):
        n = min(args.batch_size, args.num_images - start)
        shape = (n, args.size, args.size)
        target = torch.randint(0, args.classes, shape, generator=g)
        keep = torch.rand(shape, generator=g) < 0.7
        pred = torch.where(keep, target, torch.randint(0, args.classes, shape, generator=g))
        target[torch.rand(shape, generator=g) < 0.05] = args.ignore_index
        preds.append(pred)
        targets.append(target)
    return preds, targets


def run_segzoo(preds: list[torch.Tensor], targets: list[torch.Tensor], args: argparse.Namespace) -> dict[str, float]:
    cm = ConfusionMatrix(args.classes, ignore_index=args.ignore_index)
    for pred, target in zip(preds, targets, strict=True):
        cm.update(pred, target)
    r = cm.compute()
    return {"mIoU": r["mIoU"], "pixel_accuracy": r["pixel_accuracy"]}


def make_torchmetrics_runner(validate_args: bool) -> Callable[..., dict[str, float]]:
    from torchmetrics.classification import MulticlassAccuracy, MulticlassJaccardIndex

    def run(preds: list[torch.Tensor], targets: list[torch.Tensor], args: argparse.Namespace) -> dict[str, float]:
        kw = {"num_classes": args.classes, "ignore_index": args.ignore_index, "validate_args": validate_args}
        iou = MulticlassJaccardIndex(average="macro", **kw)
        acc = MulticlassAccuracy(average="micro", **kw)
        for pred, target in zip(preds, targets, strict=True):
            iou.update(pred, target)
            acc.update(pred, target)
        return {"mIoU": float(iou.compute()), "pixel_accuracy": float(acc.compute())}

    return run


def run_tm_confmat(
    preds: list[torch.Tensor], targets: list[torch.Tensor], args: argparse.Namespace
) -> dict[str, float]:
    from torchmetrics.classification import MulticlassConfusionMatrix

    cm = MulticlassConfusionMatrix(args.classes, ignore_index=args.ignore_index, validate_args=False)
    for pred, target in zip(preds, targets, strict=True):
        cm.update(pred, target)
    m = cm.compute().double()
    tp = m.diagonal()
    union = m.sum(0) + m.sum(1) - tp
    keep = union > 0
    return {"mIoU": float((tp[keep] / union[keep]).mean()), "pixel_accuracy": float(tp.sum() / m.sum())}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--num-images", type=int, default=100)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--classes", type=int, default=21)
    ap.add_argument("--batch-size", type=int, default=10)
    ap.add_argument("--ignore-index", type=int, default=255)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: leave as is)")
    ap.add_argument("--min-speedup", type=float, default=0.0, help="exit 1 if the headline ratio is lower")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    preds, targets = make_data(args)
    contenders: list[tuple[str, Callable[..., dict[str, float]]]] = [
        ("segzoo ConfusionMatrix (all metrics)", run_segzoo),
        ("torchmetrics Jaccard + Accuracy", make_torchmetrics_runner(True)),
        ("torchmetrics same, validate_args=False", make_torchmetrics_runner(False)),
        ("torchmetrics ConfusionMatrix only, no validation", run_tm_confmat),
    ]
    times: dict[str, list[float]] = {name: [] for name, _ in contenders}
    results: dict[str, dict[str, float]] = {}
    for name, fn in contenders:  # warm-up, and the results to compare
        results[name] = fn(preds, targets, args)
    for _ in range(args.repeats):  # interleaved, so machine load drifts hit everyone alike
        for name, fn in contenders:
            start = time.perf_counter()
            fn(preds, targets, args)
            times[name].append(time.perf_counter() - start)

    ref = results[contenders[0][0]]
    for name, res in results.items():
        for key, value in res.items():
            assert abs(value - ref[key]) <= 1e-6, f"{name} {key}={value} differs from segzoo {ref[key]}"

    pixels = args.num_images * args.size * args.size
    base = statistics.median(times[contenders[0][0]])
    print(
        f"{args.num_images} predictions of {args.size}x{args.size}, {args.classes} classes, "
        f"ignore_index={args.ignore_index}, batches of {args.batch_size}; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; median of {args.repeats}"
    )
    print(f"{'method':<50} {'median s':>9} {'Mpx/s':>8} {'vs segzoo':>10}")
    for name, _ in contenders:
        med = statistics.median(times[name])
        print(f"{name:<50} {med:>9.3f} {pixels / med / 1e6:>8.0f} {med / base:>9.1f}x")
    print(f"mIoU={ref['mIoU']:.6f} pixel_accuracy={ref['pixel_accuracy']:.6f} (all methods agree to 1e-6)")
    speedup = statistics.median(times[contenders[1][0]]) / base
    print(f"speed ratio segzoo vs torchmetrics Jaccard + Accuracy (defaults): {speedup:.1f}x")
    if speedup < args.min_speedup:
        print(f"FAIL: expected at least {args.min_speedup}x", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
