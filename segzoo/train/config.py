"""The training configuration: one flat dataclass, JSON-serialisable, validated up front.

This module must stay import-cheap (no torch): ``segzoo train --help`` reads the defaults from it.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segzoo.errors import ConfigurationError, SegzooError

__all__ = ["TrainConfig", "TrainConfigError", "TrainingError", "OPTIMIZERS", "SCHEDULES", "PRECISIONS"]

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("poly", "cosine", "constant")
PRECISIONS = ("fp32", "bf16", "fp16")
#: What ``color_jitter`` may hold: :class:`segzoo.data.transforms.ColorJitter`'s arguments.
COLOR_JITTER_KEYS = ("brightness", "contrast", "saturation", "hue")

#: Fields that may differ between the run that wrote a checkpoint and the run that resumes it: they change
#: neither the numbers nor the data order (augmentations are seeded per sample, not per worker).
RESUME_MUTABLE = frozenset({"output", "quiet", "plot", "num_workers", "device", "threads", "cache_decoded"})


class TrainConfigError(ConfigurationError):
    """A training option is invalid or options contradict each other."""


class TrainingError(SegzooError):
    """Training cannot go on (a diverged loss, a checkpoint that does not fit the run, ...)."""


@dataclass
class TrainConfig:
    """Everything a training run needs. Only ``dataset`` and one of ``model`` / ``architecture`` are required.

    Model (one of):
      * ``model``: a catalog name, a ``save_pretrained`` folder or ``"hf-hub:org/repo"``, loaded with
        ``segzoo.load(model, num_classes=<dataset's>, pretrained=pretrained)`` (re-headed for the dataset);
      * ``architecture`` (+ ``encoder``, ``model_options``, ``pretrained_encoder``): ``segzoo.create(...)``.

    Iterations are optimizer steps of ``batch_size`` samples per process; an epoch is one pass over the
    training split (its last incomplete batch is dropped). Schedules, warm-up, freezing, evaluation and
    checkpoints count iterations; ``*_epochs`` options are converted to iterations. Validation runs at every epoch
    end, or every ``eval_every`` iterations instead; ``checkpoint-last.pt`` is written at every epoch end, or every
    ``checkpoint_every`` iterations instead, and always when training ends or the validation mIoU improves.
    """

    # -- model -------------------------------------------------------------------------------------------------------
    model: str | None = None
    architecture: str | None = None
    encoder: str | None = None
    model_options: dict[str, Any] = field(default_factory=dict)
    pretrained: bool = True
    pretrained_encoder: bool = False
    in_channels: int | None = None
    # -- data --------------------------------------------------------------------------------------------------------
    dataset: str | None = None
    data_root: str | None = None
    train_split: str = "train"
    val_split: str | None = "val"
    dataset_options: dict[str, Any] = field(default_factory=dict)
    val_dataset_options: dict[str, Any] = field(default_factory=dict)
    resize: int | None = None
    crop_size: int | list[int] = 512
    scale_range: list[float] = field(default_factory=lambda: [0.5, 2.0])
    hflip: float = 0.5
    vflip: float = 0.0
    color_jitter: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 8
    val_batch_size: int = 1
    num_workers: int = 0
    cache_decoded: bool = False
    # -- optimisation ------------------------------------------------------------------------------------------------
    epochs: int = 10
    max_iters: int | None = None
    optimizer: str = "sgd"
    lr: float = 0.01
    encoder_lr: float | None = None
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 1e-4
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    schedule: str = "poly"
    poly_power: float = 0.9
    min_lr_ratio: float = 0.0
    warmup_iters: int = 0
    warmup_start_factor: float = 0.001
    freeze_encoder_epochs: int = 0
    freeze_encoder_iters: int = 0
    precision: str = "fp32"
    channels_last: bool = False
    clip_grad_norm: float | None = None
    loss: str = "cross_entropy"
    loss_options: dict[str, Any] = field(default_factory=dict)
    aux_weight: float = 0.4
    distill_from: str | None = None
    distill_weight: float = 1.0
    distill_temperature: float = 1.0
    # -- evaluation and stopping -------------------------------------------------------------------------------------
    eval_every: int | None = None
    early_stopping_patience: int | None = None
    # -- run ---------------------------------------------------------------------------------------------------------
    output: str = "runs/train"
    checkpoint_every: int | None = None
    seed: int = 0
    device: str = "auto"
    deterministic: bool = False
    threads: int | None = None
    quiet: bool = False
    plot: bool = True

    # -- (de)serialisation -------------------------------------------------------------------------------------------
    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return cls().to_dict()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from a dict (e.g. a run's ``config.json``); unknown keys are an error, not ignored."""
        known = set(cls.field_names())
        unknown = sorted(set(data) - known)
        if unknown:
            raise TrainConfigError(
                f"unknown training option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        return cls(**data)

    @classmethod
    def from_json(cls, path: str | Path) -> TrainConfig:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise TrainConfigError(f"config file {path} does not exist") from None
        except json.JSONDecodeError as err:
            raise TrainConfigError(f"{path} is not valid JSON: {err}") from None
        if not isinstance(data, dict):
            raise TrainConfigError(f"{path} must hold a JSON object of training options")
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))  # tuples -> lists, deep copy

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def differences(self, other: TrainConfig, *, ignore: frozenset[str] = RESUME_MUTABLE) -> dict[str, tuple]:
        """``{field: (mine, other's)}`` for the fields that differ, except ``ignore``."""
        a, b = self.to_dict(), other.to_dict()
        return {k: (a[k], b[k]) for k in a if k not in ignore and a[k] != b[k]}

    # -- checks ------------------------------------------------------------------------------------------------------
    def validate(self, *, model_given: bool = False, dataset_given: bool = False) -> TrainConfig:
        """Raise :class:`TrainConfigError` naming the first bad option; returns self."""

        def bad(msg: str) -> None:
            raise TrainConfigError(msg)

        if not model_given:
            if (self.model is None) == (self.architecture is None):
                bad(
                    "give exactly one of model (catalog name, save_pretrained folder or hf-hub:org/repo) and "
                    "architecture (with encoder) to say what to train"
                )
            if self.model is not None and (self.encoder or self.model_options):
                bad("encoder and model_options apply to architecture=...; a catalog/saved model fixes them")
        if not dataset_given and not self.dataset:
            bad("dataset is required (a name from segzoo.list_datasets(), e.g. 'camvid' or 'shapes')")
        if self.optimizer not in OPTIMIZERS:
            bad(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            bad(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if self.precision not in PRECISIONS:
            bad(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        for name in ("batch_size", "val_batch_size", "epochs"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                bad(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        for name in ("num_workers", "warmup_iters", "freeze_encoder_epochs", "freeze_encoder_iters", "seed"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                bad(f"{name} must be a non-negative integer, got {getattr(self, name)!r}")
        for name in (
            "max_iters",
            "eval_every",
            "checkpoint_every",
            "early_stopping_patience",
            "resize",
            "threads",
            "in_channels",
        ):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                bad(f"{name} must be a positive integer or None, got {value!r}")
        if self.freeze_encoder_epochs and self.freeze_encoder_iters:
            bad("give freeze_encoder_epochs or freeze_encoder_iters, not both")
        for name in ("lr", "weight_decay", "momentum", "aux_weight", "poly_power", "distill_weight"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                bad(f"{name} must be a finite number >= 0, got {value!r}")
        if not (isinstance(self.distill_temperature, (int, float)) and self.distill_temperature > 0):
            bad(f"distill_temperature must be positive, got {self.distill_temperature!r}")
        if self.distill_from is not None and (not isinstance(self.distill_from, str) or not self.distill_from):
            bad(f"distill_from must name a model (catalog name, folder or hf-hub:org/repo), got {self.distill_from!r}")
        if self.lr <= 0:
            bad(f"lr must be positive, got {self.lr}")
        if self.encoder_lr is not None and (not isinstance(self.encoder_lr, (int, float)) or self.encoder_lr < 0):
            bad(f"encoder_lr must be >= 0 or None, got {self.encoder_lr!r}")
        if not 0 <= self.min_lr_ratio <= 1:
            bad(f"min_lr_ratio must be within [0, 1], got {self.min_lr_ratio}")
        if not 0 <= self.warmup_start_factor <= 1:
            bad(f"warmup_start_factor must be within [0, 1], got {self.warmup_start_factor}")
        for flip in ("hflip", "vflip"):
            if not 0 <= getattr(self, flip) <= 1:
                bad(f"{flip} is a probability, got {getattr(self, flip)}")
        unknown_jitter = (
            sorted(set(self.color_jitter) - set(COLOR_JITTER_KEYS)) if isinstance(self.color_jitter, dict) else None
        )
        if unknown_jitter is None or unknown_jitter:
            bad(
                f"color_jitter must be a dict with keys among {', '.join(COLOR_JITTER_KEYS)}, got {self.color_jitter!r}"
            )
        if self.clip_grad_norm is not None and not self.clip_grad_norm > 0:
            bad(f"clip_grad_norm must be positive or None, got {self.clip_grad_norm}")
        if len(self.scale_range) != 2 or not 0 < self.scale_range[0] <= self.scale_range[1]:
            bad(f"scale_range must be (min, max) with 0 < min <= max, got {self.scale_range!r}")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            bad(f"betas must be two numbers in [0, 1), got {self.betas!r}")
        sizes = [self.crop_size] if isinstance(self.crop_size, int) else list(self.crop_size)
        if not 1 <= len(sizes) <= 2 or not all(isinstance(s, int) and s > 0 for s in sizes):
            bad(f"crop_size must be a positive int or [height, width], got {self.crop_size!r}")
        if self.nesterov and (self.optimizer != "sgd" or self.momentum <= 0):
            bad("nesterov needs optimizer='sgd' with momentum > 0")
        for name in ("model_options", "dataset_options", "val_dataset_options", "loss_options"):
            if not isinstance(getattr(self, name), dict):
                bad(f"{name} must be a dict, got {type(getattr(self, name)).__name__}")
        if not isinstance(self.device, str) or not self.device:
            bad(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")
        return self

    @property
    def crop_hw(self) -> tuple[int, int]:
        if isinstance(self.crop_size, int):
            return self.crop_size, self.crop_size
        sizes = list(self.crop_size)
        return (sizes[0], sizes[0]) if len(sizes) == 1 else (sizes[0], sizes[1])
