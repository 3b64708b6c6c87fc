"""Time segzoo's training transforms against the torchvision.transforms.v2 equivalent, on real CamVid train images.

The pipeline is the one ``segzoo train`` builds for the CamVid zoo recipes (configs/*-camvid.json): RGB, shorter side
180, random scale 0.75-1.5, random 160x224 crop (mask padded with 255), horizontal flip, to float tensor, normalise.
torchvision gets it two ways: on PIL images as loaded (``tv2-pil``), and on uint8 tensors from the start
(``tv2-tensor``, its recommended form). Decoding the files is left out (same for all). Each call transforms
``--images`` samples; variants alternate within rounds and the speed ratio is taken per round (benchmarks/_timing.py).

    .venv/bin/python benchmarks/bench_transforms.py                  # 20 rounds of 16 images
    .venv/bin/python benchmarks/bench_transforms.py --rounds 40 --images 32
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import interleaved, paired_ratio, verdict  # noqa: E402

import segzoo  # noqa: E402
from segzoo.data.transforms import IMAGENET_MEAN, IMAGENET_STD  # noqa: E402
from segzoo.train import TrainConfig  # noqa: E402
from segzoo.train.data import train_transform  # noqa: E402

RESIZE, SCALE, CROP, IGNORE = 180, (0.75, 1.5), (160, 224), 255


def segzoo_pipeline() -> Callable:
    config = TrainConfig.from_dict(
        {"dataset": "camvid", "resize": RESIZE, "scale_range": list(SCALE), "crop_size": list(CROP), "hflip": 0.5}
    )
    return train_transform(config, IMAGENET_MEAN, IMAGENET_STD, IGNORE, 3)


def torchvision_pipelines() -> dict[str, Callable]:
    from torchvision import tv_tensors
    from torchvision.transforms import v2

    # RandomResize draws the shorter side: 180 * (0.75 .. 1.5) = 135 .. 270
    geometric = [
        v2.Resize(RESIZE),
        v2.RandomResize(int(RESIZE * SCALE[0]), int(RESIZE * SCALE[1]) + 1),
        v2.RandomCrop(CROP, pad_if_needed=True, fill={tv_tensors.Image: 0, tv_tensors.Mask: IGNORE, "others": 0}),
        v2.RandomHorizontalFlip(0.5),
    ]
    to_float = [
        v2.ToDtype({tv_tensors.Image: torch.float32, tv_tensors.Mask: torch.int64}, scale=True),
        v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ]
    on_pil = v2.Compose([*geometric, v2.ToImage(), *to_float])
    on_tensor = v2.Compose([v2.ToImage(), *geometric, *to_float])

    def mask(m):  # v2 would interpolate a PIL mask as an image: masks go in as tv_tensors.Mask
        return tv_tensors.Mask(v2.functional.pil_to_tensor(m)[0])

    return {
        "tv2-pil": lambda image, m: on_pil(image.convert("RGB"), mask(m)),
        "tv2-tensor": lambda image, m: on_tensor(image.convert("RGB"), mask(m)),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default=str(Path(__file__).resolve().parents[2] / "shared" / "datasets" / "camvid"))
    p.add_argument("--images", type=int, default=16)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--threads", type=int, default=1, help="torch threads (a DataLoader worker uses 1)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    ds = segzoo.create_dataset("camvid", args.root, split="train")
    samples = [ds[i] for i in range(args.images)]
    for image, m in samples:
        image.load(), m.load()
    pipelines = {"segzoo": segzoo_pipeline(), **torchvision_pipelines()}

    # same output form: float (3, 160, 224) image, int64 (160, 224) mask whose values are the input's or 255
    torch.manual_seed(0)
    for name, fn in pipelines.items():
        image, m = fn(*samples[0])
        assert image.shape == (3, *CROP) and image.dtype == torch.float32, (name, image.shape, image.dtype)
        assert m.shape == CROP and m.dtype == torch.int64, (name, m.shape, m.dtype)

    def run(fn: Callable) -> Callable[[], None]:
        return lambda: [fn(image, m) for image, m in samples]

    times = interleaved({name: run(fn) for name, fn in pipelines.items()}, args.rounds)
    print(
        f"CamVid train, {args.images} images ({samples[0][0].size[0]}x{samples[0][0].size[1]}) per call, "
        f"{args.rounds} rounds, {args.threads} torch thread(s)"
    )
    for name, t in times.items():
        print(f"  {name:<11} {1e3 * statistics.median(t) / args.images:7.2f} ms/image (median)")
    for name in pipelines:
        if name == "segzoo":
            continue
        med, lo, hi = paired_ratio(times[name], times["segzoo"])
        print(
            f"  segzoo vs {name}: {med:.2f}x [{lo:.2f}, {hi:.2f}] (above 1: segzoo faster) -> segzoo is "
            f"{verdict(lo, hi)}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
