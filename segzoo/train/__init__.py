"""Fine-tune or train segmentation models: ``segzoo train`` and :func:`fit` / :class:`Trainer`.

::

    from segzoo.train import TrainConfig, fit

    summary = fit(TrainConfig(architecture="unet", encoder="resnet18", dataset="camvid",
                              data_root="data/CamVid", crop_size=256, epochs=20, output="runs/camvid"))
    model = segzoo.load("runs/camvid/best")

``import segzoo.train`` is cheap: torch is imported when :class:`Trainer`, :func:`fit` or :func:`evaluate` is first
used. See ``docs/training.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from segzoo._lazy import lazy_attributes
from segzoo.train.config import TrainConfig, TrainConfigError, TrainingError

_LAZY = {
    "Trainer": "segzoo.train.trainer",
    "TrainState": "segzoo.train.trainer",
    "fit": "segzoo.train.trainer",
    "evaluate": "segzoo.train.evaluation",
    "lr_factor": "segzoo.train.schedule",
    "load_checkpoint": "segzoo.train.checkpoint",
    "plot_curves": "segzoo.train.plot",
}

__all__ = ["TrainConfig", "TrainConfigError", "TrainingError", *_LAZY]

if TYPE_CHECKING:  # pragma: no cover
    from segzoo.train.checkpoint import load_checkpoint as load_checkpoint
    from segzoo.train.evaluation import evaluate as evaluate
    from segzoo.train.plot import plot_curves as plot_curves
    from segzoo.train.schedule import lr_factor as lr_factor
    from segzoo.train.trainer import Trainer as Trainer
    from segzoo.train.trainer import TrainState as TrainState
    from segzoo.train.trainer import fit as fit


__getattr__, __dir__ = lazy_attributes(globals(), _LAZY)
