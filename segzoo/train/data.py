"""The data pipeline of a training run: datasets and split slices, transforms, resumable samplers and loaders.

Reproducibility does not depend on the number of DataLoader workers or on where a run was resumed:

* :class:`TrainSampler` draws each epoch's order from its own generator seeded with ``(seed, epoch)``, shards it by
  rank and can start at any batch of the epoch (the resume position);
* it yields ``(index, sample_seed)`` keys, ``sample_seed = mix_seed(seed, epoch, index)``, and :class:`SeededSamples`
  loads and augments sample ``index`` with torch's (and Python's) RNG seeded from ``sample_seed``, restoring the
  caller's RNG state afterwards. So a sample's augmentation is the same whichever worker loads it, and loading never
  consumes the training process's RNG (dropout etc. stay reproducible);
* loaders get a generator seeded from ``seed`` (so creating one never draws from the global RNG) and a
  ``worker_init_fn`` that seeds each worker from ``(seed, worker)`` for anything else that is random. The training
  loader keeps its workers for the whole run (``persistent=True``): each epoch only re-iterates the sampler, so a
  worker's decoded-image cache (:class:`DecodedInMemory`) survives from one epoch to the next.
"""

from __future__ import annotations

import functools
import hashlib
import math
import random
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Sampler

import segzoo
from segzoo import registry
from segzoo._boundary import read_item
from segzoo.data import transforms as T
from segzoo.train.config import TrainConfig, TrainConfigError

__all__ = [
    "DatasetSlice",
    "DecodedInMemory",
    "EvalSampler",
    "SeededSamples",
    "TrainSampler",
    "build_datasets",
    "eval_transform",
    "make_loader",
    "mix_seed",
    "parse_split",
    "split_indices",
    "train_transform",
]


def mix_seed(*parts: Any) -> int:
    """A 63-bit seed from any values (stable across processes and Python versions, unlike ``hash``)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


# -- samplers ---------------------------------------------------------------------------------------------------------
class TrainSampler(Sampler):
    """Seeded per-epoch permutation, sharded over ``world_size`` processes, in whole batches, resumable.

    The permutation of epoch ``e`` is ``torch.randperm(length)`` from a generator seeded with ``(seed, e)``; it is
    padded by wrapping around to a multiple of ``world_size`` and rank ``r`` takes positions ``r, r + W, ...``, so
    every process gets ``ceil(length / W)`` samples, of which the first ``num_batches * batch_size`` are used (the
    incomplete last batch is dropped, as is usual for training with BatchNorm). ``set_epoch(e, start_batch=b)``
    makes the next iteration begin at batch ``b`` of epoch ``e``. Yields ``(index, sample_seed)`` keys for
    :class:`SeededSamples`.
    """

    def __init__(
        self, length: int, batch_size: int, *, seed: int = 0, rank: int = 0, world_size: int = 1, shuffle: bool = True
    ) -> None:
        if length < 1:
            raise TrainConfigError("the training set is empty")
        self.length = int(length)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.shuffle = shuffle
        self.per_rank = math.ceil(self.length / self.world_size)
        self.num_batches = self.per_rank // self.batch_size
        if self.num_batches < 1:
            raise TrainConfigError(
                f"the training set has {self.length} samples, {self.per_rank} per process: not one full batch of "
                f"{self.batch_size}; lower batch_size"
            )
        self.epoch = 0
        self.start_batch = 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        if not 0 <= start_batch <= self.num_batches:
            raise ValueError(f"start_batch {start_batch} outside [0, {self.num_batches}]")
        self.epoch = int(epoch)
        self.start_batch = int(start_batch)

    def epoch_indices(self, epoch: int) -> list[int]:
        """This rank's sample indices of ``epoch``, in order (all of them, ignoring the start batch)."""
        if self.shuffle:
            g = torch.Generator().manual_seed(mix_seed(self.seed, "epoch", epoch))
            order = torch.randperm(self.length, generator=g).tolist()
        else:
            order = list(range(self.length))
        total = self.per_rank * self.world_size
        order = (order * math.ceil(total / self.length))[:total]
        return order[self.rank :: self.world_size][: self.num_batches * self.batch_size]

    def sample_seed(self, epoch: int, index: int) -> int:
        return mix_seed(self.seed, "sample", epoch, index)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        indices = self.epoch_indices(self.epoch)[self.start_batch * self.batch_size :]
        for index in indices:
            yield index, self.sample_seed(self.epoch, index)

    def __len__(self) -> int:
        return (self.num_batches - self.start_batch) * self.batch_size


