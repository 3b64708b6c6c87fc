"""Decoders: turn the encoder's feature pyramid into one feature map for the head."""

from __future__ import annotations

import torch
from torch import nn


class Decoder(nn.Module):
    """Base class of all decoders.

    ``forward(features)`` receives the encoder's whole feature list (finest first) and returns one map with
    ``out_channels`` channels. ``input_divisor`` is the number the input height and width must be divisible by
    (1 when the decoder resizes its way to any size).
    """

    out_channels: int
    input_divisor: int = 1

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError
