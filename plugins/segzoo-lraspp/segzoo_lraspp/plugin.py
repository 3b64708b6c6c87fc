"""segzoo hooks of segzoo-lraspp: architecture ``lraspp`` and the ``torchvision:lraspp`` converter.

The default encoder, ``tv_mobilenet_v3_large`` (torchvision's MobileNetV3-Large), is registered by segzoo-deeplab,
a dependency of this package. Builders are registered as lazy factories (``"module:function"``), imported on
first use, so that discovery imports no torch.
"""

from __future__ import annotations

import segzoo

SEGZOO_PLUGIN_API = 1


@segzoo.hookimpl
def register_architectures(register):
    register(
        "lraspp",
        "segzoo_lraspp.model:build_lraspp",
        default_encoder="tv_mobilenet_v3_large",
        description="LR-ASPP (Howard et al. 2019): lite pooling-gated head on stride-16 and stride-8 features",
        paper="https://arxiv.org/abs/1905.02244",
        encoders="encoders with a stride-8 feature; output_stride 16 (default) needs one that dilates, 32 works "
        "with any",
    )


@segzoo.hookimpl
def register_converters(register):
    register("torchvision:lraspp", "segzoo_lraspp.convert:convert_torchvision_lraspp")
