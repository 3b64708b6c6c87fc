"""segzoo-losses: hand-worked values, ignore_index, gradients, validation, registry and the combined loss."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
import torch
import torch.nn.functional as F

import segzoo
from segzoo_losses import (
    CombinedLoss,
    CrossEntropyLoss,
    DiceLoss,
    FocalLoss,
    JaccardLoss,
    LossInputError,
    LovaszLoss,
    TverskyLoss,
)
from segzoo.errors import ConfigurationError, UnknownNameError

NAMES = ["cross_entropy", "dice", "jaccard", "tversky", "focal", "lovasz"]
MODES = ["binary", "multiclass", "multilabel"]


def logit(p):
    p = torch.as_tensor(p, dtype=torch.float64)
    return torch.log(p) - torch.log1p(-p)


def scalar(x) -> float:
    return float(x.detach()) if isinstance(x, torch.Tensor) else float(x)


def close(a, b, tol=1e-6):
    return abs(scalar(a) - scalar(b)) <= tol


def make_inputs(mode, *, n=2, c=3, h=6, w=5, ignore=255, seed=0, ignored_frac=0.2):
    """Random logits and a target for ``mode`` with about ``ignored_frac`` ignored elements."""
    g = torch.Generator().manual_seed(seed)
    c = 1 if mode == "binary" else c
    logits = torch.randn(n, c, h, w, generator=g, dtype=torch.float64) * 2
    if mode == "multiclass":
        target = torch.randint(0, c, (n, h, w), generator=g)
        drop = torch.rand(n, h, w, generator=g) < ignored_frac
    else:
        target = torch.randint(0, 2, (n, c, h, w), generator=g).to(torch.float64)
        drop = torch.rand(n, c, h, w, generator=g) < ignored_frac
        if mode == "binary" and seed % 2:
            target, drop = target[:, 0], drop[:, 0]  # the (N, H, W) form
    if ignore is not None:
        target = target.masked_fill(drop, ignore)
    return logits, target, drop


def ignored_elements(mode, logits, drop):
    """Boolean mask over the logits' elements that belong to ignored pixels."""
    if drop.dim() == logits.dim() - 1:
        drop = drop.unsqueeze(1)
    return drop.expand_as(logits)


# -- hand-worked values ------------------------------------------------------------------------------------------------

# A 2x2 binary example: probabilities p = [[0.8, 0.4], [0.1, 0.6]], target t = [[1, 0], [0, 1]]
#   TP = 0.8 + 0.6 = 1.4, sum p = 1.9, sum t = 2, FP = sum p - TP = 0.5, FN = sum t - TP = 0.6
P22 = [[0.8, 0.4], [0.1, 0.6]]
T22 = [[1.0, 0.0], [0.0, 1.0]]


def binary_22():
    return logit(P22).reshape(1, 1, 2, 2), torch.tensor(T22, dtype=torch.float64).reshape(1, 2, 2)


def test_dice_2x2_binary():
    # Dice = 2 TP / (sum p + sum t) = 2.8 / 3.9, loss = 1.1 / 3.9 = 0.282051...
    logits, target = binary_22()
    assert close(DiceLoss(mode="binary")(logits, target), 1.1 / 3.9)
    # smooth = 1: (TP + 1) / (TP + FP/2 + FN/2 + 1) = 2.4 / 2.95
    assert close(DiceLoss(mode="binary", smooth=1.0)(logits, target), 1 - 2.4 / 2.95)
    # log_loss: -log(2.8 / 3.9)
    assert close(DiceLoss(mode="binary", log_loss=True)(logits, target), -math.log(2.8 / 3.9))


def test_jaccard_2x2_binary():
    # IoU = TP / (sum p + sum t - TP) = 1.4 / 2.5 = 0.56, loss = 0.44
    logits, target = binary_22()
    assert close(JaccardLoss(mode="binary")(logits, target), 0.44)


def test_tversky_2x2_binary():
    # alpha = 0.7 (FP), beta = 0.3 (FN): T = 1.4 / (1.4 + 0.7 * 0.5 + 0.3 * 0.6) = 1.4 / 1.93, loss = 0.53 / 1.93
    logits, target = binary_22()
    assert close(TverskyLoss(mode="binary", alpha=0.7, beta=0.3)(logits, target), 0.53 / 1.93)
    # focal Tversky, gamma = 2: (0.53 / 1.93)^2
    assert close(TverskyLoss(mode="binary", alpha=0.7, beta=0.3, gamma=2.0)(logits, target), (0.53 / 1.93) ** 2)


