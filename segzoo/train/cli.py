"""``segzoo train``: the command-line face of :class:`segzoo.train.TrainConfig` (one option per field).

Registered in ``segzoo`` through ``segzoo.cli.COMMAND_MODULES``; ``python -m segzoo.train`` runs the same command
without the ``segzoo`` entry point. Importing this module does not import torch.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from segzoo._boundary import OneLineParser, configure_logging, run_command
from segzoo._paths import check_writable
from segzoo.train.config import OPTIMIZERS, PRECISIONS, RESUME_MUTABLE, SCHEDULES, TrainConfig, TrainConfigError

__all__ = ["add_arguments", "add_commands", "build_config", "main", "run"]

_D = TrainConfig.defaults()

DESCRIPTION = """\
Fine-tune a catalog model (--model NAME, re-headed for the dataset's classes) or train segzoo.create(--arch,
--encoder) on a registered dataset. Writes to --output: config.json, metrics.jsonl (one JSON line per epoch /
evaluation), curves.png, checkpoint-last.pt (at every epoch end, or every --checkpoint-every iterations),
checkpoint-best.pt and best/ (the best validation mIoU, loadable with segzoo.load), final/ and summary.json.
A killed run continues exactly with `segzoo train --resume RUN_DIR`. Launch with torchrun for data-parallel
training on several processes (see docs/training.md)."""

EXAMPLES = """\
examples:
  segzoo train --arch unet --encoder resnet18 --dataset shapes --crop-size 64 --epochs 5 -o runs/shapes
  segzoo train --model deeplabv3-mobilenetv3-large --dataset camvid --data-root data/CamVid \\
      --crop-size 352 480 --freeze-encoder-epochs 2 --encoder-lr 0.001 --lr 0.01 -o runs/camvid
  segzoo train --resume runs/camvid
  torchrun --nproc_per_node 4 -m segzoo.train --arch unet --dataset camvid --data-root data/CamVid -o runs/ddp"""


def _key_value(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _none_or_str(text: str) -> str | None:
    return None if text.lower() in ("none", "") else text


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the training options to ``p``; every default is SUPPRESS, so only options given explicitly appear."""
    S = argparse.SUPPRESS
    g: Any = p  # the current argument group (opt reads it when called)

    def opt(*flags: str, help: str, field: str | None = None, **kw: Any) -> None:
        name = field or flags[0].lstrip("-").replace("-", "_")
        if name in _D and "default %" not in help and kw.get("action") not in ("store_true", "store_false"):
            help += f" (default: {json.dumps(_D[name])})"
        g.add_argument(*flags, dest=name, default=S, help=help, **kw)

    g = p.add_argument_group("model (give --model or --arch)")
    opt("--model", metavar="NAME", help="catalog name, save_pretrained folder or hf-hub:org/repo to fine-tune")
    opt("--arch", "--architecture", field="architecture", metavar="ARCH", help="architecture for segzoo.create")
    opt("--encoder", metavar="NAME", help="encoder for --arch (default: the architecture's)")
    opt(
        "--model-option",
        field="model_options",
        metavar="KEY=VALUE",
        type=_key_value,
        action="append",
        help="option of --arch, VALUE parsed as JSON if it can be (repeatable)",
    )
    opt(
        "--no-pretrained",
        field="pretrained",
        action="store_false",
        help="--model: start from random weights instead of the catalog's",
    )
    opt("--pretrained-encoder", action="store_true", help="--arch: ImageNet weights for the encoder (downloads)")
    opt("--in-channels", type=int, metavar="N", help="--arch: input channels (default: 1 for grayscale datasets)")
    g = p.add_argument_group("data")
    opt("--dataset", metavar="NAME", help="registered dataset (segzoo.list_datasets())")
    opt("--data-root", metavar="DIR", help="the dataset's folder")
    opt(
        "--train-split",
        metavar="SPLIT",
        help="split to train on; SPLIT[start:stop] takes a slice, e.g. 'train[:25]', and several slices their "
        "union, e.g. 'train[:4,8:]'",
    )
    opt("--val-split", metavar="SPLIT", type=_none_or_str, help="split to validate on ('none': no validation)")
    opt(
        "--dataset-option",
        field="dataset_options",
        metavar="KEY=VALUE",
        type=_key_value,
        action="append",
        help="dataset option for both splits (repeatable)",
    )
    opt(
        "--val-dataset-option",
        field="val_dataset_options",
        metavar="KEY=VALUE",
        type=_key_value,
        action="append",
        help="dataset option for the validation split only (repeatable)",
    )
    opt("--resize", type=int, metavar="PX", help="resize images (shorter side) before cropping, and for validation")
    opt("--crop-size", type=int, nargs="+", metavar="PX", help="training crop: SIZE or HEIGHT WIDTH")
    opt("--scale-range", type=float, nargs=2, metavar=("MIN", "MAX"), help="random scale range")
    opt("--hflip", type=float, metavar="P", help="horizontal flip probability")
    opt("--vflip", type=float, metavar="P", help="vertical flip probability (images without an up)")
    opt(
        "--color-jitter",
        field="color_jitter",
        metavar="KEY=VALUE",
        type=_key_value,
        action="append",
        help="photometric augmentation (repeatable): brightness, contrast, saturation or hue, e.g. brightness=0.25",
    )
    opt("--batch-size", "-b", type=int, metavar="N", help="batch size per process")
    opt("--val-batch-size", type=int, metavar="N", help="validation batch size (images of one size only)")
    opt("--num-workers", "-j", type=int, metavar="N", help="DataLoader worker processes")
    opt(
        "--cache-decoded",
        action="store_true",
        help="decode each image once and keep it in memory (small datasets read many times, e.g. DRIVE)",
    )
    g = p.add_argument_group("optimisation")
    opt("--epochs", type=int, metavar="N", help="epochs (passes over the training split)")
    opt("--max-iters", type=int, metavar="N", help="stop after N iterations (overrides --epochs)")
    opt("--optimizer", choices=OPTIMIZERS, help="optimizer")
    opt("--lr", type=float, help="learning rate of the decoder and heads")
    opt("--encoder-lr", type=float, metavar="LR", help="learning rate of the encoder (default: --lr)")
    opt("--momentum", type=float, help="SGD momentum")
    opt("--nesterov", action="store_true", help="Nesterov momentum (SGD)")
    opt("--weight-decay", type=float, metavar="WD", help="weight decay (decoupled for AdamW)")
    opt("--betas", type=float, nargs=2, metavar=("B1", "B2"), help="AdamW betas")
    opt("--schedule", choices=SCHEDULES, help="learning-rate schedule (per iteration)")
    opt("--poly-power", type=float, metavar="P", help="power of the poly schedule")
    opt("--min-lr-ratio", type=float, metavar="R", help="final learning rate as a fraction of the base one")
    opt("--warmup-iters", type=int, metavar="N", help="linear warm-up iterations")
    opt("--warmup-start-factor", type=float, metavar="F", help="learning-rate factor at the first warm-up step")
    opt("--freeze-encoder-epochs", type=int, metavar="N", help="train with the encoder frozen for N epochs")
    opt("--freeze-encoder-iters", type=int, metavar="N", help="... or for N iterations")
    opt("--precision", choices=PRECISIONS, help="autocast: bf16 (CPU or GPU), fp16 (GPU, with GradScaler)")
    opt(
        "--channels-last",
        action="store_true",
        help="NHWC memory layout for the model and batches (about 1.5x faster bf16 training on AVX-512 CPUs)",
    )
    opt("--clip-grad-norm", type=float, metavar="NORM", help="clip the gradient norm")
    opt("--loss", metavar="NAME", help="registered loss (segzoo.list_losses())")
    opt(
        "--loss-option",
        field="loss_options",
        metavar="KEY=VALUE",
        type=_key_value,
        action="append",
        help='loss option (repeatable), e.g. losses=\'{"cross_entropy": 1, "dice": 1}\'',
    )
    opt("--aux-weight", type=float, metavar="W", help="weight of the auxiliary head's loss (0: not trained)")
    opt("--distill-from", metavar="MODEL", help="teacher for knowledge distillation (catalog name or folder)")
    opt("--distill-weight", type=float, metavar="W", help="weight of the distillation loss")
    opt("--distill-temperature", type=float, metavar="T", help="softmax temperature of the distillation loss")
    g = p.add_argument_group("evaluation and checkpoints")
    opt(
        "--eval-every",
        type=int,
        metavar="N",
        help="validate every N iterations instead of at every epoch end (and at the end)",
    )
    opt(
        "--early-stopping-patience",
        "--patience",
        field="early_stopping_patience",
        type=int,
        metavar="N",
        help="stop after N evaluations without a better val mIoU",
    )
    opt("--output", "-o", metavar="DIR", help="run directory")
    opt(
        "--checkpoint-every",
        type=int,
        metavar="N",
        help="write checkpoint-last.pt every N iterations instead of at every epoch end (also at the end and "
        "when the val mIoU improves)",
    )
    opt("--seed", type=int, help="seed of initialisation, data order and augmentation")
    opt("--device", help="auto, cpu, cuda or cuda:N")
    opt("--deterministic", action="store_true", help="torch deterministic algorithms (slower on GPU)")
    opt("--threads", type=int, metavar="N", help="torch CPU threads per process")
    opt("--quiet", "-q", action="store_true", help="no progress bars or per-epoch lines")
    opt("--no-plot", field="plot", action="store_false", help="do not write curves.png")
    p.add_argument("--config", metavar="FILE", help="JSON file of options (a run's config.json); flags override it")
    p.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=False,
        metavar="auto|RUN_DIR",
        help="continue the run in --output exactly where its last checkpoint left it; 'auto' starts it "
        "if it has no checkpoint; RUN_DIR resumes that run with its own config.json",
    )