class EvalSampler(Sampler):
    """Indices ``rank, rank + W, ...`` of ``range(length)``: every sample on exactly one process, no padding, so
    summed confusion matrices count each validation sample once even when ``length % W != 0``."""

    def __init__(self, length: int, *, rank: int = 0, world_size: int = 1) -> None:
        self.length, self.rank, self.world_size = int(length), int(rank), int(world_size)

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.length, self.world_size))

    def __len__(self) -> int:
        return len(range(self.rank, self.length, self.world_size))


# -- datasets ----------------------------------------------------------------------------------------------------------
class DatasetSlice(Dataset):
    """Samples ``indices`` of ``dataset``, keeping its metadata (``classes``, ``ignore_index``, ``palette``...)."""

    def __init__(self, dataset: Any, indices: Sequence[int], split: str) -> None:
        self.dataset = dataset
        self.indices = list(indices)
        self.split = split

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Any:
        return self.dataset[self.indices[i]]

    @property
    def files(self) -> list:
        files = getattr(self.dataset, "files", None) or []
        return [files[i] for i in self.indices] if files else []

    def __getattr__(self, name: str) -> Any:  # classes, num_classes, ignore_index, palette, image_mode, ...
        if name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __repr__(self) -> str:
        return f"DatasetSlice({self.dataset!r}, {self.split!r}, {len(self)} samples)"


class DecodedInMemory(Dataset):
    """``dataset`` whose decoded ``(image, mask)`` samples are kept in memory after their first read.

    For small datasets read many times over, where decoding costs as much as the step: DRIVE's 20 TIFF images are
    decoded once instead of once per 128x128 crop. The random transforms run on the kept PIL images, which they
    never modify in place, so the numbers are those of an uncached run. Each DataLoader worker keeps its own copy.
    """

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset
        self._samples: dict[int, Any] = {}

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        sample = self._samples.get(index)
        if sample is None:
            sample = self._samples[index] = self.dataset[index]
        return sample

    def __getattr__(self, name: str) -> Any:  # classes, ignore_index, palette, files, split, ...
        if name in ("dataset", "_samples"):
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __repr__(self) -> str:
        return f"DecodedInMemory({self.dataset!r})"


_SPLIT_RE = re.compile(r"^(?P<name>[^\[\]]+)(?:\[(?P<parts>[^\[\]]*)\])?$")
_PART_RE = re.compile(r"^(?P<start>-?\d*):(?P<stop>-?\d*)$")


def parse_split(spec: str) -> tuple[str, tuple[slice, ...] | None]:
    """``"train"`` -> ``("train", None)``; ``"train[:25]"`` -> ``("train", (slice(None, 25),))``; several slices,
    ``"train[:4,8:]"``, select their union (a cross-validation fold's training part). Python slice rules, on the
    dataset's own sorted order."""
    m = _SPLIT_RE.match(spec.strip())
    text = m["parts"] if m else None
    parts = [_PART_RE.match(p.strip()) for p in text.split(",")] if text is not None else []
    if not m or not all(parts):
        raise TrainConfigError(
            f"split {spec!r} is not 'name', 'name[start:stop]' or 'name[start:stop,start:stop,...]' (e.g. "
            "'train[:25]', 'train[:4,8:]')"
        )
    if text is None:
        return m["name"], None
    return m["name"], tuple(slice(_int_or_none(p["start"]), _int_or_none(p["stop"])) for p in parts if p)


