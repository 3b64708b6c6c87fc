"""LR-ASPP (Howard et al. 2019) for segzoo, with a converter for torchvision's lraspp_mobilenet_v3_large."""

__version__ = "0.1.0"
