"""The composed segmentation model: encoder -> decoder -> head (+ optional auxiliary head)."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from segzoo.data.preprocessing import Preprocessing
from segzoo.nn import pretrained
from segzoo.nn.decoder import Decoder
from segzoo.nn.encoder import Encoder
from segzoo.nn.functional import class_map, pad_to_divisor
from segzoo.nn.heads import AuxiliaryHead, SegmentationHead


class SegmentationModel(nn.Module):
    """A plain ``nn.Module`` whose ``state_dict`` keys are ``encoder.*``, ``decoder.*``, ``head.*``, ``aux_head.*``.

    ``forward`` returns logits ``(N, num_classes, H, W)`` at the input resolution (bilinear, ``align_corners`` as set
    by the architecture, False by default) for any ``H`` and ``W``: sides that are not multiples of
    :attr:`input_divisor` are zero-padded at the bottom and right and the logits cropped back, as ``segzoo eval``
    does, so the 480x360 frames ``model.transforms()`` gives go straight into a U-Net.
    ``config`` holds what is needed to rebuild the model with :func:`segzoo.create` and is written by
    :meth:`save_pretrained`; ``segzoo.push_to_hub(model, repo_id)`` publishes it.
    """

    #: True when the logits jump with the input (max-unpooling routes values to argmax positions), so that checks of
    #: other runtimes against eager cannot bound the maximum difference (see :func:`segzoo.metrics.compare_logits`)
    discontinuous: bool = False

    def __init__(
        self,
        encoder: Encoder,
        decoder: Decoder,
        head: SegmentationHead,
        aux_head: AuxiliaryHead | None = None,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.head = head
        self.aux_head = aux_head
        self.config: dict[str, Any] = {}
        #: bilinear resize of the logits to the input size; smp-compatible architectures set True
        self.align_corners = False
        self._encoder_frozen = False

    # -- inference -------------------------------------------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        return self.head.num_classes

    @property
    def input_divisor(self) -> int:
        return self.decoder.input_divisor

    def check_input(self, x: torch.Tensor) -> None:
        """Raise a ValueError (TypeError for what is not a tensor) that says how to fix an input this architecture
        cannot take unpadded (:meth:`forward_with_aux`, or a subclass's own ``forward``, runs it as given)."""
        self._check_batch(x)
        d = self.input_divisor
        if torch.compiler.is_compiling() or torch.jit.is_tracing() or d <= 1:
            return
        h, w = int(x.shape[-2]), int(x.shape[-1])
        if h % d or w % d:
            arch = self.config.get("architecture", type(self.decoder).__name__)
            raise ValueError(
                f"{arch} needs input height and width divisible by {d}, got {h}x{w}; "
                f"pad or resize the image (e.g. to {math.ceil(h / d) * d}x{math.ceil(w / d) * d}); model(x) and "
                "model.predict pad and crop back by themselves"
            )

    def _check_batch(self, x: torch.Tensor) -> None:
        _require_tensor(x)
        if x.dim() != 4:
            raise ValueError(f"expected a batch of images (N, C, H, W), got shape {tuple(x.shape)}")
        expected = self.encoder_in_channels
        if expected is not None and x.shape[1] != expected:
            raise ValueError(f"model takes {expected}-channel images, got {x.shape[1]} channels")

    @property
    def encoder_in_channels(self) -> int | None:
        return self.config.get("in_channels")

    def _logits(self, logits: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
        if logits.shape[-2:] != size:
            logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=self.align_corners)
        return logits

    def decode(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(decoder output, encoder features)`` of a checked input: what :meth:`forward` and
        :meth:`forward_with_aux` both run. Override it to hand the decoder more than the features, e.g. SegNet's
        pooling indices from its encoder."""
        features = self.encoder(x)
        return self.decoder(features), features

    def _scores(self, x: torch.Tensor) -> torch.Tensor:
        """The head's logits at the model's output stride, for an input :meth:`check_input` accepts (FCN-8s, which
        scores before it fuses, overrides it)."""
        decoded, _ = self.decode(x)
        return self.head(decoded)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_batch(x)
        if torch.compiler.is_exporting() or torch.jit.is_tracing():
            # an exported graph does not pad: ONNX files record input_divisor for their users (export.py)
            return self._logits(self._scores(x), x.shape[-2:])
        h, w = x.shape[-2:]
        padded = pad_to_divisor(x, self.input_divisor)
        return self._logits(self._scores(padded), padded.shape[-2:])[..., :h, :w]

    def forward_with_aux(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"out": logits, "aux": auxiliary logits}`` (``aux`` only when the model has an auxiliary head)."""
        self.check_input(x)
        decoded, features = self.decode(x)
        result = {"out": self._logits(self.head(decoded), x.shape[-2:])}
        if self.aux_head is not None:
            aux = self.aux_head(features[self.aux_head.feature_index])
            result["aux"] = self._logits(aux, x.shape[-2:])
        return result

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Class index per pixel ``(N, H, W)`` for a normalised batch of any size, computed in eval and inference
        mode (the training mode is restored)."""
        was_training = self.training
        self.eval()
        try:
            with torch.inference_mode():
                return class_map(self(x))
        finally:
            self.train(was_training)

    # -- fine-tuning -----------------------------------------------------------------------------------------------
    def freeze_encoder(self) -> None:
        """Stop gradients into the encoder and keep its BatchNorm statistics fixed, also under ``train()``."""
        self._encoder_frozen = True
        self.encoder.requires_grad_(False)
        self.encoder.eval()

    def unfreeze_encoder(self) -> None:
        self._encoder_frozen = False
        self.encoder.requires_grad_(True)
        self.encoder.train(self.training)

    def train(self, mode: bool = True) -> SegmentationModel:
        super().train(mode)
        if self._encoder_frozen:
            self.encoder.eval()
        return self

    def reset_classes(self, num_classes: int) -> None:
        """Give the model a new, randomly initialised classifier (and auxiliary classifier) for ``num_classes``."""
        self.head.reset_classes(num_classes)
        if self.aux_head is not None:
            self.aux_head.reset_classes(num_classes)
        self.config = copy.deepcopy(self.config)
        self.config["num_classes"] = num_classes
        self.config.pop("class_names", None)

    def transforms(self, *, resize: bool = True, override: str | None = None) -> Preprocessing:
        """What turns a PIL image into this model's input (mean/std, resize, interpolation from the weights' catalog
        entry or config.json), as torchvision's ``weights.transforms()``: ``model(model.transforms()(image)[None])``.
        ``resize=False`` keeps the image's size; ``override``: ``"N"`` or ``"HxW"`` replaces the resize."""
        return Preprocessing.from_model(self, resize=resize, override=override)

    # -- persistence -----------------------------------------------------------------------------------------------
    def save_pretrained(self, directory: str | Path, *, model_card: str | None = None) -> Path:
        """Write ``config.json``, ``model.safetensors`` and a ``README.md`` model card to ``directory``
        (:mod:`segzoo.nn.pretrained`); ``segzoo.push_to_hub(model, repo_id)`` publishes the same files."""
        return pretrained.save_pretrained(self, directory, model_card=model_card)


def _require_tensor(x: object) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"expected a normalised image batch as a torch.Tensor (N, C, H, W), got {type(x).__name__}; for a PIL "
            "image use model.transforms()(image)[None]"
        )
