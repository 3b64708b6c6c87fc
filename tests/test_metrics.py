"""Tests for segzoo.metrics: hand-worked cases, agreement with torchmetrics, streaming,
checkpointing and a real 2-process torch.distributed (gloo) reduction.

torchmetrics is imported inside the tests that use it, so that the spawned distributed workers
(which re-import this module) start quickly.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from segzoo.metrics import BoundaryF1, ConfusionMatrix, _disk_offsets, evaluate_masks

NAN = float("nan")


def _same(a: list[float], b: list[float], tol: float = 1e-12) -> bool:
    """Element-wise equality that treats NaN == NaN."""
    return len(a) == len(b) and all(
        (math.isnan(x) and math.isnan(y)) or abs(x - y) <= tol for x, y in zip(a, b, strict=True)
    )


def _random_case(
    seed: int, n: int = 3, h: int = 17, w: int = 23, c: int = 5, ignore: int | None = None, p_ignore: float = 0.1
) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    target = torch.randint(0, c, (n, h, w), generator=g)
    pred = torch.where(torch.rand(n, h, w, generator=g) < 0.6, target, torch.randint(0, c, (n, h, w), generator=g))
    if ignore is not None:
        target[torch.rand(n, h, w, generator=g) < p_ignore] = ignore
    return pred, target


# --------------------------------------------------------------------------- hand-worked cases


def test_hand_worked_2x3_three_classes() -> None:
    # target        pred          confusion matrix (rows = target, cols = pred)
    # 0 1 1         0 1 2            p0 p1 p2
    # 2 2 0         2 1 0        t0 [ 2  0  0 ]
    #                            t1 [ 0  1  1 ]
    #                            t2 [ 0  1  1 ]
    # IoU0 = 2/(2+2-2) = 1, IoU1 = 1/(2+2-1) = 1/3, IoU2 = 1/3 -> mIoU = 5/9
    # pixel acc = 4/6; class acc = recall = [1, 1/2, 1/2] -> 2/3
    # Dice = 2tp/(gt+pr) = [1, 1/2, 1/2]; precision = [1, 1/2, 1/2]
    # fwIoU = 2/6*1 + 2/6*1/3 + 2/6*1/3 = 5/9
    target = torch.tensor([[0, 1, 1], [2, 2, 0]])
    pred = torch.tensor([[0, 1, 2], [2, 1, 0]])
    cm = ConfusionMatrix(3)
    cm.update(pred, target)
    assert cm.matrix.tolist() == [[2, 0, 0], [0, 1, 1], [0, 1, 1]]
    assert cm.matrix.dtype == torch.int64
    r = cm.compute()
    assert _same(r["iou"], [1, 1 / 3, 1 / 3])
    assert r["mIoU"] == pytest.approx(5 / 9)
    assert r["pixel_accuracy"] == pytest.approx(4 / 6)
    assert r["mean_accuracy"] == pytest.approx(2 / 3)
    assert _same(r["dice"], [1, 0.5, 0.5]) and r["mDice"] == pytest.approx(2 / 3)
    assert _same(r["precision"], [1, 0.5, 0.5]) and _same(r["recall"], [1, 0.5, 0.5])
    assert r["fwIoU"] == pytest.approx(5 / 9)
    assert r["support"] == [2, 2, 2]


def test_fwiou_by_hand_with_unequal_frequencies() -> None:
    # 8 pixels: target has 5 x class 0, 3 x class 1; one class-1 pixel predicted as 0.
    # matrix [[5, 0], [1, 2]]: IoU0 = 5/6, IoU1 = 2/3
    # fwIoU = 5/8 * 5/6 + 3/8 * 2/3 = 25/48 + 12/48 = 37/48
    target = torch.tensor([0, 0, 0, 0, 0, 1, 1, 1])
    pred = torch.tensor([0, 0, 0, 0, 0, 0, 1, 1])
    r = evaluate_masks(pred, target, num_classes=2)
    assert r["fwIoU"] == pytest.approx(37 / 48)
    assert r["mIoU"] == pytest.approx((5 / 6 + 2 / 3) / 2)


def test_absent_classes_are_nan_and_excluded_from_means() -> None:
    # 4 classes. class 2: only in target (never predicted); class 3: in neither.
    # matrix rows t0,t1,t2: t0 -> [1,0,0,0], t1 -> [0,1,0,0], t2 -> [0,1,0,0]
    target = torch.tensor([[0, 1, 2]])
    pred = torch.tensor([[0, 1, 1]])
    r = ConfusionMatrix(4, class_names=["a", "b", "c", "d"]).compute()  # nothing seen yet
    assert math.isnan(r["mIoU"]) and math.isnan(r["pixel_accuracy"]) and math.isnan(r["fwIoU"])
    cm = ConfusionMatrix(4, class_names=["a", "b", "c", "d"])
    cm.update(pred, target)
    r = cm.compute()
    assert r["class_names"] == ["a", "b", "c", "d"]
    # IoU: a = 1, b = 1/(1+2-1) = 1/2, c = 0/(1+0-0) = 0, d = NaN
    assert _same(r["iou"], [1, 0.5, 0, NAN])
    assert r["mIoU"] == pytest.approx(0.5)
    # precision of c: never predicted but present -> 0 (not NaN); d NaN
    assert _same(r["precision"], [1, 0.5, 0, NAN])
    assert _same(r["recall"], [1, 1, 0, NAN])
    assert r["mean_accuracy"] == pytest.approx(2 / 3)
    # output is plain JSON
    assert json.loads(json.dumps(r))["support"] == [1, 1, 1, 0]


def test_predicted_only_class_counts_as_zero() -> None:
    # class 1 appears only in the prediction: IoU 0, recall 0/0 -> 0 (the class is present).
    r = evaluate_masks(torch.tensor([0, 1]), torch.tensor([0, 0]), num_classes=2)
    assert _same(r["iou"], [0.5, 0.0]) and _same(r["recall"], [0.5, 0.0])
    assert r["mean_accuracy"] == pytest.approx(0.25)


def test_ignore_index_and_out_of_range_targets_are_skipped() -> None:
    target = torch.tensor([[0, 255, 1, 7, -1]])
    pred = torch.tensor([[0, 1, 1, 0, 0]])
    cm = ConfusionMatrix(2, ignore_index=255)
    cm.update(pred, target)
    assert cm.matrix.tolist() == [[1, 0], [0, 1]]
    # an in-range ignore class: its pixels are skipped and the class itself is NaN
    cm = ConfusionMatrix(3, ignore_index=0)
    cm.update(torch.tensor([0, 1, 0, 2]), torch.tensor([0, 1, 1, 2]))
    assert cm.matrix.tolist() == [[0, 0, 0], [1, 1, 0], [0, 0, 1]]
    r = cm.compute()
    assert math.isnan(r["iou"][0]) and _same(r["iou"][1:], [0.5, 1.0])
    assert r["pixel_accuracy"] == pytest.approx(2 / 3)


def test_out_of_range_prediction_raises_unless_ignored() -> None:
    cm = ConfusionMatrix(3, ignore_index=255)
    with pytest.raises(ValueError, match=r"outside \[0, 3\)"):
        cm.update(torch.tensor([0, 3]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="outside"):
        cm.update(torch.tensor([-1, 0]), torch.tensor([0, 1]))
    cm.update(torch.tensor([0, 9]), torch.tensor([0, 255]))  # bad value on an ignored pixel is fine
    assert cm.matrix.sum() == 1
    with pytest.raises(TypeError, match="integer class indices"):
        cm.update(torch.zeros(2, 4, 4), torch.zeros(2, 4, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="logits of shape"):
        cm.update(torch.zeros(2, 4, 4, 4), torch.zeros(2, 4, 4, dtype=torch.long))


def test_logits_are_argmaxed_and_dtypes_accepted() -> None:
    pred, target = _random_case(0, c=4)
    logits = F.one_hot(pred, 4).permute(0, 3, 1, 2).float() * 3 + 0.1 * torch.rand(*pred.shape[:1], 4, *pred.shape[1:])
    a, b = ConfusionMatrix(4), ConfusionMatrix(4)
    a.update(logits, target)
    b.update(pred.to(torch.uint8), target.to(torch.int32))
    assert torch.equal(a.matrix, b.matrix)


# --------------------------------------------------------------------------- vs torchmetrics


def _tm_all(preds: torch.Tensor, target: torch.Tensor, c: int, ignore: int | None) -> dict[str, torch.Tensor]:
    from torchmetrics.classification import (
        MulticlassAccuracy,
        MulticlassConfusionMatrix,
        MulticlassF1Score,
        MulticlassJaccardIndex,
        MulticlassPrecision,
        MulticlassRecall,
    )

    kw = {"num_classes": c, "ignore_index": ignore}
    out = {"confmat": MulticlassConfusionMatrix(**kw)(preds, target)}
    for avg in ("macro", "none"):
        out[f"iou_{avg}"] = MulticlassJaccardIndex(average=avg, **kw)(preds, target)
        out[f"acc_{avg}"] = MulticlassAccuracy(average=avg, **kw)(preds, target)
        out[f"f1_{avg}"] = MulticlassF1Score(average=avg, **kw)(preds, target)
        out[f"prec_{avg}"] = MulticlassPrecision(average=avg, **kw)(preds, target)
        out[f"rec_{avg}"] = MulticlassRecall(average=avg, **kw)(preds, target)
    out["acc_micro"] = MulticlassAccuracy(average="micro", **kw)(preds, target)
    return out


def _assert_per_class(ours: list[float], theirs: torch.Tensor, skip: set[int] = frozenset()) -> None:
    # torchmetrics reports 0 where we report NaN (class absent from target and prediction).
    for k, (a, b) in enumerate(zip(ours, theirs.tolist(), strict=True)):
        if k in skip:
            continue
        assert (math.isnan(a) and b == 0.0) or abs(a - b) <= 1e-6, (k, a, b)


@pytest.mark.parametrize("ignore", [None, 255])
def test_matches_torchmetrics_with_absent_classes(ignore: int | None) -> None:
    # 7 classes: 0-4 in the target, 0-3 and 5 predicted, 6 nowhere. Our convention (NaN only for a
    # class absent from both, 0/0 -> 0 otherwise) equals torchmetrics' macro averaging.
    c = 7
    pred, target = _random_case(1, n=4, h=32, w=32, c=5, ignore=ignore)
    pred[pred == 4] = 5
    cm = ConfusionMatrix(c, ignore_index=ignore)
    cm.update(pred, target)
    r = cm.compute()
    tm = _tm_all(pred, target, c, ignore)
    assert torch.equal(cm.matrix, tm["confmat"].long())
    assert math.isnan(r["iou"][6]) and r["iou"][4] == 0.0 and r["precision"][4] == 0.0 and r["recall"][5] == 0.0
    for ours, name in (("iou", "iou"), ("recall", "acc"), ("dice", "f1"), ("precision", "prec"), ("recall", "rec")):
        _assert_per_class(r[ours], tm[f"{name}_none"])
    assert r["pixel_accuracy"] == pytest.approx(float(tm["acc_micro"]), abs=1e-6)
    assert r["mean_accuracy"] == pytest.approx(float(tm["acc_macro"]), abs=1e-6)
    assert r["mIoU"] == pytest.approx(float(tm["iou_macro"]), abs=1e-6)
    assert r["mDice"] == pytest.approx(float(tm["f1_macro"]), abs=1e-6)
    assert r["mean_precision"] == pytest.approx(float(tm["prec_macro"]), abs=1e-6)
    assert r["mean_recall"] == pytest.approx(float(tm["rec_macro"]), abs=1e-6)


def test_matches_torchmetrics_with_logits_and_in_range_ignore_index() -> None:
    # ignore_index = 2 is a real class id. torchmetrics' Jaccard drops that class from the mean like
    # we do; its stat-score metrics (F1, precision, ...) still score the class's false positives, so
    # those are compared per class on the other classes only.
    c, ignore = 5, 2
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(3, c, 24, 24, generator=g)
    target = torch.randint(0, c, (3, 24, 24), generator=g)
    cm = ConfusionMatrix(c, ignore_index=ignore)
    cm.update(logits, target)
    r = cm.compute()
    tm = _tm_all(logits, target, c, ignore)
    assert torch.equal(cm.matrix, tm["confmat"].long())
    assert r["mIoU"] == pytest.approx(float(tm["iou_macro"]), abs=1e-6)
    assert r["pixel_accuracy"] == pytest.approx(float(tm["acc_micro"]), abs=1e-6)
    assert math.isnan(r["iou"][ignore])
    for ours, name in (("iou", "iou"), ("dice", "f1"), ("precision", "prec"), ("recall", "rec")):
        _assert_per_class(r[ours], tm[f"{name}_none"], skip={ignore})


# --------------------------------------------------------------------------- streaming / state


def test_streaming_merge_and_state_dict_round_trip() -> None:
    pred, target = _random_case(4, n=6, c=6, ignore=255)
    one_shot = ConfusionMatrix(6, ignore_index=255)
    one_shot.update(pred, target)
    chunked, first, second = (ConfusionMatrix(6, ignore_index=255) for _ in range(3))
    for k in range(6):
        chunked.update(pred[k : k + 1], target[k : k + 1])
    first.update(pred[:2], target[:2])
    second.update(pred[2:], target[2:])
    assert torch.equal(chunked.matrix, one_shot.matrix)
    assert torch.equal(first.merge(second).matrix, one_shot.matrix)
    assert _same(chunked.compute()["iou"], one_shot.compute()["iou"])

    buf = io.BytesIO()
    torch.save(one_shot.state_dict(), buf)
    buf.seek(0)
    restored = ConfusionMatrix(6, ignore_index=255)
    restored.load_state_dict(torch.load(buf, weights_only=True))
    assert torch.equal(restored.matrix, one_shot.matrix)
    restored.reset()
    assert restored.matrix.sum() == 0
    with pytest.raises(ValueError, match="num_classes/ignore_index"):
        ConfusionMatrix(5, ignore_index=255).load_state_dict(one_shot.state_dict())
    with pytest.raises(ValueError, match="different settings"):
        one_shot.merge(ConfusionMatrix(6))

    bf_all, bf_a, bf_b = (BoundaryF1(6, ignore_index=255) for _ in range(3))
    bf_all.update(pred, target)
    bf_a.update(pred[:3], target[:3])
    bf_b.update(pred[3:], target[3:])
    restored_bf = BoundaryF1(6, ignore_index=255)
    restored_bf.load_state_dict(bf_a.merge(bf_b).state_dict())
    assert torch.equal(restored_bf.state_dict()["_counts"], bf_all.state_dict()["_counts"])
    ours, ref = restored_bf.compute(), bf_all.compute()
    assert _same(ours["bf"], ref["bf"]) and ours["mBF_image"] == pytest.approx(ref["mBF_image"])


# --------------------------------------------------------------------------- boundary F1


def _square_pair() -> tuple[torch.Tensor, torch.Tensor]:
    target = torch.zeros(1, 10, 10, dtype=torch.long)
    target[0, 2:6, 2:6] = 1
    pred = torch.zeros(1, 10, 10, dtype=torch.long)
    pred[0, 2:6, 3:7] = 1  # the same 4x4 square shifted right by one pixel
    return pred, target


def test_boundary_f1_shifted_square() -> None:
    pred, target = _square_pair()
    bf = BoundaryF1(2, tolerance_px=2)
    bf.update(pred, target)
    r = bf.compute()
    assert r["bf"] == [1.0, 1.0] and r["mBF"] == 1.0 and r["mBF_image"] == 1.0

    # Tolerance 0 (exact pixel match). Square (class 1): each ring has 12 pixels; they share
    # only the top and bottom rows at columns 3..5 -> 6 matches: P = R = 6/12 = 0.5.
    # Background (class 0): the 4-connected outer rings have 16 pixels each and share rows 1
    # and 6 at columns 3..5 -> 6 matches: P = R = 6/16 = 0.375. mBF = 0.4375.
    bf = BoundaryF1(2, tolerance_px=0)
    bf.update(pred, target)
    r = bf.compute()
    assert _same(r["bf"], [0.375, 0.5]) and _same(r["bf_precision"], [0.375, 0.5])
    assert r["mBF"] == pytest.approx(0.4375) and r["mBF_image"] == pytest.approx(0.4375)
    # relative tolerance: 0.1 * diagonal(10x10) = 1.41 px >= the 1 px shift
    bf = BoundaryF1(2, tolerance_rel=0.1)
    bf.update(pred, target)
    assert bf.tolerance_for(10, 10) == pytest.approx(math.sqrt(2)) and bf.compute()["mBF"] == 1.0


def test_boundary_f1_missing_class_and_ignore() -> None:
    pred, target = _square_pair()
    # prediction misses the square entirely: class 1 F = 0, class 0 has no predicted boundary -> 0
    bf = BoundaryF1(3)
    bf.update(torch.zeros_like(pred), target)
    r = bf.compute()
    assert _same(r["bf"], [0.0, 0.0, NAN]) and r["mBF"] == 0.0
    # ignoring the right half of the image: the pred boundary pixels there are not counted
    t = target.clone()
    t[0, :, 5:] = 255
    bf = BoundaryF1(2, tolerance_px=0, ignore_index=255)
    bf.update(pred, t)
    counts = bf.state_dict()["_counts"]
    assert counts[0].tolist() == [int(((pred[0, :, :5] == c) & _edges(pred)[0, :, :5]).sum()) for c in (0, 1)]


def _edges(x: torch.Tensor) -> torch.Tensor:
    from segzoo.metrics import _label_edges

    return _label_edges(x)


def _reference_counts(pred: torch.Tensor, target: torch.Tensor, c: int, radius: float) -> torch.Tensor:
    """Per-class boundary dilation by a disk done with max_pool2d (a dense, per-class reference)."""
    offs = _disk_offsets(radius)
    r = int(offs.abs().max())
    kernel = torch.zeros(2 * r + 1, 2 * r + 1, dtype=torch.bool)
    kernel[offs[:, 0] + r, offs[:, 1] + r] = True

    def dilate(mask: torch.Tensor) -> torch.Tensor:  # union of max-pools of the disk's rows
        x = mask[:, None].float()
        out = torch.zeros_like(x)
        for dy in range(-r, r + 1):
            cols = kernel[dy + r].nonzero().flatten() - r
            if cols.numel() == 0:
                continue
            half = int(cols.max())
            rowpool = F.max_pool2d(x, (1, 2 * half + 1), stride=1, padding=(0, half))
            shifted = torch.roll(F.pad(rowpool, (0, 0, r, r)), -dy, dims=2)[:, :, r : r + x.shape[2]]
            out = torch.maximum(out, shifted)
        return out[:, 0] > 0

    pe, te = _edges(pred), _edges(target)
    counts = torch.zeros(4, c, dtype=torch.long)
    for k in range(c):
        pb, tb = pe & (pred == k), te & (target == k)
        counts[:, k] = torch.stack([pb.sum(), (pb & dilate(tb)).sum(), tb.sum(), (tb & dilate(pb)).sum()])
    return counts


@pytest.mark.parametrize("radius", [0, 1, 2.5, 3])
def test_boundary_matching_equals_maxpool_dilation(radius: float) -> None:
    g = torch.Generator().manual_seed(5)
    # blocky random maps so that boundaries are long contours, not noise
    target = torch.randint(0, 4, (2, 6, 7), generator=g).repeat_interleave(4, 1).repeat_interleave(4, 2)
    pred = torch.roll(target, shifts=(1, 2), dims=(1, 2))
    pred[:, ::7, ::5] = 3
    bf = BoundaryF1(4, tolerance_px=radius)
    bf.update(pred, target)
    assert torch.equal(bf.state_dict()["_counts"], _reference_counts(pred, target, 4, radius))


# --------------------------------------------------------------------------- torch.distributed


def _shared_data() -> tuple[torch.Tensor, torch.Tensor]:
    return _random_case(7, n=4, h=20, w=20, c=5, ignore=255)


def _dist_worker(rank: int, world_size: int, init_file: str, out_dir: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        pred, target = _shared_data()
        half = slice(rank * 2, rank * 2 + 2)
        cm, bf = ConfusionMatrix(5, ignore_index=255), BoundaryF1(5, ignore_index=255)
        cm.update(pred[half], target[half])
        bf.update(pred[half], target[half])
        cm.all_reduce()
        bf.all_reduce()
        torch.save({"cm": cm.state_dict(), "bf": bf.state_dict()}, Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed not built")
def test_all_reduce_with_two_gloo_processes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The spawned children unpickle the worker by module name. Under pytest this file is "tests.test_metrics", and
    # mmsegmentation's wheel installs a top-level "tests" package that would shadow ours there: hand the children
    # the worker of this file imported under a top-level name of its own.
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent))
    from test_metrics import _dist_worker as worker

    torch.multiprocessing.spawn(worker, args=(2, str(tmp_path / "rendezvous"), str(tmp_path)), nprocs=2, join=True)
    pred, target = _shared_data()
    cm, bf = ConfusionMatrix(5, ignore_index=255), BoundaryF1(5, ignore_index=255)
    cm.update(pred, target)
    bf.update(pred, target)
    cm.all_reduce()  # not initialised in this process: a no-op
    for rank in range(2):
        state = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        assert torch.equal(state["cm"]["_mat"], cm.matrix)
        assert torch.equal(state["bf"]["_counts"], bf.state_dict()["_counts"])
        assert torch.allclose(state["bf"]["_image"], bf.state_dict()["_image"])