def _int_or_none(text: str) -> int | None:
    return int(text) if text else None


def split_indices(n: int, parts: tuple[slice, ...] | None) -> list[int]:
    """The indices of ``n`` samples that ``parts`` (from :func:`parse_split`) select, in order, each once."""
    if parts is None:
        return list(range(n))
    return list(dict.fromkeys(i for part in parts for i in range(n)[part]))


def open_split(dataset: str, root: str | None, spec: str, options: dict[str, Any]) -> Any:
    name, parts = parse_split(spec)
    ds = segzoo.create_dataset(dataset, root, split=name, **options)
    if parts is None:
        return ds
    indices = split_indices(len(ds), parts)
    if not indices:
        raise TrainConfigError(f"split {spec!r} selects no sample of the {len(ds)} in {dataset} split {name!r}")
    return DatasetSlice(ds, indices, spec)


def build_datasets(config: TrainConfig) -> tuple[Any, Any | None]:
    """The training and validation datasets (untransformed) that ``config`` names."""
    if config.dataset != "shapes" and config.data_root is None:
        raise TrainConfigError(f"dataset {config.dataset!r} needs data_root (--data-root), the folder holding it")
    train = open_split(config.dataset, config.data_root, config.train_split, config.dataset_options)
    val = None
    if config.val_split:
        _check_val_split(config)
        val = open_split(
            config.dataset, config.data_root, config.val_split, {**config.dataset_options, **config.val_dataset_options}
        )
        _check_overlap(config, train, val)
    return train, val


def _check_val_split(config: TrainConfig) -> None:
    """A dataset without the validation split asked for: say how to hold out samples instead."""
    name, _ = parse_split(config.val_split or "")
    splits = list(registry.get("datasets", config.dataset).metadata.get("splits") or [])
    if splits and name not in splits:
        first = splits[0]
        raise TrainConfigError(
            f"{config.dataset} has no {name!r} split (only {', '.join(map(repr, splits))}); hold out samples for "
            f"validation, e.g. --train-split '{first}[:-5]' --val-split '{first}[-5:]', or pass --val-split none"
        )


def _check_overlap(config: TrainConfig, train: Any, val: Any) -> None:
    """Refuse a validation slice that overlaps the training slice of the same split (an easy mistake)."""
    tname, tpart = parse_split(config.train_split)
    vname, vpart = parse_split(config.val_split or "")
    if tname != vname:
        return
    n = len(train.dataset) if isinstance(train, DatasetSlice) else len(train)
    common = set(split_indices(n, tpart)) & set(split_indices(n, vpart))
    if common:
        raise TrainConfigError(
            f"train split {config.train_split!r} and val split {config.val_split!r} share {len(common)} "
            f"sample{'s' if len(common) > 1 else ''}; "
            f"hold some out, e.g. --train-split '{tname}[:-5]' --val-split '{tname}[-5:]'"
        )


