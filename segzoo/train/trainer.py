"""The training loop: :class:`Trainer` and :func:`fit`."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import random
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from tqdm.auto import tqdm

import segzoo
from segzoo._hardware import bf16_supported, device_name
from segzoo.data.preprocessing import Preprocessing
from segzoo.nn.pretrained import default_model_card
from segzoo.train import distributed as D
from segzoo.train.checkpoint import (
    BEST,
    BEST_DIR,
    FINAL_DIR,
    FORMAT,
    LAST,
    atomic_save,
    atomic_write_bytes,
    clean_temporaries,
    export_pretrained,
    load_checkpoint,
    rng_state,
    set_rng_state,
)
from segzoo.train.config import TrainConfig, TrainConfigError, TrainingError
from segzoo.train.data import (
    DecodedInMemory,
    SeededSamples,
    TrainSampler,
    build_datasets,
    eval_transform,
    make_loader,
    mix_seed,
    train_transform,
)
from segzoo.train.distill import distillation_loss, load_teacher
from segzoo.train.evaluation import autocast, evaluate
from segzoo.train.plot import plot_curves, read_metrics
from segzoo.train.schedule import LRSchedule

log = logging.getLogger("segzoo")

__all__ = ["Trainer", "TrainState", "fit", "METRICS", "CONFIG", "SUMMARY", "CURVES"]

METRICS = "metrics.jsonl"
CONFIG = "config.json"
SUMMARY = "summary.json"
CURVES = "curves.png"

Callback = Callable[["Trainer", str], None]


@dataclass
class TrainState:
    """The counters a checkpoint restores (besides weights, optimizer, schedule, scaler and RNG states)."""

    iteration: int = 0  #: optimizer steps done
    epoch: int = 0  #: epochs completed
    batch: int = 0  #: batches done in the current epoch (per process)
    best_metric: float | None = None  #: best validation mIoU so far
    best_iteration: int | None = None
    evals_without_improvement: int = 0
    metrics_lines: int = 0  #: lines of metrics.jsonl that belong to the state (later ones are cut on resume)
    elapsed: float = 0.0  #: training wall time in seconds, over all sessions
    stopped_early: bool = False


class _Forward(nn.Module):
    """What DDP wraps: the model's forward, returning ``{"out", "aux"}`` when the auxiliary head is trained."""

    def __init__(self, model: nn.Module, with_aux: bool) -> None:
        super().__init__()
        self.model = model
        self.with_aux = with_aux

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.with_aux:
            return self.model.forward_with_aux(x)
        return {"out": self.model(x)}


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite_or_none(v) for v in value]
    return value


def _seed_all(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)
    np = sys.modules.get("numpy")
    if np is not None:
        np.random.seed(seed % 2**32)


