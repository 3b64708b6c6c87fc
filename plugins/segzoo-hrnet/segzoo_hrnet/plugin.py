"""segzoo hooks of segzoo-hrnet: encoders ``hrnetv2_w18_small``, ``hrnetv2_w18``, ``hrnetv2_w48``, architecture
``hrnet`` and the ``mmseg:hrnet`` converter, as lazy factories (``"module:function"``): discovery imports no torch."""

from __future__ import annotations

import segzoo

SEGZOO_PLUGIN_API = 1

_ENCODERS = {
    "hrnetv2_w18_small": "HRNetV2-W18-Small: branches of 18/36/72/144 channels, 2 blocks per branch",
    "hrnetv2_w18": "HRNetV2-W18: branches of 18/36/72/144 channels, 4 blocks per branch",
    "hrnetv2_w48": "HRNetV2-W48: branches of 48/96/192/384 channels, 4 blocks per branch",
}


@segzoo.hookimpl
def register_encoders(register):
    for name, description in _ENCODERS.items():
        register(
            name,
            f"segzoo_hrnet.encoder:{name}",
            description=f"{description} (strides 4-32, bilinear exchange units as mmsegmentation's)",
        )


@segzoo.hookimpl
def register_architectures(register):
    register(
        "hrnet",
        "segzoo_hrnet.model:build_hrnet",
        default_encoder="hrnetv2_w48",
        description="HRNetV2 (Sun et al. 2019): all encoder levels resized to stride 4 and concatenated, a 1x1 "
        "conv-BN-ReLU and a 1x1 classifier (mmsegmentation's FCN head on HRNet)",
        paper="https://arxiv.org/abs/1904.04514",
        encoders="designed for hrnetv2_w18_small / hrnetv2_w18 / hrnetv2_w48; any features_only encoder works "
        "(every level is concatenated at the finest one's resolution); any input size",
    )


@segzoo.hookimpl
def register_converters(register):
    register(
        "mmseg:hrnet",
        "segzoo_hrnet.mmseg:convert_mmseg",
        description="mmsegmentation HRNet + FCN head (fcn_hr18s / fcn_hr18 / fcn_hr48) -> segzoo hrnet",
    )
