"""DeepLabV3 and DeepLabV3+ for segzoo, with converters for torchvision's DeepLabV3 checkpoints."""

__version__ = "0.1.0"