class Trainer:
    """Fine-tune or train a segmentation model as ``config`` (a :class:`TrainConfig` or a dict) says.

    ``model``, ``train_dataset`` and ``val_dataset`` replace what the config names (a model must be a
    :class:`~segzoo.SegmentationModel` with ``num_classes`` equal to the dataset's; datasets follow segzoo's dataset
    contract and may return PIL pairs, which get the trainer's transforms, or tensors, used as they are).
    ``callbacks`` are called as ``callback(trainer, event)`` with ``event`` one of ``"step"`` (after each optimizer
    step), ``"eval"``, ``"checkpoint"`` and ``"end"``.

    Under ``torchrun`` the same code trains data-parallel (see ``docs/training.md``).
    """

    def __init__(
        self,
        config: TrainConfig | dict[str, Any],
        *,
        model: nn.Module | None = None,
        train_dataset: Any = None,
        val_dataset: Any = None,
        callbacks: Sequence[Callback] = (),
    ) -> None:
        if isinstance(config, dict):
            config = TrainConfig.from_dict(config)
        self.config = config.validate(model_given=model is not None, dataset_given=train_dataset is not None)
        # NHWC lets oneDNN pick its fast bf16 convolutions on the CPU; the saved weights are contiguous either way
        self.memory_format = torch.channels_last if self.config.channels_last else torch.preserve_format
        self._given_model = model
        self._given_train = train_dataset
        self._given_val = val_dataset
        self.callbacks = list(callbacks)
        self.run_dir = Path(config.output)
        self.state = TrainState()
        self.model: nn.Module | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.scheduler: LRSchedule | None = None
        self.last_record: dict[str, Any] | None = None
        self.last_lrs: dict[str, float] = {}
        self._setup_done = False

    # -- public API ----------------------------------------------------------------------------------------------
    def fit(self, resume: bool | str = False) -> dict[str, Any]:
        """Train to the end (or early stop) and return a summary. ``resume``: ``False`` (refuse to overwrite a run
        that has a checkpoint), ``True`` (continue ``output``'s last checkpoint, exactly), or ``"auto"`` (continue
        it if there is one, else start)."""
        if resume not in (True, False, "auto"):
            raise TrainConfigError(f"resume must be True, False or 'auto', got {resume!r}")
        info = D.setup(self.config.device)
        try:
            self._setup(info, resume)
            self._loop()
            return self._finish()
        finally:
            D.teardown(info)

    def evaluate(self) -> dict[str, Any]:
        """Validation metrics of the current weights (every process must call this under torch.distributed)."""
        if not self._setup_done:
            raise TrainingError("call fit() first (evaluate() uses the run's model and validation data)")
        if self.val_samples is None:
            raise TrainingError("this run has no validation split")
        self._sync_buffers()
        cm = evaluate(
            self.model,
            self.val_samples,
            num_classes=self.num_classes,
            ignore_index=self.ignore_index,
            class_names=self.classes,
            batch_size=self.config.val_batch_size,
            num_workers=self.config.num_workers,
            device=self.device,
            precision=self.config.precision,
            resize=self.config.resize,
            progress=self._show_progress,
        )
        return cm.compute()

    # -- setup ---------------------------------------------------------------------------------------------------
    def _setup(self, info: D.DistInfo, resume: bool | str) -> None:
        c = self.config
        self.info, self.device, self.is_main = info, info.device, info.is_main
        if c.threads:
            torch.set_num_threads(c.threads)
        if c.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.benchmark = False
            torch.backends.cudnn.deterministic = True
        if c.precision == "fp16" and self.device.type != "cuda":
            raise TrainConfigError("precision fp16 (autocast + GradScaler) needs a CUDA device; on the CPU use bf16")
        if c.precision == "bf16" and not bf16_supported(self.device):
            if self.device.type == "cuda":
                raise TrainConfigError("this GPU does not support bf16; use --precision fp16")
            # on a CPU not an error: the recipe stays runnable, but hours of emulated bf16 should not be a surprise
            if self.is_main:
                log.warning(
                    "precision bf16 on a CPU without native bfloat16 (AVX-512 BF16 or AMX): autocast emulates it, "
                    "and a training step can take 10x as long as in fp32 or more (13x measured on a 2-core AVX2 "
                    "CPU); pass --precision fp32 to train in fp32 instead"
                )
        self._show_progress = self.is_main and not c.quiet and sys.stderr.isatty()
        checkpoint = self._resume_checkpoint(resume)

        # Same seed on every process: identical initial weights (a new head for a re-headed catalog model).
        _seed_all(c.seed)
        train_ds, val_ds = (self._given_train, self._given_val)
        if train_ds is None:
            train_ds, val_ds = build_datasets(c)
        self.train_dataset, self.val_dataset = train_ds, val_ds
        self.classes = [str(n) for n in getattr(train_ds, "classes", [])] or None
        self.num_classes = int(getattr(train_ds, "num_classes", None) or len(self.classes or []))
        if self.num_classes < 1:
            raise TrainConfigError("the training dataset does not say its classes (classes / num_classes)")
        ignore = getattr(train_ds, "ignore_index", 255)
        self.ignore_index = 255 if ignore is None else int(ignore)

        model = self._given_model if self._given_model is not None else self._build_model(train_ds)
        if not all(hasattr(model, a) for a in ("encoder", "freeze_encoder", "forward_with_aux", "transforms")):
            raise TrainConfigError("the model must be a segzoo SegmentationModel (segzoo.create / segzoo.load)")
        if model.num_classes != self.num_classes:
            raise TrainConfigError(
                f"the model predicts {model.num_classes} classes but the dataset has {self.num_classes}; "
                f"use segzoo.load(name, num_classes={self.num_classes})"
            )
        self.model = model.to(self.device, memory_format=self.memory_format)
        crop = c.crop_hw
        divisor = int(getattr(model, "input_divisor", 1) or 1)
        if crop[0] % divisor or crop[1] % divisor:
            raise TrainConfigError(
                f"crop_size {list(crop)} must be divisible by {divisor} for this "
                f"{model.config.get('architecture', 'model')}"
            )
        model.config["class_names"] = list(self.classes) if self.classes else model.config.get("class_names")
        model.config.pop("dataset", None)  # where a loaded model's published metrics were measured: not these weights'
        self.preprocessing = pre = self._preprocessing(model)
        mean, std, channels = pre.mean, pre.std, pre.in_channels
        self.teacher = None
        if c.distill_from is not None:
            self.teacher = load_teacher(
                c.distill_from,
                num_classes=self.num_classes,
                student=pre,
                device=self.device,
                memory_format=self.memory_format,
            )
        if c.cache_decoded:
            train_ds = DecodedInMemory(train_ds)
            val_ds = DecodedInMemory(val_ds) if val_ds is not None else None
        self.train_samples = SeededSamples(train_ds, train_transform(c, mean, std, self.ignore_index, channels))
        self.val_samples = SeededSamples(val_ds, eval_transform(mean, std, channels)) if val_ds is not None else None

        self.sampler = TrainSampler(
            len(train_ds), c.batch_size, seed=c.seed, rank=info.rank, world_size=info.world_size
        )
        self.iters_per_epoch = self.sampler.num_batches
        self.total_iters = c.max_iters or c.epochs * self.iters_per_epoch
        self.num_epochs = math.ceil(self.total_iters / self.iters_per_epoch)
        self.freeze_iters = c.freeze_encoder_iters or c.freeze_encoder_epochs * self.iters_per_epoch

        self.with_aux = model.aux_head is not None and c.aux_weight > 0
        if model.aux_head is not None and not self.with_aux:
            model.aux_head.requires_grad_(False)  # not trained: keep DDP from waiting for its gradients
        self.optimizer = self._build_optimizer(model)
        self.scheduler = LRSchedule(
            self.optimizer,
            self.total_iters,
            schedule=c.schedule,
            poly_power=c.poly_power,
            min_lr_ratio=c.min_lr_ratio,
            warmup_iters=c.warmup_iters,
            warmup_start_factor=c.warmup_start_factor,
        )
        self.scaler = torch.amp.GradScaler("cuda") if c.precision == "fp16" else None
        self.criterion = self._build_loss().to(self.device)

        self._window_loss = torch.zeros((), dtype=torch.float64, device=self.device)
        self._window_n = 0
        if checkpoint is not None:
            self._restore(checkpoint)
        else:
            if self.is_main:
                self.run_dir.mkdir(parents=True, exist_ok=True)
                atomic_write_bytes((json.dumps(c.to_dict(), indent=2) + "\n").encode(), self.run_dir / CONFIG)
                (self.run_dir / METRICS).write_text("")
            # Per-process randomness (dropout...) from here on.
            _seed_all(mix_seed(c.seed, "process", info.rank))
        self._time_base = self.state.elapsed
        self._session_start = time.monotonic()
        self._frozen: bool | None = None
        self.net: nn.Module | None = None
        self._setup_done = True

    def _preprocessing(self, model: Any) -> Preprocessing:
        """The model's own preprocessing object (``model.transforms()``: its weights' mean/std, ImageNet's for a new
        model, averaged for one channel), completed with this run's label ``ignore_index`` and ``resize`` and written
        back to ``model.config``, so the weights the run saves carry what training and validation normalised with."""
        pre = model.transforms(resize=False)
        config = {
            **(model.config.get("preprocessing") or {}),
            "mean": list(pre.mean),
            "std": list(pre.std),
            "ignore_index": self.ignore_index,
        }
        if self.config.resize:  # what the exported model was trained and validated at (the catalog's format)
            config.update(resize={"shorter_side": self.config.resize}, interpolation="bilinear")
        model.config["preprocessing"] = config
        return model.transforms()

    def _resume_checkpoint(self, resume: bool | str) -> dict[str, Any] | None:
        """Rank 0 decides whether to resume and reads the checkpoint; every process gets it (no shared disk needed)."""
        error, checkpoint = None, None
        if self.is_main:
            path = self.run_dir / LAST
            clean_temporaries(self.run_dir)
            exists = path.is_file()
            if exists and resume is False:
                error = (
                    f"{self.run_dir} already holds a training run ({LAST}); resume it with --resume "
                    "(resume=True) or choose another --output"
                )
            elif not exists and resume is True:
                error = f"nothing to resume: {path} does not exist"
            elif exists:
                try:
                    checkpoint = load_checkpoint(path)
                    saved = TrainConfig.from_dict(checkpoint["config"])
                    diffs = saved.differences(self.config)
                    if diffs:
                        shown = "; ".join(
                            f"{k}: {a!r} in the checkpoint, {b!r} now"
                            for k, a, b in ((k, *v) for k, v in diffs.items())
                        )
                        error = (
                            f"cannot resume {path} exactly with different options ({shown}); pass the run's own "
                            f"options (segzoo train --resume {self.run_dir} reads them from its {CONFIG})"
                        )
                except TrainingError as err:
                    error = str(err)
        error, checkpoint = D.broadcast_object((error, checkpoint))
        if error:
            raise TrainingError(error)
        return checkpoint

    def _build_model(self, train_ds: Any) -> nn.Module:
        c = self.config
        if c.model is not None:
            return segzoo.load(c.model, num_classes=self.num_classes, pretrained=c.pretrained)
        channels = c.in_channels or (1 if getattr(train_ds, "image_mode", "RGB") == "L" else 3)
        return segzoo.create(
            c.architecture,
            encoder=c.encoder,
            num_classes=self.num_classes,
            in_channels=channels,
            pretrained_encoder=c.pretrained_encoder,
            **c.model_options,
        )

    def _build_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        c = self.config
        encoder = [p for n, p in model.named_parameters() if n.startswith("encoder.")]
        rest = [p for n, p in model.named_parameters() if not n.startswith("encoder.")]
        encoder_lr = c.lr if c.encoder_lr is None else c.encoder_lr
        groups = [
            {"params": encoder, "lr": encoder_lr, "name": "encoder"},
            {"params": rest, "lr": c.lr, "name": "decoder"},
        ]
        groups = [g for g in groups if g["params"]]
        if c.optimizer == "sgd":
            return torch.optim.SGD(
                groups, lr=c.lr, momentum=c.momentum, nesterov=c.nesterov, weight_decay=c.weight_decay
            )
        return torch.optim.AdamW(groups, lr=c.lr, betas=tuple(c.betas), weight_decay=c.weight_decay)

    def _build_loss(self) -> nn.Module:
        options = dict(self.config.loss_options)
        options.setdefault("ignore_index", self.ignore_index)
        return segzoo.create_loss(self.config.loss, **options)

    def _restore(self, ckpt: dict[str, Any]) -> None:
        saved_len = ckpt.get("train_samples")
        if saved_len is not None and saved_len != len(self.train_dataset):
            raise TrainingError(
                f"the training set now has {len(self.train_dataset)} samples but the checkpoint was written with "
                f"{saved_len}; a run can only be resumed on the same data"
            )
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        try:
            self.scheduler.load_state_dict(ckpt["scheduler"])
        except ValueError as err:
            raise TrainingError(
                f"cannot resume: {err} (with --epochs, the number of iterations depends on the number of processes; "
                "resume with the same number, or train with --max-iters)"
            ) from None
        if self.scaler is not None and ckpt.get("scaler"):
            self.scaler.load_state_dict(ckpt["scaler"])
        self.state = TrainState(**ckpt["trainer"])
        ranks = ckpt["ranks"]
        if len(ranks) == self.info.world_size:
            mine = ranks[self.info.rank]
            set_rng_state(mine["rng"])
            self._window_loss.fill_(mine["window_loss"])
            self._window_n = mine["window_n"]
        else:
            warnings.warn(
                f"the checkpoint was written by {len(ranks)} processes and is resumed by {self.info.world_size}: "
                "weights, optimizer and schedule continue, but the data order and random state are not the "
                "uninterrupted run's",
                stacklevel=3,
            )
            _seed_all(mix_seed(self.config.seed, "process", self.info.rank, "resumed", self.state.iteration))
            if self.state.batch >= self.iters_per_epoch:
                self.state.epoch, self.state.batch = self.state.epoch + 1, 0
        if self.is_main:
            self._truncate_metrics(self.state.metrics_lines)
            self._say(
                f"resumed {self.run_dir} at iteration {self.state.iteration} "
                f"(epoch {self.state.epoch + 1}, batch {self.state.batch})"
            )

    def _truncate_metrics(self, lines: int) -> None:
        path = self.run_dir / METRICS
        kept = path.read_text().splitlines(keepends=True)[:lines] if path.exists() else []
        atomic_write_bytes("".join(kept).encode(), path)

    # -- the loop ------------------------------------------------------------------------------------------------
    def _set_frozen(self, frozen: bool) -> None:
        model = self.model
        if frozen:
            model.freeze_encoder()
        else:
            model.unfreeze_encoder()
        model.train()
        forward = _Forward(model, self.with_aux)
        if self.info.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            # Rebuilt when the set of trainable parameters changes (DDP fixes it at construction).
            self.net = DDP(forward, device_ids=ids)
        else:
            self.net = forward
        if self._frozen is not None or frozen:
            self._say(f"encoder {'frozen' if frozen else 'unfrozen'} at iteration {self.state.iteration}")
        self._frozen = frozen

    def _elapsed(self) -> float:
        return self._time_base + time.monotonic() - self._session_start

    def _loop(self) -> None:
        c, st = self.config, self.state
        loader = make_loader(
            self.train_samples,
            self.sampler,
            batch_size=c.batch_size,
            num_workers=c.num_workers,
            seed=c.seed,
            drop_last=True,
            pin_memory=self.device.type == "cuda",
            persistent=True,
        )
        while st.iteration < self.total_iters and not st.stopped_early:
            self.sampler.set_epoch(st.epoch, st.batch)  # read when the loop below iterates the loader
            bar = self._bar(st.epoch, st.batch)
            epoch = st.epoch
            try:
                for images, masks in loader:
                    loss = self._step(images, masks)
                    if bar is not None:
                        bar.update(1)
                        if st.iteration % 5 == 0 or st.batch == 0:
                            bar.set_postfix(loss=f"{loss.item():.4f}", lr=f"{self.last_lrs.get('decoder', 0):.2e}")
                    if self._after_step(epoch) or st.epoch != epoch:
                        break
            finally:
                if bar is not None:
                    bar.close()

    def _bar(self, epoch: int, start: int):
        if not self._show_progress:
            return None
        return tqdm(
            total=self.iters_per_epoch,
            initial=start,
            desc=f"epoch {epoch + 1}/{self.num_epochs}",
            unit="it",
            dynamic_ncols=True,
            leave=False,
        )

    def _step(self, images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        c, st = self.config, self.state
        frozen = st.iteration < self.freeze_iters
        if frozen != self._frozen:
            self._set_frozen(frozen)
        lrs = self.scheduler.set(st.iteration)
        self.last_lrs = {g.get("name", str(i)): lr for i, (g, lr) in enumerate(zip(self.optimizer.param_groups, lrs))}
        images = images.to(self.device, non_blocking=True, memory_format=self.memory_format)
        masks = masks.to(self.device, non_blocking=True)
        with autocast(self.device, c.precision):
            out = self.net(images)
            loss = self.criterion(out["out"], masks)
            if "aux" in out:
                loss = loss + c.aux_weight * self.criterion(out["aux"], masks)
            if self.teacher is not None:
                with torch.no_grad():
                    soft = self.teacher(images)
                loss = loss + c.distill_weight * distillation_loss(
                    out["out"], soft, masks, temperature=c.distill_temperature, ignore_index=self.ignore_index
                )
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
        else:
            loss.backward()
        if c.clip_grad_norm:
            if self.scaler is not None:
                self.scaler.unscale_(self.optimizer)
            params = [p for p in self.model.parameters() if p.grad is not None]
            torch.nn.utils.clip_grad_norm_(params, c.clip_grad_norm)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self._window_loss += loss.detach().double()
        self._window_n += 1
        st.iteration += 1
        st.batch += 1
        self._call("step")
        return loss

    def _after_step(self, epoch: int) -> bool:
        """Evaluate, log, checkpoint as due after a step; True when training must stop."""
        c, st = self.config, self.state
        epoch_end = st.batch == self.iters_per_epoch
        last = st.iteration >= self.total_iters
        if epoch_end:
            st.epoch += 1
            st.batch = 0

        def every(n: int) -> bool:
            return st.iteration % n == 0

        do_eval = self.val_samples is not None and (last or (every(c.eval_every) if c.eval_every else epoch_end))
        improved = False
        if do_eval or epoch_end or last:
            improved = self._log(epoch + 1, do_eval)
        stop = last or st.stopped_early
        if stop or improved or (every(c.checkpoint_every) if c.checkpoint_every else epoch_end):
            self._save(improved)
        return stop

    def _log(self, epoch: int, do_eval: bool) -> bool:
        c, st = self.config, self.state
        loss_sum, count = D.all_reduce_sum([float(self._window_loss), float(self._window_n)])
        train_loss = loss_sum / count if count else math.nan
        if not math.isfinite(train_loss):
            raise TrainingError(
                f"the training loss is {train_loss} at iteration {st.iteration}: training diverged; lower the learning "
                "rate, add --clip-grad-norm or use fp32"
            )
        record: dict[str, Any] = {
            "epoch": epoch,
            "iteration": st.iteration,
            "lr": dict(self.last_lrs),
            "train_loss": train_loss,
        }
        improved = False
        if do_eval:
            t0 = time.monotonic()
            metrics = self.evaluate()
            metrics.pop("class_names", None)
            record["val"] = _finite_or_none(metrics)
            record["eval_time"] = round(time.monotonic() - t0, 3)
            miou = metrics["mIoU"]
            improved = math.isfinite(miou) and (st.best_metric is None or miou > st.best_metric)
            if improved:
                st.best_metric, st.best_iteration, st.evals_without_improvement = miou, st.iteration, 0
            else:
                st.evals_without_improvement += 1
                if c.early_stopping_patience and st.evals_without_improvement >= c.early_stopping_patience:
                    st.stopped_early = True
            record["best_mIoU"] = _finite_or_none(st.best_metric)
        record["time"] = round(self._elapsed(), 3)
        if st.stopped_early:
            record["stopped_early"] = True
        self.last_record = record
        if self.is_main:
            with open(self.run_dir / METRICS, "a") as f:
                f.write(json.dumps(record) + "\n")
                f.flush()
                os.fsync(f.fileno())
            self._say(self._summary_line(record))
            self._plot()
        st.metrics_lines += 1
        self._window_loss.zero_()
        self._window_n = 0
        if do_eval:
            self._call("eval")
        return improved

    def _summary_line(self, r: dict[str, Any]) -> str:
        parts = [
            f"epoch {r['epoch']}/{self.num_epochs}",
            f"it {r['iteration']}/{self.total_iters}",
            f"loss {r['train_loss']:.4f}",
        ]
        if "val" in r:
            miou = r["val"]["mIoU"]
            parts.append("val mIoU " + ("nan" if miou is None else f"{miou:.4f}"))
        parts.append("lr " + "/".join(f"{v:.2e}" for v in r["lr"].values()))
        parts.append(f"{r['time']:.0f}s")
        return "  ".join(parts) + ("  (early stop)" if r.get("stopped_early") else "")

    def _plot(self) -> None:
        if not self.config.plot:
            return
        try:
            plot_curves(read_metrics(self.run_dir / METRICS), self.run_dir / CURVES, title=self._title())
        except Exception as err:  # noqa: BLE001 - a plotting problem must not stop training
            self._say(f"could not plot the curves: {err}")

    def _title(self) -> str:
        cfg = self.model.config
        name = cfg.get("name") or f"{cfg.get('architecture')}-{cfg.get('encoder')}"
        return f"{name} on {self.config.dataset or 'data'}"

    def _checkpoint_state(self) -> dict[str, Any] | None:
        """The full training state on rank 0 (None elsewhere); every process must call this (RNG states are
        gathered)."""
        st = self.state
        st.elapsed = self._elapsed()
        mine = {"rng": rng_state(), "window_loss": float(self._window_loss), "window_n": self._window_n}
        ranks = D.all_gather_objects(mine)
        if not self.is_main:
            return None
        return {
            "format": FORMAT,
            "version": 1,
            "config": self.config.to_dict(),
            "world_size": self.info.world_size,
            "train_samples": len(self.train_dataset),
            "model_config": json.loads(json.dumps(self.model.config)),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "trainer": dataclasses.asdict(st),
            "ranks": ranks,
        }

    def _save(self, improved: bool) -> None:
        state = self._checkpoint_state()
        if self.is_main:
            if improved:  # best first: a crash before `last` is written replays this step identically
                atomic_save(state, self.run_dir / BEST)
                export_pretrained(self.model, self.run_dir / BEST_DIR, model_card=self._model_card("best"))
            atomic_save(state, self.run_dir / LAST)
        self._call("checkpoint")

    def _model_card(self, which: str) -> str:
        st, c = self.state, self.config
        card = default_model_card({**self.model.config, "segzoo_version": ""})
        world = self.info.world_size
        total = c.batch_size * world
        crops = f"{total} crop{'' if total == 1 else 's'}"
        if world > 1:
            crops += f" ({c.batch_size} on each of {world} processes)"
        lines = [
            "",
            "## Training",
            "",
            f"Trained with `segzoo train` on `{c.dataset}` "
            f"(train split `{c.train_split}`, val split `{c.val_split}`): {st.iteration} iterations, each on "
            f"{crops} of {c.crop_hw[0]}x{c.crop_hw[1]} pixels.",
        ]
        if c.distill_from is not None:
            lines.append(
                f"Distilled from `{c.distill_from}` (weight {c.distill_weight}, temperature {c.distill_temperature})."
            )
        if which == "best" and st.best_metric is not None:
            lines.append(f"Best validation mIoU {st.best_metric:.4f} at iteration {st.best_iteration}.")
        return card + "\n".join(lines) + "\n"

    def _sync_buffers(self) -> None:
        """Give every process rank 0's BatchNorm statistics (DDP only broadcasts them at the next forward)."""
        if self.info.distributed:
            for buf in self.model.buffers():
                torch.distributed.broadcast(buf, src=0)

    def _finish(self) -> dict[str, Any]:
        st = self.state
        summary = {
            "run_dir": str(self.run_dir),
            "iterations": st.iteration,
            "epochs": st.iteration / self.iters_per_epoch,
            "best_mIoU": st.best_metric,
            "best_iteration": st.best_iteration,
            "stopped_early": st.stopped_early,
            "time": round(self._elapsed(), 3),
            "world_size": self.info.world_size,
            "device": self.device.type,
            "device_name": device_name(self.device),
            "last": self.last_record,
        }
        if self.is_main:
            export_pretrained(self.model, self.run_dir / FINAL_DIR, model_card=self._model_card("final"))
            atomic_write_bytes((json.dumps(_finite_or_none(summary), indent=2) + "\n").encode(), self.run_dir / SUMMARY)
            self._plot()
        D.barrier()
        self._call("end")
        return summary

    def _call(self, event: str) -> None:
        for callback in self.callbacks:
            callback(self, event)

    def _say(self, message: str) -> None:
        if not self.is_main or self.config.quiet:
            return
        if self._show_progress:
            tqdm.write(f"segzoo train: {message}", file=sys.stderr)
        else:
            print(f"segzoo train: {message}", file=sys.stderr, flush=True)


def fit(config: TrainConfig | dict[str, Any], *, resume: bool | str = False, **kwargs: Any) -> dict[str, Any]:
    """``Trainer(config, **kwargs).fit(resume=resume)``: train and return the summary."""
    return Trainer(config, **kwargs).fit(resume=resume)