@pytest.mark.parametrize("mode", MODES)
def test_tversky_special_cases_equal_dice_and_jaccard(mode):
    logits, target, _ = make_inputs(mode, seed=3)
    assert close(
        TverskyLoss(mode=mode, alpha=0.5, beta=0.5)(logits, target), DiceLoss(mode=mode)(logits, target), 1e-12
    )
    assert close(
        TverskyLoss(mode=mode, alpha=1.0, beta=1.0)(logits, target), JaccardLoss(mode=mode)(logits, target), 1e-12
    )
    # Dice D and Jaccard J of one class satisfy J = D / (2 - D)
    d = 1 - DiceLoss(mode="binary")(*binary_22())
    j = 1 - JaccardLoss(mode="binary")(*binary_22())
    assert close(j, d / (2 - d), 1e-12)


def test_dice_multiclass_averages_present_classes():
    # two pixels, three classes; the logits are log-probabilities, so softmax gives p back exactly:
    #   pixel 1: p = (0.7, 0.2, 0.1), target 0;  pixel 2: p = (0.3, 0.6, 0.1), target 1;  class 2 is absent
    #   class 0: TP = 0.7, sum p = 1.0, sum t = 1 -> Dice 1.4 / 2 = 0.7 -> loss 0.3
    #   class 1: TP = 0.6, sum p = 0.8, sum t = 1 -> Dice 1.2 / 1.8 -> loss 1/3
    #   mean over the two present classes: (0.3 + 1/3) / 2
    p = torch.tensor([[0.7, 0.3], [0.2, 0.6], [0.1, 0.1]], dtype=torch.float64)
    logits = p.log().reshape(1, 3, 1, 2)
    target = torch.tensor([[[0, 1]]])
    assert close(DiceLoss()(logits, target), (0.3 + 1 / 3) / 2)
    # classes=[1]: only class 1; class_weights 3:1 -> (3 * 0.3 + 1 * 1/3) / 4 (class 2's weight is unused: absent)
    assert close(DiceLoss(classes=[1])(logits, target), 1 / 3)
    assert close(DiceLoss(class_weights=[3, 1, 5])(logits, target), (3 * 0.3 + 1 / 3) / 4)
    # focal Tversky, gamma = 2, is applied per class: (0.3^2 + (1/3)^2) / 2
    assert close(TverskyLoss(gamma=2.0)(logits, target), (0.09 + 1 / 9) / 2)
    # Jaccard: class 0: 0.7 / (1 + 1 - 0.7) = 0.7 / 1.3; class 1: 0.6 / (0.8 + 1 - 0.6) = 0.5
    assert close(JaccardLoss()(logits, target), ((1 - 0.7 / 1.3) + 0.5) / 2)


def test_focal_hand_value_and_gamma_zero_is_cross_entropy():
    # one pixel, p = sigmoid(z) = 0.8, target 1, gamma 2, alpha 0.25: 0.25 * (1 - 0.8)^2 * -log(0.8)
    z = logit([0.8]).reshape(1, 1, 1, 1)
    t = torch.ones(1, 1, 1)
    assert close(FocalLoss(mode="binary", alpha=0.25, gamma=2)(z, t), 0.25 * 0.04 * -math.log(0.8))
    # target 0 with alpha 0.25: (1 - 0.25) * 0.8^2 * -log(0.2)
    assert close(FocalLoss(mode="binary", alpha=0.25, gamma=2)(z, t * 0), 0.75 * 0.64 * -math.log(0.2))

    for mode in MODES:
        logits, target, _ = make_inputs(mode, seed=5)
        focal = FocalLoss(mode=mode, gamma=0.0)(logits, target)
        ce = CrossEntropyLoss(mode=mode)(logits, target)
        assert close(focal, ce, 1e-12), mode
    logits, target, _ = make_inputs("multiclass", seed=5)
    expected = F.cross_entropy(logits, target, ignore_index=255)
    assert close(FocalLoss(gamma=0)(logits, target), expected, 1e-12)
    # per-class alpha with gamma 0 is a class-weighted sum of CE divided by the number of counted pixels
    alpha = torch.tensor([0.2, 1.0, 3.0], dtype=torch.float64)
    expected = F.cross_entropy(logits, target, weight=alpha, ignore_index=255, reduction="sum") / (target != 255).sum()
    assert close(FocalLoss(gamma=0, alpha=alpha.tolist())(logits, target), expected, 1e-12)


