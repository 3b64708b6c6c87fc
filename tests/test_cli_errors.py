"""The ``segzoo`` command's one error boundary: every failure is one line on stderr, never a traceback without -v.

Each test runs the real command in-process (``segzoo.cli.main``) with a real model saved by ``save_pretrained``, real
image files and a plugin registered the way installed plugins are.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from PIL import Image

import segzoo
import segzoo.cli
from segzoo import _plugins
from segzoo._boundary import EXIT_STDOUT_CLOSED
from segzoo.errors import ConfigurationError

CLI_MODULES = ("segzoo.train.cli", "segzoo.evaluation.cli", "segzoo.inference.cli")


class FineData:
    """Four random 40x40 images with two classes."""

    classes = ("background", "thing")
    num_classes = 2
    ignore_index = 255

    def __init__(self, root, split="train", length=4, **options):
        self.length = length

    def __len__(self):
        return self.length

    def __getitem__(self, index):
        g = torch.Generator().manual_seed(index)
        pixels = (torch.rand(40, 40, 3, generator=g) * 255).to(torch.uint8)
        labels = (torch.rand(40, 40, generator=g) > 0.5).to(torch.uint8)
        return (
            Image.frombytes("RGB", (40, 40), pixels.numpy().tobytes()),
            Image.frombytes("L", (40, 40), labels.numpy().tobytes()),
        )


class CorruptData(FineData):
    def __getitem__(self, index):
        raise ValueError(f"label file {index}.png holds class 9")


class BadIndexData:
    def __init__(self, root, split="train", **options):
        raise RuntimeError("index file lists no images")


def build_broken(*, encoder, num_classes, in_channels, pretrained_encoder):
    raise RuntimeError("decoder width must be even")


def build_quitter(*, encoder, num_classes, in_channels, pretrained_encoder):
    sys.exit(3)


class BrokenLoss(torch.nn.Module):
    def __init__(self, **options):
        super().__init__()

    def forward(self, logits, target):
        raise RuntimeError("weights tensor has 3 entries for 2 classes")


class Faulty:
    """A third-party plugin whose components fail when called."""

    SEGZOO_PLUGIN_API = 1

    @segzoo.hookimpl
    def register_architectures(self, register):
        register("broken-arch", build_broken, default_encoder="resnet18")
        register("quitter-arch", build_quitter, default_encoder="resnet18")

    @segzoo.hookimpl
    def register_losses(self, register):
        register("broken-loss", BrokenLoss)
        register("plain-loss", torch.nn.CrossEntropyLoss)

    @segzoo.hookimpl
    def register_datasets(self, register):
        register("fine-data", FineData, classes=list(FineData.classes))
        register("corrupt-data", CorruptData, classes=list(FineData.classes))
        register("bad-index", BadIndexData, classes=list(FineData.classes))


@pytest.fixture
def cli(monkeypatch, tiny, capsys):
    """``segzoo.cli.main`` with every sub-command, the test architecture 'tiny' and the plugin 'segzoo-faulty';
    returns ``run(*argv) -> (exit status, stderr)`` and checks that stderr has no traceback."""
    modules = list(segzoo.cli.COMMAND_MODULES) + [m for m in CLI_MODULES if m not in segzoo.cli.COMMAND_MODULES]
    monkeypatch.setattr(segzoo.cli, "COMMAND_MODULES", modules)
    info = _plugins.registries().add_plugin(Faulty(), name="faulty", package="segzoo-faulty", version="0")
    assert info.status == "ok", info.error

    def run(*argv: str) -> tuple[int, str]:
        capsys.readouterr()
        rc = segzoo.cli.main([str(a) for a in argv])
        err = capsys.readouterr().err
        assert "Traceback" not in err
        return rc, err.strip()

    return run


@pytest.fixture
def model_dir(tiny, tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "model"
    segzoo.create("tiny", encoder="resnet18", num_classes=2).save_pretrained(path)
    return path


def one_error_line(err: str, *needles: str) -> None:
    assert len(err.splitlines()) == 1 and err.startswith("segzoo: error: "), err
    for needle in needles:
        assert needle in err, err


def test_predict_on_one_pixel_images(cli, model_dir, tmp_path):
    for size in [(1, 1), (1, 7), (5, 1)]:
        Image.new("RGB", size, (90, 20, 200)).save(tmp_path / f"{size[0]}x{size[1]}.png")
    rc, err = cli(
        "predict",
        model_dir,
        *sorted(tmp_path.glob("*x*.png")),
        "--out",
        tmp_path / "out",
        "--engine",
        "eager",
        "--no-progress",
    )
    assert rc == 0, err
    for size in [(1, 1), (1, 7), (5, 1)]:
        assert Image.open(tmp_path / "out" / f"{size[0]}x{size[1]}_mask.png").size == size


def test_decompression_bomb_is_refused(cli, model_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow's guard, lowered so a 40x40 file trips it
    Image.new("RGB", (40, 30)).save(tmp_path / "bomb.png")  # 1200 px: over the limit (Pillow itself only warns)
    Image.new("RGB", (80, 80)).save(tmp_path / "big.png")  # 6400 px: over twice the limit (Pillow raises)
    for name in ("bomb.png", "big.png"):
        rc, err = cli("predict", model_dir, tmp_path / name, "--out", tmp_path / "out", "--no-progress")
        assert rc == 1
        one_error_line(err, name, "decompression bombs", "1,000")


def test_unwritable_outputs_fail_before_the_model_is_loaded(cli, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    Image.new("RGB", (8, 8)).save(tmp_path / "x.png")
    # the model does not exist: the destination is checked first, so that is what the error is about
    cases = [
        ("export", "no-such-model", "--out", blocker / "m.onnx"),
        ("predict", "no-such-model", tmp_path / "x.png", "--out", blocker / "masks"),
        ("eval", "no-such-model", "--dataset", "fine-data", "--json", blocker / "r.json"),
        ("bench", "no-such-model", "--markdown", blocker / "board.md"),
        ("train", "--model", "no-such-model", "--dataset", "fine-data", "-o", blocker / "run"),
    ]
    for argv in cases:
        rc, err = cli(*argv)
        assert rc == 1
        one_error_line(err, "cannot write", str(blocker), "a file is in the way")
    assert blocker.read_text() == "not a folder"


def test_a_plugin_architecture_that_raises_is_named(cli, model_dir, tmp_path):
    config = json.loads((model_dir / "config.json").read_text())
    (model_dir / "config.json").write_text(json.dumps({**config, "architecture": "broken-arch"}))
    Image.new("RGB", (8, 8)).save(tmp_path / "x.png")
    rc, err = cli("predict", model_dir, tmp_path / "x.png", "--out", tmp_path / "out")
    assert rc == 1
    one_error_line(
        err,
        "architecture 'broken-arch' of segzoo-faulty raised RuntimeError: decoder width must be even",
        "bug in segzoo-faulty",
    )


def test_a_plugin_that_calls_sys_exit_does_not_end_the_command_silently(cli, model_dir, tmp_path):
    config = json.loads((model_dir / "config.json").read_text())
    (model_dir / "config.json").write_text(json.dumps({**config, "architecture": "quitter-arch"}))
    Image.new("RGB", (8, 8)).save(tmp_path / "x.png")
    rc, err = cli("predict", model_dir, tmp_path / "x.png", "--out", tmp_path / "out")
    assert rc == 70
    one_error_line(err, "architecture 'quitter-arch' of segzoo-faulty called sys.exit(3)")


def test_a_plugin_dataset_that_raises_is_named(cli, model_dir):
    rc, err = cli("eval", model_dir, "--dataset", "bad-index", "--root", ".")
    assert rc == 1
    one_error_line(err, "dataset 'bad-index' of segzoo-faulty raised RuntimeError: index file lists no images")


def test_dataset_errors_read_the_same_with_and_without_workers(cli, model_dir):
    lines = []
    for workers in ("0", "1"):
        rc, err = cli(
            "eval",
            model_dir,
            "--dataset",
            "corrupt-data",
            "--root",
            ".",
            "--num-workers",
            workers,
            "--engine",
            "eager",
            "--no-progress",
        )
        assert rc == 1
        lines.append(err)
    assert lines[0] == lines[1]
    one_error_line(
        lines[0],
        "dataset 'corrupt-data' of segzoo-faulty could not read item 0: ValueError: label file 0.png holds class 9",
    )


def test_a_plugin_loss_that_raises_is_named(cli, tmp_path):
    train = (
        "train",
        "--arch",
        "tiny",
        "--encoder",
        "resnet18",
        "--dataset",
        "fine-data",
        "--crop-size",
        "32",
        "--batch-size",
        "2",
        "--max-iters",
        "1",
        "--val-split",
        "none",
        "--quiet",
        "--no-plot",
        "--device",
        "cpu",
        "--num-workers",
        "0",
        "--data-root",
        tmp_path,
    )
    rc, err = cli(*train, "--loss", "broken-loss", "-o", tmp_path / "run")  # raises in forward()
    assert rc == 1
    one_error_line(err, "loss 'broken-loss' of segzoo-faulty raised RuntimeError: weights tensor has 3 entries")
    # an unknown option is the user's mistake, refused with the loss's options before its constructor runs
    rc, err = cli(*train, "--loss", "plain-loss", "--loss-option", "bogus=1", "-o", tmp_path / "run2")
    assert rc == 1
    one_error_line(err, "loss 'plain-loss' has no option 'bogus' (its options: weight, ", "label_smoothing")
    rc, err = cli(*train, "--model-option", "bogus=1", "-o", tmp_path / "run3")  # and an architecture's
    assert rc == 1
    one_error_line(err, "architecture 'tiny' has no option 'bogus' (its options: divisor)")


def test_python_m_segzoo_train_has_the_same_boundary(tiny, tmp_path, capsys):
    from segzoo.train.cli import main

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    rc = main(["--arch", "tiny", "--dataset", "shapes", "-o", str(blocker / "run")])
    err = capsys.readouterr().err.strip()
    assert rc == 1
    one_error_line(err, "cannot write --output")


def test_an_unexpected_error_says_it_is_a_bug_and_how_to_see_the_traceback(cli, monkeypatch, capsys):
    def crash(args):
        return {}["missing key"]

    monkeypatch.setattr(segzoo.cli, "cmd_architectures", crash)
    rc, err = cli("architectures")
    assert rc == 70
    one_error_line(err, "unexpected KeyError: 'missing key'", "this is a bug", "-v")
    for argv in (["-v", "architectures"], ["architectures", "-v"]):  # -v before or after the command
        assert segzoo.cli.main(argv) == 70
        verbose = capsys.readouterr().err
        assert "Traceback" in verbose and "in crash" in verbose and verbose.strip().splitlines()[-1] == err


def test_disk_full_is_one_line_with_what_to_do():
    from segzoo._boundary import user_message

    with pytest.raises(OSError) as info, open("/dev/full", "w") as f:  # noqa: PT012 - the write or the flush fails
        f.write("x")
        f.flush()
    assert user_message(info.value) == "No space left on device (free some space or write elsewhere)"


@pytest.mark.parametrize("bad", [0, -1, 10**9, "11", 2.0, True])
def test_load_validates_num_classes_like_create(model_dir, bad):
    for call in (lambda: segzoo.load(model_dir, num_classes=bad), lambda: segzoo.create("tiny", num_classes=bad)):
        with pytest.raises(ConfigurationError, match="num_classes must be") as info:
            call()
        assert "\n" not in str(info.value)


def test_huggingface_hub_warnings_are_printed_once(tmp_path):
    code = textwrap.dedent("""
        import contextlib, io
        from segzoo.cli import main
        from huggingface_hub.utils import logging
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["architectures"]) == 0  # sets up logging as every command does
        logging.get_logger("huggingface_hub.file_download").warning("hub-warning-42")
        import logging as std
        std.getLogger("segzoo").warning("segzoo-warning-42")
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("hub-warning-42") == 1
    assert result.stderr.count("segzoo-warning-42") == 1 and "segzoo: WARNING: segzoo-warning-42" in result.stderr


