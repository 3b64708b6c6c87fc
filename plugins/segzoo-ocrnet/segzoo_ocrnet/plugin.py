"""segzoo hooks of segzoo-ocrnet: architecture ``ocrnet`` and the ``mmseg:ocrnet`` converter, as lazy factories
(``"module:function"``): discovery imports no torch."""

from __future__ import annotations

import segzoo

SEGZOO_PLUGIN_API = 1


@segzoo.hookimpl
def register_architectures(register):
    register(
        "ocrnet",
        "segzoo_ocrnet.model:build_ocrnet",
        default_encoder="hrnetv2_w48",
        description="OCRNet (Yuan et al. 2020): soft object regions (the auxiliary head, also used in inference), "
        "spatial gather of one feature per class and pixel-to-object attention",
        paper="https://arxiv.org/abs/1909.11065",
        encoders="HRNet (hrnetv2_*, head_input='concat', the default) or a dilated encoder with "
        "head_input='last' (resnet101_v1c at output_stride 8 as mmsegmentation); any input size",
    )


@segzoo.hookimpl
def register_converters(register):
    register(
        "mmseg:ocrnet",
        "segzoo_ocrnet.mmseg:convert_mmseg",
        description="mmsegmentation OCRNet (ocrnet_hr18s / hr18 / hr48 / r101-d8) -> segzoo ocrnet",
    )
