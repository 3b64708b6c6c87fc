"""segzoo hooks of segzoo-losses: the losses ``cross_entropy``, ``dice``, ``jaccard``, ``tversky``, ``focal``,
``lovasz`` and ``combined``."""

from __future__ import annotations

import segzoo

SEGZOO_PLUGIN_API = 1

ALL_MODES = ("binary", "multiclass", "multilabel")


@segzoo.hookimpl
def register_losses(register):
    from segzoo_losses import (
        CombinedLoss,
        CrossEntropyLoss,
        DiceLoss,
        FocalLoss,
        JaccardLoss,
        LovaszLoss,
        TverskyLoss,
    )

    register("cross_entropy", CrossEntropyLoss, modes=ALL_MODES,
             description="cross-entropy (softmax for multiclass, sigmoid per channel otherwise) with class weights, "
                         "pos_weight and label smoothing")
    register("dice", DiceLoss, modes=ALL_MODES,
             description="soft Dice loss, averaged over the classes present in the target")
    register("jaccard", JaccardLoss, modes=ALL_MODES,
             description="soft Jaccard (IoU) loss, averaged over the classes present in the target")
    register("tversky", TverskyLoss, modes=ALL_MODES,
             description="(focal) Tversky loss: alpha weights false positives, beta false negatives, gamma focuses")
    register("focal", FocalLoss, modes=ALL_MODES,
             description="focal loss (Lin et al. 2017): softmax for multiclass, sigmoid per channel otherwise")
    register("lovasz", LovaszLoss, modes=ALL_MODES,
             description="Lovasz-softmax (multiclass) and Lovasz hinge (binary/multilabel), Berman et al. 2018")
    register("combined", CombinedLoss, modes=ALL_MODES,
             description="weighted sum of registered losses, e.g. losses={'cross_entropy': 1.0, 'dice': 0.5}")