def test_focal_multiclass_matches_formula():
    logits, target, _ = make_inputs("multiclass", seed=6)
    valid = target != 255
    logp = logits.log_softmax(1).gather(1, target.clamp_max(2).unsqueeze(1)).squeeze(1)[valid]
    expected = (-((1 - logp.exp()) ** 2) * logp).mean()
    assert close(FocalLoss(gamma=2)(logits, target), expected, 1e-12)
    # normalized: sum FL / sum (1 - p_t)^gamma
    expected = (-((1 - logp.exp()) ** 2) * logp).sum() / ((1 - logp.exp()) ** 2).sum()
    assert close(FocalLoss(gamma=2, normalized=True)(logits, target), expected, 1e-12)
    # reduced focal loss: factor 1 below the threshold
    pt = logp.exp()
    factor = torch.where(pt < 0.5, torch.ones_like(pt), ((1 - pt) / 0.5) ** 2)
    assert close(FocalLoss(gamma=2, reduced_threshold=0.5)(logits, target), (-factor * logp).mean(), 1e-12)
    assert close(FocalLoss(gamma=2, reduction="sum")(logits, target), (-((1 - pt) ** 2) * logp).sum(), 1e-10)


def _jaccard_loss_of_set(mispredicted: set[int], gt: set[int], pixels: range) -> Fraction:
    """Delta_J(M): the Jaccard loss of the prediction that gets exactly the pixels in M wrong (for one class)."""
    predicted = (gt - mispredicted) | (mispredicted - gt)
    union = gt | predicted
    return Fraction(0) if not union else 1 - Fraction(len(gt & predicted), len(union))


def _lovasz_direct(errors: list[float], gt: list[int]) -> float:
    """The Lovasz extension by its definition: sum_i m_(i) (Delta(first i) - Delta(first i-1)), with set functions."""
    order = sorted(range(len(errors)), key=lambda i: -errors[i])
    gset = {i for i, g in enumerate(gt) if g}
    total, prev, chosen = 0.0, Fraction(0), set()
    for i in order:
        chosen.add(i)
        cur = _jaccard_loss_of_set(chosen, gset, range(len(errors)))
        total += errors[i] * float(cur - prev)
        prev = cur
    return total


def test_lovasz_hinge_hand_value():
    # z = [2, -0.5, 0.3], t = [1, 1, 0]: errors 1 - z (2t - 1) = [-1, 1.5, 1.3] -> relu [0, 1.5, 1.3]
    # order 1.5 (pixel 1, fg), 1.3 (pixel 2, bg), 0 (pixel 0, fg); G = {0, 1}
    #   M = {1}: prediction {0} -> 1 - 1/2 = 1/2;  M = {1, 2}: prediction {0, 2} -> 1 - 1/3 = 2/3;  M = all: 1
    #   loss = 1.5 * 1/2 + 1.3 * (2/3 - 1/2) + 0 * (1 - 2/3) = 0.75 + 1.3 / 6
    z = torch.tensor([2.0, -0.5, 0.3], dtype=torch.float64).reshape(1, 1, 1, 3)
    t = torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64).reshape(1, 1, 3)
    assert close(LovaszLoss(mode="binary")(z, t), 0.75 + 1.3 / 6)
    assert close(_lovasz_direct([0.0, 1.5, 1.3], [1, 1, 0]), 0.75 + 1.3 / 6)


