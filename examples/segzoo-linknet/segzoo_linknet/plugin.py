"""segzoo hooks of segzoo-linknet: the ``linknet`` architecture and one catalog entry whose weights are on the Hub.

Generated with ``segzoo new-plugin linknet`` and completed by hand (the template's example loss and dataset were
removed: LinkNet needs neither). The architecture is registered as a lazy factory, the string
``"segzoo_linknet.model:build_linknet"``, so that discovering the plugin imports no torch.
"""

from __future__ import annotations

import segzoo

SEGZOO_PLUGIN_API = 1

#: A demonstration entry: no trained LinkNet weights are published. The repository below is a placeholder, which
#: the tests fill with random weights on a local Hub server; a real entry pins the commit and the file's sha256.
CATALOG = [
    {
        "name": "linknet-resnet18-demo",
        "description": "Demonstration entry of the segzoo-linknet example plugin: LinkNet with a ResNet-18 encoder; "
        "the Hub repository is a placeholder without trained weights",
        "architecture": "linknet",
        "encoder": "resnet18",
        "options": {},
        "requires": "segzoo-linknet",
        "num_classes": 2,
        "class_names": ["background", "foreground"],
        "preprocessing": {
            "mean": [0.485, 0.456, 0.406],
            "std": [0.229, 0.224, 0.225],
            "interpolation": "bilinear",
            "ignore_index": 255,
        },
        "dataset": {"train": "none (demonstration entry)", "eval": "none (demonstration entry)"},
        "metrics": {"values": {}, "source": "none: demonstration entry without trained weights"},
        "license": "Apache-2.0",
        "paper": {
            "title": "LinkNet: Exploiting Encoder Representations for Efficient Semantic Segmentation",
            "url": "https://arxiv.org/abs/1707.03718",
        },
        "weights": {
            "format": "segzoo",
            "sha256": None,
            "hub": {
                "repo_id": "segzoo-examples/linknet-resnet18-demo",
                "filename": "model.safetensors",
                "revision": "main",
            },
        },
    },
]


@segzoo.hookimpl
def register_architectures(register):
    register(
        "linknet",
        "segzoo_linknet.model:build_linknet",  # imported on first use
        default_encoder="resnet18",
        description="LinkNet (Chaurasia & Culurciello 2017): encoder features added back into a light decoder of "
        "1x1 / 3x3 full-conv x2 / 1x1 blocks",
        paper="https://arxiv.org/abs/1707.03718",
        encoders="any encoder whose feature strides double at every level (timm ResNets, EfficientNets, "
        "MobileNets, ConvNeXts); input sides divisible by the deepest stride (32)",
    )


@segzoo.hookimpl
def register_catalog(register):
    for entry in CATALOG:
        register(entry["name"], entry)
