"""Defaults that ``--help`` shows: the int8 calibration options of ``segzoo eval``, ``bench``, ``predict`` and
``export``.

No imports, so the command modules build their parsers from these without loading :mod:`segzoo.inference.quantize`
(torch); the quantizer takes them from here too.
"""

from __future__ import annotations

__all__ = ["DEFAULT_CALIBRATION_SIZE", "DEFAULT_CALIBRATION_SPLIT"]

#: images used to calibrate: each costs one fp32 pass of the build; with 32 the CamVid models lose under 1 mIoU
#: point (docs/benchmarking.md). Fewer makes the MinMax ranges depend on which few images were drawn
DEFAULT_CALIBRATION_SIZE = 32
#: the split calibrated on when none is named: the training images, never the evaluated ones
DEFAULT_CALIBRATION_SPLIT = "train"
