"""segzoo hooks of segzoo-losses: the losses ``cross_entropy``, ``dice``, ``jaccard``, ``tversky``, ``focal``,
``lovasz`` and ``combined``."""

from __future__ import annotations

import segzoo

SEGZOO_PLUGIN_API = 1

ALL_MODES = ("binary", "multiclass", "multilabel")


LOSSES = {
    "cross_entropy": (
        "CrossEntropyLoss",
        "cross-entropy (softmax for multiclass, sigmoid per channel otherwise) "
        "with class weights, pos_weight and label smoothing",
    ),
    "dice": ("DiceLoss", "soft Dice loss, averaged over the classes present in the target"),
    "jaccard": ("JaccardLoss", "soft Jaccard (IoU) loss, averaged over the classes present in the target"),
    "tversky": (
        "TverskyLoss",
        "(focal) Tversky loss: alpha weights false positives, beta false negatives, gamma focuses",
    ),
    "focal": ("FocalLoss", "focal loss (Lin et al. 2017): softmax for multiclass, sigmoid per channel otherwise"),
    "lovasz": ("LovaszLoss", "Lovasz-softmax (multiclass) and Lovasz hinge (binary/multilabel), Berman et al. 2018"),
    "combined": ("CombinedLoss", "weighted sum of registered losses, e.g. losses={'cross_entropy': 1.0, 'dice': 0.5}"),
}


@segzoo.hookimpl
def register_losses(register):
    for name, (class_name, description) in LOSSES.items():
        register(name, f"segzoo_losses:{class_name}", modes=ALL_MODES, description=description)  # imported when used