# -- transforms --------------------------------------------------------------------------------------------------------
class ConvertMode:
    """Convert the PIL image to ``mode`` ('RGB' for a 3-channel model on grayscale data, 'L' for the converse)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def __call__(self, image: Any, mask: Any = None):
        if isinstance(image, Image.Image) and image.mode != self.mode:
            image = image.convert(self.mode)
        return image, mask

    def __repr__(self) -> str:
        return f"ConvertMode({self.mode!r})"


def _image_mode(channels: int) -> str | None:
    return {1: "L", 3: "RGB"}.get(channels)


def train_transform(
    config: TrainConfig, mean: Sequence[float], std: Sequence[float], ignore_index: int, channels: int
) -> T.Compose:
    """[convert] -> [Resize(resize)] -> RandomScale(scale_range) -> RandomCrop(crop_size) -> RandomHorizontalFlip
    -> [RandomVerticalFlip] -> [ColorJitter(**color_jitter)] -> ToTensor -> Normalize(mean, std)."""
    steps: list[Callable] = []
    mode = _image_mode(channels)
    if mode:
        steps.append(ConvertMode(mode))
    if config.resize:
        steps.append(T.Resize(config.resize))
    if tuple(config.scale_range) != (1.0, 1.0):
        steps.append(T.RandomScale(tuple(config.scale_range)))
    steps.append(T.RandomCrop(config.crop_hw, ignore_index=ignore_index))
    if config.hflip > 0:
        steps.append(T.RandomHorizontalFlip(config.hflip))
    if config.vflip > 0:
        steps.append(T.RandomVerticalFlip(config.vflip))
    if config.color_jitter:
        try:
            steps.append(T.ColorJitter(**config.color_jitter))
        except (TypeError, ValueError) as err:
            raise TrainConfigError(f"color_jitter {config.color_jitter!r}: {err}") from None
    steps += [T.ToTensor(), T.Normalize(mean, std)]
    return T.Compose(steps)


def eval_transform(mean: Sequence[float], std: Sequence[float], channels: int) -> T.Compose:
    """Deterministic: [convert] -> ToTensor -> Normalize, at the label's resolution (resizing for the model happens
    on the tensor in :func:`segzoo.train.evaluation.predict_logits`, so metrics are computed on the original masks)."""
    steps: list[Callable] = []
    mode = _image_mode(channels)
    if mode:
        steps.append(ConvertMode(mode))
    steps += [T.ToTensor(), T.Normalize(mean, std)]
    return T.Compose(steps)


class SeededSamples(Dataset):
    """``dataset`` + a joint ``transform``, addressed by ``(index, seed)`` keys (or plain indices, unseeded).

    With a seed, loading and transforming run with torch's CPU RNG and Python's ``random`` (and numpy's, if numpy
    is imported) seeded from it, and the previous RNG states are restored afterwards. The transform is applied only
    to PIL samples (a dataset that already returns tensors is passed through).
    """

    def __init__(self, dataset: Any, transform: Callable | None = None) -> None:
        self.dataset = dataset
        self.transform = transform

    def __len__(self) -> int:
        return len(self.dataset)

    def _load(self, index: int) -> Any:
        image, mask = read_item(self.dataset, index)
        if self.transform is not None and isinstance(image, Image.Image):
            image, mask = self.transform(image, mask)
        return image, mask

    def __getitem__(self, key: Any) -> Any:
        if not isinstance(key, tuple):
            return self._load(int(key))
        index, seed = key
        np = sys.modules.get("numpy")
        py_state = random.getstate()
        np_state = np.random.get_state() if np is not None else None
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(seed)
            random.seed(seed)
            if np is not None:
                np.random.seed(seed % 2**32)
            try:
                return self._load(int(index))
            finally:
                random.setstate(py_state)
                if np is not None:
                    np.random.set_state(np_state)


def _seed_worker(seed: int, worker_id: int) -> None:
    s = mix_seed(seed, "worker", worker_id)
    torch.manual_seed(s)
    random.seed(s)
    np = sys.modules.get("numpy")
    if np is not None:
        np.random.seed(s % 2**32)


def make_loader(
    samples: Dataset,
    sampler: Sampler,
    *,
    batch_size: int,
    num_workers: int,
    seed: int,
    drop_last: bool,
    pin_memory: bool = False,
    persistent: bool = False,
) -> DataLoader:
    """A DataLoader that never draws from the global RNG and seeds its workers from ``(seed, worker)``.

    ``persistent``: the workers live as long as the loader, and iterating it again (the next epoch, after
    ``sampler.set_epoch``) reuses them instead of starting new processes that decode every image afresh."""
    generator = torch.Generator().manual_seed(mix_seed(seed, "loader"))
    return DataLoader(
        samples,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        drop_last=drop_last,
        pin_memory=pin_memory,
        generator=generator,
        worker_init_fn=functools.partial(_seed_worker, seed) if num_workers else None,
        persistent_workers=persistent and num_workers > 0,
    )