def test_a_reader_closing_stdout_early_ends_the_command_quietly(tmp_path):
    """`segzoo list | head -1`: the reader takes one line and closes the pipe; no error line, SIGPIPE's status."""
    read_end, write_end = os.pipe()
    with contextlib.suppress(ImportError, AttributeError, OSError):  # Linux: a one-page pipe the listing overflows
        import fcntl

        fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 4096)
    proc = subprocess.Popen(
        [sys.executable, "-m", "segzoo", "list"], stdout=write_end, stderr=subprocess.PIPE, cwd=tmp_path
    )
    os.close(write_end)
    with os.fdopen(read_end, "rb") as out:
        first = out.readline()
    err = proc.communicate(timeout=120)[1].decode()
    assert first.split()[:2] == [b"name", b"architecture"]
    assert "Broken pipe" not in err and "BrokenPipeError" not in err, err
    assert proc.returncode == EXIT_STDOUT_CLOSED == 141, err


@pytest.mark.parametrize(
    "argv, says",
    [
        (["predict", "m", "x.png", "--alpha", "7"], "argument --alpha: expected a number from 0 to 1, got '7'"),
        (["eval", "m", "--dataset", "d", "--num-workers", "-3"], "argument --num-workers: expected an integer >= 0"),
        (["eval", "m", "--dataset", "d", "--limit", "-1"], "argument --limit: expected an integer >= 1, got -1"),
        (["export", "m", "--opset", "3"], "argument --opset: expected an integer >= 7, got 3"),
        (["nosuchcommand"], "invalid choice: 'nosuchcommand'"),
    ],
)
def test_usage_errors_are_one_line_too(cli, capsys, argv, says):
    with pytest.raises(SystemExit) as info:
        segzoo.cli.main(argv)
    err = capsys.readouterr().err.strip()
    assert info.value.code == 2 and "usage:" not in err
    one_error_line(err, says, "--help`")


def test_eval_warns_once_about_differing_class_names(cli, model_dir):
    config = json.loads((model_dir / "config.json").read_text())
    (model_dir / "config.json").write_text(json.dumps({**config, "class_names": ["sky", "road"]}))
    rc, err = cli(
        "eval",
        model_dir,
        "--dataset",
        "fine-data",
        "--root",
        ".",
        "--num-workers",
        "0",
        "--engine",
        "eager",
        "--no-progress",
    )
    assert rc == 0
    assert err.count("class names of") == 1 and "segzoo: WARNING: class names of" in err, err