_LIST_FIELDS = ("model_options", "dataset_options", "val_dataset_options", "loss_options", "color_jitter")


def _explicit(args: argparse.Namespace) -> dict[str, Any]:
    names = set(TrainConfig.field_names())
    given = {k: v for k, v in vars(args).items() if k in names}
    for key in _LIST_FIELDS:
        if key in given:
            given[key] = dict(given[key])
    if "crop_size" in given:
        sizes = given["crop_size"]
        if len(sizes) > 2:
            raise TrainConfigError(f"--crop-size takes SIZE or HEIGHT WIDTH, got {len(sizes)} numbers")
        given["crop_size"] = sizes[0] if len(sizes) == 1 else list(sizes)
    return given


def build_config(args: argparse.Namespace) -> tuple[TrainConfig, bool | str]:
    """The :class:`TrainConfig` and ``resume`` mode that the parsed arguments describe."""
    given = _explicit(args)
    resume = args.resume
    if resume not in (True, False, "auto"):
        run_dir = Path(resume)
        if not (run_dir / "config.json").is_file():
            raise TrainConfigError(f"--resume {resume}: {run_dir / 'config.json'} does not exist (not a run directory)")
        fixed = sorted(set(given) - RESUME_MUTABLE)
        if fixed or args.config:
            raise TrainConfigError(
                f"--resume {resume} takes the run's options from its config.json; only "
                f"{', '.join(sorted(RESUME_MUTABLE - {'output'}))} may be given (got {', '.join(fixed) or '--config'})"
            )
        data = TrainConfig.from_json(run_dir / "config.json").to_dict()
        data.update(given)
        data["output"] = str(run_dir)
        return TrainConfig.from_dict(data), True
    data = TrainConfig.from_json(args.config).to_dict() if args.config else {}
    data.update(given)
    return TrainConfig.from_dict(data), resume


