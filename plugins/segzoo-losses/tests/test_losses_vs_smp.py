"""segzoo-losses against segmentation_models_pytorch.losses, where the definitions coincide (and where they differ, the
documented relation). Random inputs in float64 (float32 for Lovasz: smp's Lovasz mixes float32 into its sums)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import segzoo

smp_losses = pytest.importorskip("segmentation_models_pytorch.losses")

MODES = ["binary", "multiclass", "multilabel"]
TOL = 1e-5


def inputs(mode, *, n=2, c=4, h=12, w=10, ignore=True, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    c = 1 if mode == "binary" else c
    logits = (torch.randn(n, c, h, w, generator=g) * 2).to(dtype)
    if mode == "multiclass":
        target = torch.randint(0, c, (n, h, w), generator=g)
        drop = torch.rand(n, h, w, generator=g) < 0.2
    else:
        target = torch.randint(0, 2, (n, c, h, w), generator=g).to(dtype)
        drop = torch.rand(n, c, h, w, generator=g) < 0.2
        if mode == "binary":
            target, drop = target[:, 0], drop[:, 0]
    if ignore:
        target = target.masked_fill(drop, 255)
    return logits, target


def assert_close(ours, ref, tol=TOL):
    ours, ref = float(ours), float(ref)
    assert abs(ours - ref) <= tol * max(1.0, abs(ref)), (ours, ref)


def region_options(mode):
    yield {}
    yield {"smooth": 1.0}
    yield {"log_loss": True}
    if mode != "binary":
        yield {"classes": [0, 2]}
        yield {"class_weights": [1.0, 2.0, 0.5, 3.0]}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("ignore", [False, True])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_dice_jaccard_match_smp(mode, ignore, dtype):
    logits, target = inputs(mode, ignore=ignore, dtype=dtype)
    ii = 255 if ignore else None
    for opts in region_options(mode):
        for name, cls in (("dice", smp_losses.DiceLoss), ("jaccard", smp_losses.JaccardLoss)):
            ours = segzoo.create_loss(name, mode=mode, ignore_index=ii, **opts)(logits, target)
            ref = cls(mode=mode, ignore_index=ii, **opts)(logits, target)
            assert_close(ours, ref)


@pytest.mark.parametrize("mode", MODES)
def test_tversky_matches_smp(mode):
    logits, target = inputs(mode, seed=1)
    for opts in ({"alpha": 0.3, "beta": 0.7}, {"alpha": 0.8, "beta": 0.2, "smooth": 0.5}):
        ours = segzoo.create_loss("tversky", mode=mode, **opts)(logits, target)
        ref = smp_losses.TverskyLoss(mode=mode, ignore_index=255, **opts)(logits, target)
        assert_close(ours, ref)
    if mode == "binary":  # one class: the exponent of the class mean and of the class loss are the same thing
        ours = segzoo.create_loss("tversky", mode=mode, alpha=0.3, beta=0.7, gamma=2.0)(logits, target)
        ref = smp_losses.TverskyLoss(mode=mode, ignore_index=255, alpha=0.3, beta=0.7, gamma=2.0)(logits, target)
        assert_close(ours, ref)
    else:  # ours: mean_c L_c^gamma (Abraham & Khan); smp: (mean_c L_c)^gamma
        ours = segzoo.create_loss("tversky", mode=mode, alpha=0.3, beta=0.7, gamma=2.0)(logits, target)
        per_class = [
            smp_losses.TverskyLoss(mode=mode, ignore_index=255, alpha=0.3, beta=0.7, classes=[c])(logits, target)
            for c in range(4)
        ]
        assert_close(ours, sum(x**2 for x in per_class) / 4)
        smp_value = smp_losses.TverskyLoss(mode=mode, ignore_index=255, alpha=0.3, beta=0.7, gamma=2.0)(logits, target)
        assert_close(smp_value, (sum(per_class) / 4) ** 2)


@pytest.mark.parametrize("mode", ["multiclass", "multilabel"])
def test_absent_classes_smp_divides_by_all_classes(mode):
    # ours averages over the classes present in the target; smp counts absent classes as 0 and divides by C
    logits, target = inputs(mode, seed=2)
    if mode == "multiclass":
        target = target.masked_fill(target == 3, 0)
    else:
        target[:, 3] = target[:, 3].masked_fill(target[:, 3] == 1, 0)
    for name, cls in (("dice", smp_losses.DiceLoss), ("jaccard", smp_losses.JaccardLoss)):
        ours = segzoo.create_loss(name, mode=mode)(logits, target)
        ref = cls(mode=mode, ignore_index=255)(logits, target)
        assert_close(ours, ref * 4 / 3)


def test_focal_binary_matches_smp():
    logits, target = inputs("binary", seed=3)
    for opts, smp_opts in (
        ({}, {}),
        ({"alpha": 0.25}, {"alpha": 0.25}),
        ({"alpha": 0.7, "gamma": 1.0}, {"alpha": 0.7, "gamma": 1.0}),
        ({"reduced_threshold": 0.5}, {"reduced_threshold": 0.5}),
        ({"normalized": True}, {"normalized": True, "reduction": "sum"}),  # smp's "mean" divides again by N
        ({"reduction": "sum"}, {"reduction": "sum"}),
    ):
        ours = segzoo.create_loss("focal", mode="binary", **opts)(logits, target)
        ref = smp_losses.FocalLoss(mode="binary", ignore_index=255, **smp_opts)(logits, target)
        assert_close(ours, ref)


def test_focal_multilabel_matches_smp():
    logits, target = inputs("multilabel", seed=4, ignore=False)  # smp's multilabel focal cannot index with ignore
    for opts in ({}, {"alpha": 0.25}):
        ours = segzoo.create_loss("focal", mode="multilabel", ignore_index=None, **opts)(logits, target)
        ref = smp_losses.FocalLoss(mode="multilabel", **opts)(logits, target)
        assert_close(ours, ref)


def test_smp_multiclass_focal_is_our_multilabel_focal_on_one_hot():
    # smp's "multiclass" focal loss is a sigmoid (one-vs-rest) focal loss per channel, averaged over channels; ours
    # is the softmax focal loss. smp's equals our multilabel focal loss on the one-hot target.
    logits, target = inputs("multiclass", seed=5)
    ignored = target == 255
    onehot = F.one_hot(target.masked_fill(ignored, 0), 4).permute(0, 3, 1, 2).to(logits.dtype)
    onehot = onehot.masked_fill(ignored.unsqueeze(1), 255)
    for opts in ({}, {"alpha": 0.25, "gamma": 1.5}):
        ours = segzoo.create_loss("focal", mode="multilabel", **opts)(logits, onehot)
        ref = smp_losses.FocalLoss(mode="multiclass", ignore_index=255, **opts)(logits, target)
        assert_close(ours, ref)
    softmax_focal = segzoo.create_loss("focal")(logits, target)
    smp_focal = smp_losses.FocalLoss(mode="multiclass", ignore_index=255)(logits, target)
    assert abs(float(softmax_focal) - float(smp_focal)) > 1e-3


@pytest.mark.parametrize("mode", ["binary", "multiclass"])
@pytest.mark.parametrize("per_image", [False, True])
def test_lovasz_matches_smp(mode, per_image):
    for seed, ignore in ((6, True), (7, False)):
        logits, target = inputs(mode, seed=seed, ignore=ignore, dtype=torch.float32)
        ii = 255 if ignore else None
        ours = segzoo.create_loss("lovasz", mode=mode, per_image=per_image, ignore_index=ii)(logits, target)
        ref = smp_losses.LovaszLoss(mode=mode, per_image=per_image, ignore_index=ii)(logits, target)
        assert_close(ours, ref)


def test_lovasz_multilabel_differs_from_smp():
    # smp treats all channels of a multilabel target as one binary problem; ours averages a hinge per channel
    logits, target = inputs("multilabel", seed=8, ignore=False, dtype=torch.float32)
    flat_logits = logits.transpose(0, 1).reshape(1, 1, -1)
    flat_target = target.transpose(0, 1).reshape(1, -1)
    smp_value = smp_losses.LovaszLoss(mode="multilabel")(logits, target)
    assert_close(segzoo.create_loss("lovasz", mode="binary")(flat_logits, flat_target), smp_value)
    per_channel = [segzoo.create_loss("lovasz", mode="binary")(logits[:, c : c + 1], target[:, c]) for c in range(4)]
    assert_close(segzoo.create_loss("lovasz", mode="multilabel")(logits, target), sum(per_channel) / 4)


def test_cross_entropy_vs_smp_soft_cross_entropy():
    # identical without ignored pixels; smp's mean divides by all pixels (ignored ones count as 0), ours by the
    # counted pixels, as F.cross_entropy does
    for ignore in (False, True):
        logits, target = inputs("multiclass", seed=9, ignore=ignore)
        ratio = target.numel() / (target != 255).sum().item()
        for eps in (0.0, 0.1):
            ours = segzoo.create_loss("cross_entropy", label_smoothing=eps)(logits, target)
            ref = smp_losses.SoftCrossEntropyLoss(smooth_factor=eps, ignore_index=255)(logits, target)
            assert_close(ours, ref * ratio)


def test_binary_cross_entropy_vs_smp_soft_bce():
    # smp's smooth_factor s moves targets to s / 1 - s: our label_smoothing 2 s; same mean convention as above
    for ignore in (False, True):
        logits, target = inputs("binary", seed=10, ignore=ignore)
        target4 = target.unsqueeze(1)
        ratio = target.numel() / (target != 255).sum().item()
        for s, pos_weight in ((None, None), (0.05, None), (0.1, 2.0)):
            ours = segzoo.create_loss(
                "cross_entropy", mode="binary", label_smoothing=2 * (s or 0.0), pos_weight=pos_weight
            )(logits, target)
            pw = None if pos_weight is None else torch.tensor([pos_weight], dtype=logits.dtype)
            ref = smp_losses.SoftBCEWithLogitsLoss(smooth_factor=s, ignore_index=255, pos_weight=pw)(logits, target4)
            assert_close(ours, ref * ratio)