def test_lovasz_softmax_vs_direct_extension():
    torch.manual_seed(0)
    logits = torch.randn(1, 3, 3, 4, dtype=torch.float64)
    target = torch.tensor([[[0, 0, 1, 1], [2, 0, 1, 255], [0, 255, 1, 1]]])
    probs = logits.softmax(1)[0].reshape(3, -1)
    flat = target.reshape(-1)
    keep = flat != 255
    per_class = []
    for c in range(3):
        fg = (flat[keep] == c).long()
        if fg.sum() == 0:
            continue
        errors = (fg - probs[c][keep]).abs()
        per_class.append(_lovasz_direct(errors.tolist(), fg.tolist()))
    expected = sum(per_class) / len(per_class)
    assert close(LovaszLoss()(logits, target), expected, 1e-12)
    # classes="all" and a list, and per_image over a batch of two = mean of the single-image losses
    assert close(LovaszLoss(classes=[1])(logits, target), per_class[1], 1e-12)
    other = torch.randn(1, 3, 3, 4, dtype=torch.float64)
    batch = torch.cat([logits, other]), torch.cat([target, torch.randint(0, 3, (1, 3, 4))])
    single = [LovaszLoss()(batch[0][i : i + 1], batch[1][i : i + 1]) for i in range(2)]
    assert close(LovaszLoss(per_image=True)(*batch), sum(single) / 2, 1e-12)


def test_lovasz_multilabel_is_mean_of_binary_channels():
    logits, target, _ = make_inputs("multilabel", seed=7)
    per_channel = [LovaszLoss(mode="binary")(logits[:, c : c + 1], target[:, c : c + 1]) for c in range(3)]
    assert close(LovaszLoss(mode="multilabel")(logits, target), sum(per_channel) / 3, 1e-12)


def test_label_smoothing_matches_torch():
    logits, target, _ = make_inputs("multiclass", c=4, seed=8)
    weight = [0.5, 1.0, 2.0, 0.25]
    for ls in (0.0, 0.1, 0.3):
        ours = CrossEntropyLoss(weight=weight, label_smoothing=ls)(logits, target)
        ref = F.cross_entropy(
            logits, target, weight=torch.tensor(weight, dtype=torch.float64), ignore_index=255, label_smoothing=ls
        )
        assert close(ours, ref, 1e-12), ls
        ref_sum = F.cross_entropy(logits, target, ignore_index=255, label_smoothing=ls, reduction="sum")
        assert close(CrossEntropyLoss(label_smoothing=ls, reduction="sum")(logits, target), ref_sum, 1e-9)


def test_binary_cross_entropy_is_two_class_softmax():
    # sigmoid(z) = softmax([0, z])[1], and smoothing e maps t to t (1 - e) + e / 2 as F.cross_entropy does for 2 classes
    logits, target, _ = make_inputs("binary", seed=9)
    two = torch.cat([torch.zeros_like(logits), logits], dim=1)
    for ls in (0.0, 0.2):
        ref = F.cross_entropy(two, target.long(), ignore_index=255, label_smoothing=ls)  # target (N, H, W)
        assert close(CrossEntropyLoss(mode="binary", label_smoothing=ls)(logits, target), ref, 1e-12)
    # pos_weight and per-channel weight (multilabel): a weighted mean over the counted elements
    logits, target, drop = make_inputs("multilabel", seed=10)
    valid = ~drop
    pw, w = torch.tensor([2.0, 0.5, 1.0], dtype=torch.float64), torch.tensor([1.0, 3.0, 0.5], dtype=torch.float64)
    per = F.binary_cross_entropy_with_logits(
        logits, target.masked_fill(drop, 0), pos_weight=pw[:, None, None], reduction="none"
    )
    wmap = w[:, None, None].expand_as(per)
    expected = (per * wmap)[valid].sum() / wmap[valid].sum()
    assert close(
        CrossEntropyLoss(mode="multilabel", pos_weight=pw.tolist(), weight=w.tolist())(logits, target), expected, 1e-12
    )


# -- ignore_index, gradients, empty batches -------------------------------------------------------------------------


def _all_losses(mode):
    for name in NAMES:
        yield name, segzoo.create_loss(name, mode=mode)
    yield (
        "combined",
        segzoo.create_loss("combined", losses={"cross_entropy": 1.0, "dice": 0.5, "lovasz": 0.25}, mode=mode),
    )


@pytest.mark.parametrize("mode", MODES)
def test_ignored_pixels_do_not_matter(mode):
    logits, target, drop = make_inputs(mode, seed=11)
    changed = logits.clone()
    mask = ignored_elements(mode, logits, drop)
    changed[mask] = torch.randn(int(mask.sum()), dtype=torch.float64) * 50
    for name, loss in _all_losses(mode):
        a = logits.clone().requires_grad_()
        b = changed.clone().requires_grad_()
        la, lb = loss(a, target), loss(b, target)
        la.backward()
        lb.backward()
        assert close(la, lb, 1e-10), name
        assert torch.allclose(a.grad, b.grad, atol=1e-12), name
        assert (a.grad[mask] == 0).all(), name
        assert torch.isfinite(a.grad).all() and a.grad[~mask].abs().sum() > 0, name


