"""The check of an encoder a plugin registers (``register_encoders``)."""

from __future__ import annotations

import torch

from segzoo.nn import Encoder, create_encoder
from segzoo.testing._checks.base import Check

__all__ = ["encoder_checks"]


def encoder_checks(name: str, *, size: tuple[int, int] = (64, 96), seed: int = 0) -> list[Check]:
    """The check of a registered (non-timm) encoder: ``create_encoder(name, in_channels=c)`` for 3 and 4 channels
    is a :class:`segzoo.nn.Encoder` whose ``forward`` gives one map per ``out_channels``/``reductions`` entry,
    finest first, with those channels and the input size divided by the reduction (rounded either way)."""

    def features() -> None:
        for channels in (3, 4):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                encoder = create_encoder(name, in_channels=channels).eval()
            assert isinstance(encoder, Encoder), f"build returned {type(encoder).__name__}, not a segzoo.nn.Encoder"
            assert len(encoder.out_channels) == len(encoder.reductions) > 0, (
                f"out_channels {encoder.out_channels} and reductions {encoder.reductions} must pair up"
            )
            assert list(encoder.reductions) == sorted(encoder.reductions), (
                f"reductions {encoder.reductions}: finest first"
            )
            with torch.no_grad():
                maps = encoder(torch.randn(2, channels, *size))
            assert len(maps) == len(encoder.out_channels), (
                f"{len(maps)} maps for {len(encoder.out_channels)} out_channels"
            )
            for i, (x, c, r) in enumerate(zip(maps, encoder.out_channels, encoder.reductions)):
                assert x.shape[:2] == (2, c), (
                    f"map {i} (in_channels={channels}) has shape {tuple(x.shape)}, expected {c} channels"
                )
                assert all(abs(got - side / r) < 1 for got, side in zip(x.shape[-2:], size)), (
                    f"map {i} is {tuple(x.shape[-2:])} for a {size} input, but its reduction is {r}"
                )

    return [Check("encoder", name, "features", features)]
