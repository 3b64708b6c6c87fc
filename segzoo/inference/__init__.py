"""Inference: preprocessing, whole / sliding-window / multi-scale+flip inference, engines, prediction images.

``import segzoo.inference`` is cheap (torch is imported when a name is first used)::

    from segzoo.inference import Engine, InferenceSettings, Preprocessing, infer

    engine = Engine(model)                        # engine="auto": onnxruntime for fp32 on CPU when it is installed
                                                  # and the model exports, else channels_last; checked against eager
    pre = Preprocessing.from_model(model)         # mean/std/resize from model.config["preprocessing"]
    logits = infer(engine, pre(image)[None], InferenceSettings(mode="slide", crop=512, stride=341))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from segzoo._lazy import lazy_attributes

_LAZY = {
    "Engine": "segzoo.inference.engine",
    "ENGINES": "segzoo.inference.engine",
    "PRECISIONS": "segzoo.inference.engine",
    "DEFAULT_ENGINE": "segzoo.inference.engine",
    "resolve_device": "segzoo.inference.engine",
    "Preprocessing": "segzoo.inference.preprocessing",
    "infer": "segzoo.inference.modes",
    "infer_whole": "segzoo.inference.modes",
    "infer_slide": "segzoo.inference.modes",
    "infer_msflip": "segzoo.inference.modes",
    "InferenceSettings": "segzoo.inference.modes",
    "fold_batchnorm": "segzoo.inference.optimize",
    "predict_image": "segzoo.inference.predict",
    "resolve_palette": "segzoo.inference.predict",
    "mask_image": "segzoo.inference.predict",
    "overlay": "segzoo.inference.predict",
}

__all__ = sorted(_LAZY)

if TYPE_CHECKING:  # pragma: no cover
    from segzoo.inference.engine import DEFAULT_ENGINE as DEFAULT_ENGINE
    from segzoo.inference.engine import ENGINES as ENGINES
    from segzoo.inference.engine import PRECISIONS as PRECISIONS
    from segzoo.inference.engine import Engine as Engine
    from segzoo.inference.engine import resolve_device as resolve_device
    from segzoo.inference.modes import InferenceSettings as InferenceSettings
    from segzoo.inference.modes import infer as infer
    from segzoo.inference.modes import infer_msflip as infer_msflip
    from segzoo.inference.modes import infer_slide as infer_slide
    from segzoo.inference.modes import infer_whole as infer_whole
    from segzoo.inference.optimize import fold_batchnorm as fold_batchnorm
    from segzoo.inference.predict import mask_image as mask_image
    from segzoo.inference.predict import overlay as overlay
    from segzoo.inference.predict import predict_image as predict_image
    from segzoo.inference.predict import resolve_palette as resolve_palette
    from segzoo.inference.preprocessing import Preprocessing as Preprocessing


__getattr__, __dir__ = lazy_attributes(globals(), _LAZY)