@pytest.mark.parametrize("mode", MODES)
def test_all_ignored_batch_gives_zero_and_finite_gradients(mode):
    logits, target, _ = make_inputs(mode, seed=12, ignored_frac=1.1)
    for name, loss in _all_losses(mode):
        x = logits.clone().float().requires_grad_()
        value = loss(x, target)
        value.backward()
        assert value.dim() == 0 and scalar(value) == 0.0, name
        assert torch.isfinite(x.grad).all() and (x.grad == 0).all(), name
    for opts in ({"normalized": True}, {"reduced_threshold": 0.5}, {"gamma": 0.5}):
        x = logits.clone().float().requires_grad_()
        value = FocalLoss(mode=mode, **opts)(x, target)
        value.backward()
        assert scalar(value) == 0.0 and (x.grad == 0).all()


@pytest.mark.parametrize("mode", MODES)
def test_gradients_finite_with_saturated_logits(mode):
    logits, target, _ = make_inputs(mode, seed=13, ignore=None)
    logits = (logits * 1e3).float()  # probabilities of exactly 0 and 1 in float32
    options = {"tversky": {"gamma": 0.75}, "focal": {"gamma": 0.5}}
    for name in NAMES:
        x = logits.clone().requires_grad_()
        value = segzoo.create_loss(name, mode=mode, ignore_index=None, **options.get(name, {}))(x, target)
        value.backward()
        assert torch.isfinite(value) and torch.isfinite(x.grad).all(), name


def test_autocast_bf16_cpu():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 4, 3, padding=1)
    image = torch.randn(2, 3, 16, 16)
    target = torch.randint(0, 4, (2, 16, 16))
    target[:, :2] = 255
    for name in [*NAMES, "combined"]:
        opts = {"losses": {"cross_entropy": 1.0, "dice": 1.0}} if name == "combined" else {}
        loss = segzoo.create_loss(name, **opts)
        conv.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = conv(image)
            assert logits.dtype == torch.bfloat16
            value = loss(logits, target)
        assert value.dtype == torch.float32, name
        value.backward()
        assert torch.isfinite(conv.weight.grad).all(), name
        assert close(value, loss(logits.detach().float(), target), 1e-6), name


def test_cross_entropy_takes_channels_last_logits_as_they_are():
    logits, target, _ = make_inputs("multiclass", n=3, c=5, h=7, w=9, seed=21)
    weight = [0.5, 1.0, 2.0, 0.25, 1.5]
    grads = []
    for memory_format in (torch.contiguous_format, torch.channels_last):
        x = logits.clone().contiguous(memory_format=memory_format).requires_grad_()
        value = CrossEntropyLoss(weight=weight, label_smoothing=0.1)(x, target)
        value.backward()
        grads.append((value, x.grad))
    ref = F.cross_entropy(
        logits, target, weight=torch.tensor(weight, dtype=logits.dtype), ignore_index=255, label_smoothing=0.1
    )
    assert close(grads[0][0], ref, 1e-12) and close(grads[1][0], ref, 1e-12)
    assert torch.allclose(grads[0][1], grads[1][1], atol=1e-12)


def test_float64_stays_float64():
    logits, target, _ = make_inputs("multiclass")
    for name in NAMES:
        assert segzoo.create_loss(name)(logits, target).dtype == torch.float64


def test_ignore_index_none_and_other_values():
    logits, target, _ = make_inputs("multiclass", ignore=None, seed=14)
    ref = F.cross_entropy(logits, target)
    assert close(CrossEntropyLoss(ignore_index=None)(logits, target), ref, 1e-12)
    # ignore_index may be a real class (e.g. 0 = background) or negative
    assert close(
        CrossEntropyLoss(ignore_index=0)(logits, target), F.cross_entropy(logits, target, ignore_index=0), 1e-12
    )
    neg = target.masked_fill(target == 2, -1)
    assert close(CrossEntropyLoss(ignore_index=-1)(logits, neg), F.cross_entropy(logits, neg, ignore_index=-1), 1e-12)
    with pytest.raises(LossInputError, match=r"class indices \[255\] outside \[0, 2\]"):
        CrossEntropyLoss(ignore_index=None)(logits, target.masked_fill(target == 1, 255))


