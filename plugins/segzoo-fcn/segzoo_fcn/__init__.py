"""FCN for segzoo: torchvision's dilated FCN (``fcn``) and the paper's FCN-8s skip architecture (``fcn8s``)."""

__version__ = "0.1.0"