def run(args: argparse.Namespace) -> int:
    config, resume = build_config(args)
    if config.output:
        check_writable(config.output, option="--output", directory=True)  # before building model and data
    from segzoo.train.memory import keep_freed_memory
    from segzoo.train.trainer import Trainer

    keep_freed_memory()  # this process is the training run's own: reuse freed activations instead of re-faulting them
    summary = Trainer(config).fit(resume=resume)
    if _rank() != 0:  # under torchrun only rank 0 reports
        return 0
    if getattr(args, "json", False):
        print(json.dumps(summary, indent=2, default=str))
    else:
        best = summary["best_mIoU"]
        best_text = (
            f"best val mIoU {best:.4f} at iteration {summary['best_iteration']}"
            if best is not None
            else "no validation"
        )
        print(
            f"trained {summary['iterations']} iterations in {summary['time']:.0f}s; {best_text}"
            f"{' (stopped early)' if summary['stopped_early'] else ''}; run directory {summary['run_dir']}"
        )
    return 0


def _rank() -> int:
    import os

    return int(os.environ.get("RANK", "0"))


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Register ``segzoo train`` (called by ``segzoo.cli.build_parser`` for the modules in COMMAND_MODULES)."""
    p = sub.add_parser(
        "train",
        parents=[common],
        help="fine-tune or train a model on a dataset",
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(p)
    p.set_defaults(func=run)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m segzoo.train ...``, the same as ``segzoo train ...``."""
    parser = OneLineParser(
        prog="python -m segzoo.train",
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details and full tracebacks")
    add_arguments(parser)
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    return run_command(run, args, verbose=args.verbose)
