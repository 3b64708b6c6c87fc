"""segzoo plugin: SegFormer (MiT-B0..B5) and UPerNet (ConvNeXt), numerically equal to Hugging Face transformers'
implementations, with converters for transformers checkpoints. transformers itself is not needed at runtime."""

__version__ = "0.1.0"
