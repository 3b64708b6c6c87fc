"""mmsegmentation's DeepLabV3 (``ASPPHead`` on a ResNet, auxiliary ``FCNHead``) -> segzoo ``deeplabv3`` with
``mmseg_head=True`` (3x3 ASPP projection straight to the classifier).

- :func:`spec_from_mmseg`: mmseg ``cfg.model`` (a dict) -> segzoo architecture, encoder, options, or ``ValueError``.
- :func:`convert_mmseg` (the ``mmseg:deeplabv3`` converter): an mmseg checkpoint's ``state_dict`` -> segzoo keys.
"""

from __future__ import annotations

import torch

from segzoo_deeplab.mmseg_common import aspp_spec, convert_aspp


def spec_from_mmseg(model_cfg: dict) -> dict:
    """segzoo's ``architecture``, ``encoder``, ``options`` and ``requires`` for an mmseg DeepLabV3 ``cfg.model``."""
    encoder, options, _ = aspp_spec(model_cfg, "ASPPHead", default_output_stride=8)
    return {"architecture": "deeplabv3", "encoder": encoder, "options": options, "requires": "segzoo-deeplab"}


def convert_mmseg(state_dict: dict[str, torch.Tensor], entry: dict) -> dict[str, torch.Tensor]:
    """An mmseg DeepLabV3 checkpoint's ``state_dict`` -> segzoo ``deeplabv3`` keys (``auxiliary_head.*`` dropped
    unless the entry's model has ``aux_head``)."""
    return convert_aspp(state_dict, entry, [], separable=False, upstream="mmseg DeepLabV3")
