"""What the datasets converted by mmsegmentation's ``tools/dataset_converters`` have in common.

Most converters write ``img_dir/<split>/`` and ``ann_dir/<split>/`` with matching file names; some datasets list
their ids in a text file instead. mmseg's ``reduce_zero_label`` (label 0 is void, every other label moves down one)
is the label mapping of many of them.
"""

from __future__ import annotations

from pathlib import Path

from segzoo.data import PairingError, SegmentationDataset, collect_files, describe_files, pair_files


def reduce_zero_label(num_classes: int, ignore_index: int = 255) -> dict[int, int]:
    """mmseg's ``reduce_zero_label``: 0 -> ignore, k -> k-1 for k in 1..num_classes, ignore stays ignore."""
    return {0: ignore_index, **{k: k - 1 for k in range(1, num_classes + 1)}, ignore_index: ignore_index}


def identity_labels(num_classes: int, ignore_index: int = 255) -> dict[int, int]:
    """Labels that already are training ids: 0..num_classes-1 and the ignore index."""
    return {**{k: k for k in range(num_classes)}, ignore_index: ignore_index}


def converter_hint(converter: str, needs: str = "") -> str:
    """How to write the converted layout, for error messages (``needs``: what the converter needs besides mmseg)."""
    return (
        f"Write it with mmsegmentation's converter: python tools/dataset_converters/{converter}.py <download "
        f"folder> -o <root>{f' (it needs {needs})' if needs else ''}."
    )


def img_ann_pairs(
    dataset: SegmentationDataset, converter: str, *, image_suffix: str = ".png", label_suffix: str = ".png"
) -> list[tuple[Path, Path]]:
    """The pairs of ``img_dir/<split>/<name><image_suffix>`` and ``ann_dir/<split>/<name><label_suffix>``."""
    split = dataset.split
    hint = converter_hint(converter)
    image_dir = dataset.require_dir(dataset.root / "img_dir" / split, f"mmseg's converted img_dir/{split} folder", hint)
    label_dir = dataset.require_dir(dataset.root / "ann_dir" / split, f"mmseg's converted ann_dir/{split} folder", hint)
    return pair_files(
        collect_files(image_dir, image_suffix),
        collect_files(label_dir, label_suffix),
        dataset=dataset.name,
        split=split,
        image_dir=image_dir,
        mask_dir=label_dir,
    )


def read_ids(list_file: Path) -> list[str]:
    """The ids of a split list (one per line, first word; blank lines skipped)."""
    return [line.split()[0] for line in list_file.read_text().splitlines() if line.strip()]


def listed_pairs(
    dataset: SegmentationDataset,
    ids: list[str],
    list_file: Path,
    image_dir: Path,
    image_suffix: str,
    label_dir: Path,
    label_suffix: str,
) -> list[tuple[Path, Path]]:
    """``(image_dir/<id><image_suffix>, label_dir/<id><label_suffix>)`` for each listed id, in list order; a
    :class:`PairingError` names every listed file that is missing."""
    where = f"{dataset.name} split {dataset.split!r}"
    if not ids:
        raise PairingError(f"{where}: the id list {list_file} is empty")
    files = [(image_dir / f"{i}{image_suffix}", label_dir / f"{i}{label_suffix}") for i in ids]
    missing_images = [image for image, _ in files if not image.is_file()]
    missing_labels = [label for _, label in files if not label.is_file()]
    parts = []
    if missing_images:
        parts.append(
            f"{len(missing_images)} of {len(ids)} images listed in {list_file.name} are missing from "
            f"{image_dir}: {describe_files(missing_images)}"
        )
    if missing_labels:
        parts.append(
            f"{len(missing_labels)} of {len(ids)} labels listed in {list_file.name} are missing from "
            f"{label_dir}: {describe_files(missing_labels)}"
        )
    if parts:
        raise PairingError(f"{where}: " + "; ".join(parts))
    return files