# -- validation --------------------------------------------------------------------------------------------------------


def test_input_validation_messages():
    logits = torch.randn(2, 3, 4, 4)
    good = torch.randint(0, 3, (2, 4, 4))
    loss = DiceLoss()
    with pytest.raises(LossInputError, match=r"target \(N, H, W\) = \(2, 4, 4\).*got \(2, 4, 5\)"):
        loss(logits, torch.randint(0, 3, (2, 4, 5)))
    with pytest.raises(LossInputError, match=r"squeeze the channel dimension"):
        loss(logits, good.unsqueeze(1))
    with pytest.raises(LossInputError, match=r"one-hot or multilabel"):
        loss(logits, F.one_hot(good, 3).permute(0, 3, 1, 2))
    with pytest.raises(LossInputError, match=r"integer class indices .*torch.float32"):
        loss(logits, good.float())
    with pytest.raises(LossInputError, match=r"class indices \[3, 7\] outside \[0, 2\]"):
        loss(logits, good.masked_fill(good == 0, 3).index_put_((torch.tensor([0]),) * 3, torch.tensor(7)))
    with pytest.raises(LossInputError, match=r"class indices \[-2\]"):
        loss(logits, good.masked_fill(good == 0, -2))
    with pytest.raises(LossInputError, match=r"floating-point"):
        loss(good.unsqueeze(1).expand(2, 3, 4, 4), good)
    with pytest.raises(LossInputError, match=r"mode='binary' expects logits with 1 channel, got 3"):
        DiceLoss(mode="binary")(logits, good)
    with pytest.raises(LossInputError, match=r"values 0 or 1 .*found \[2.0\]"):
        DiceLoss(mode="binary")(logits[:, :1], good.float())
    with pytest.raises(LossInputError, match=r"mode='multilabel' expects target of the logits' shape"):
        FocalLoss(mode="multilabel")(logits, good)
    with pytest.raises(LossInputError, match=r"mode='multiclass' needs at least 2 channels"):
        CrossEntropyLoss()(logits[:, :1], good)
    with pytest.raises(LossInputError, match=r"weight has 2 values but the logits have 3 channels"):
        CrossEntropyLoss(weight=[1.0, 2.0])(logits, good)
    with pytest.raises(LossInputError, match=r"classes=\[5\]"):
        LovaszLoss(classes=[5])(logits, good)
    assert isinstance(LossInputError("x"), ValueError)


def test_option_validation():
    with pytest.raises(ConfigurationError, match=r"mode must be one of 'binary', 'multiclass', 'multilabel'"):
        DiceLoss(mode="multi-class")
    with pytest.raises(ConfigurationError, match=r"pos_weight"):
        CrossEntropyLoss(weight=[1.0], mode="binary")
    with pytest.raises(ConfigurationError, match=r"label_smoothing must be <= 1"):
        CrossEntropyLoss(label_smoothing=1.5)
    with pytest.raises(ConfigurationError, match=r"alpha is one factor per class"):
        FocalLoss(alpha=0.25)
    with pytest.raises(ConfigurationError, match=r"classes does not apply to mode='binary'"):
        DiceLoss(mode="binary", classes=[0])
    with pytest.raises(ConfigurationError, match=r"ignore_index must be an int or None"):
        DiceLoss(ignore_index=1.5)
    with pytest.raises(TypeError):
        DiceLoss(from_logits=False)


# -- registry and combined ---------------------------------------------------------------------------------------------


def test_registry_lists_and_creates():
    from segzoo import registry

    names = segzoo.list_losses()
    for name in [*NAMES, "combined"]:
        assert name in names
        entry = registry.get("losses", name)
        assert entry.provider == "segzoo-losses"
        assert entry.metadata["modes"] == ("binary", "multiclass", "multilabel")
    assert isinstance(segzoo.create_loss("dice", mode="binary"), DiceLoss)
    with pytest.raises(UnknownNameError, match="did you mean 'dice'"):
        segzoo.create_loss("dise")
    with pytest.raises(TypeError):
        segzoo.create_loss("dice", colour="red")


@pytest.mark.parametrize(
    "name, option, says",
    [
        ("dice", "bogus", r"loss 'dice' has no option 'bogus' \(its options: mode, ignore_index, classes, log_loss, "),
        ("jaccard", "smoth", r"loss 'jaccard' has no option 'smoth'; did you mean 'smooth'\? \(its options: "),
        ("tversky", "alfa", r"loss 'tversky' has no option 'alfa'; did you mean 'alpha'\?"),
        ("lovasz", "per_imag", r"loss 'lovasz' has no option 'per_imag'; did you mean 'per_image'\?"),
    ],
)
def test_an_unknown_option_names_the_loss_and_its_options(name, option, says):
    """Not Python's ``_FixedTversky.__init__() got an unexpected keyword argument``: dice's class is private."""
    with pytest.raises(TypeError, match=says) as info:
        segzoo.create_loss(name, **{option: 1})
    assert "_FixedTversky" not in str(info.value) and "__init__" not in str(info.value)


def test_combined_weighted_sum():
    logits, target, _ = make_inputs("multiclass", seed=15)
    combined = segzoo.create_loss("combined", losses={"cross_entropy": 1.0, "dice": 0.5}, ignore_index=255)
    expected = CrossEntropyLoss()(logits, target) + 0.5 * DiceLoss()(logits, target)
    assert close(combined(logits, target), expected, 1e-12)
    assert set(combined.last_values) == {"cross_entropy", "dice"}

    # per-loss options override the shared ones; repeated names get suffixes; modules and nested combined work
    combined = segzoo.create_loss(
        "combined",
        losses=[
            ("cross_entropy", 1.0, {"label_smoothing": 0.1}),
            ("dice", 0.5, {"ignore_index": None}),
            ("dice", 0.25),
            (FocalLoss(gamma=1), 2.0),
            ("combined", 1.0, {"losses": {"jaccard": 1.0}}),
        ],
        ignore_index=1,
    )
    expected = (
        CrossEntropyLoss(label_smoothing=0.1, ignore_index=1)(logits, target.clamp_max(2))
        + 0.5 * DiceLoss(ignore_index=None)(logits, target.clamp_max(2))
        + 0.25 * DiceLoss(ignore_index=1)(logits, target.clamp_max(2))
        + 2.0 * FocalLoss(gamma=1)(logits, target.clamp_max(2))
        + JaccardLoss(ignore_index=1)(logits, target.clamp_max(2))
    )
    assert close(combined(logits, target.clamp_max(2)), expected, 1e-12)
    assert combined.names == ["cross_entropy", "dice", "dice_1", "focal", "combined"]

    with pytest.raises(TypeError, match="component 'dice' does not accept these options"):
        CombinedLoss({"dice": 1.0}, label_smoothing=0.1)
    with pytest.raises(UnknownNameError, match="unknown loss 'dise'"):
        CombinedLoss({"dise": 1.0})
    with pytest.raises(ConfigurationError, match="must be a number"):
        CombinedLoss({"dice": "1"})
    with pytest.raises(ConfigurationError, match="empty"):
        CombinedLoss({})


def test_combined_resolves_third_party_losses():
    """A loss registered by another plugin is found by name (registered here through the plugin manager)."""
    from segzoo import registry

    class L1Probability(torch.nn.Module):
        def __init__(self, scale=1.0):
            super().__init__()
            self.scale = scale

        def forward(self, logits, target):
            return self.scale * logits.softmax(1).amax(1).mean()

    class ThirdParty:
        SEGZOO_PLUGIN_API = 1

        @staticmethod
        @segzoo.hookimpl
        def register_losses(register):
            register("max_probability", L1Probability)

    registry.reset()
    try:
        assert registry.add_plugin(ThirdParty(), package="segzoo-third").status == "ok"
        logits, target, _ = make_inputs("multiclass", seed=16)
        combined = segzoo.create_loss("combined", losses=[("max_probability", 2.0, {"scale": 3.0}), ("dice", 1.0)])
        expected = 6.0 * logits.softmax(1).amax(1).mean() + DiceLoss()(logits, target)
        assert close(combined(logits, target), expected, 1e-12)
    finally:
        registry.reset()
