"""segzoo.train: learning on synthetic shapes, exact resume after SIGKILL, freezing, per-group learning rates,
schedules, atomic checkpoints, the curves PNG, the data pipeline's determinism and the CLI."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import segzoo
from segzoo.train import TrainConfig, TrainConfigError, TrainingError
from segzoo.train import checkpoint as C
from segzoo.train.data import EvalSampler, SeededSamples, TrainSampler, eval_transform, make_loader, train_transform
from segzoo.train.schedule import lr_factor

ROOT = Path(__file__).resolve().parents[1]

#: ~0.5 M parameters, ~30 ms per 4x64x64 training step on one CPU thread
UNET = dict(
    architecture="unet", encoder="mobilenetv3_small_050", model_options={"decoder_channels": [64, 32, 16, 16, 8]}
)
#: timm's test ResNet inside FCN with an auxiliary head (and dropout in both heads)
FCN = dict(architecture="fcn", encoder="test_resnet", model_options={"aux_head": True})


pytestmark = pytest.mark.usefixtures("one_thread")


def config(tmp_path: Path, arch: dict = UNET, **kw) -> TrainConfig:
    base = dict(
        **arch,
        dataset="shapes",
        dataset_options={"length": 32},
        val_dataset_options={"length": 8},
        crop_size=64,
        scale_range=[0.75, 1.25],
        batch_size=4,
        output=str(tmp_path / "run"),
        quiet=True,
        seed=0,
    )
    base.update(kw)
    return TrainConfig(**base)


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def assert_same(a, b, where="") -> None:
    """Recursive bit-for-bit equality of checkpoint contents."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), (where, set(a) ^ set(b))
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b)), (where, a, b)


# -- schedules ---------------------------------------------------------------------------------------------------------
def test_warmup_poly_and_cosine_values_by_hand():
    poly = dict(schedule="poly", poly_power=0.9, warmup_iters=10, warmup_start_factor=0.1)
    assert lr_factor(0, 100, **poly) == pytest.approx(0.1)  # (1 - 0)^0.9 * 0.1
    assert lr_factor(5, 100, **poly) == pytest.approx(0.95**0.9 * 0.55)  # warm-up halfway: 0.1 + 0.9 * 5/10
    assert lr_factor(10, 100, **poly) == pytest.approx(0.9**0.9)  # warm-up over
    assert lr_factor(50, 100, **poly) == pytest.approx(0.5**0.9)
    assert lr_factor(100, 100, **poly) == 0.0
    cosine = dict(schedule="cosine", min_lr_ratio=0.1, warmup_iters=4, warmup_start_factor=0.0)
    assert lr_factor(0, 40, **cosine) == 0.0
    assert lr_factor(2, 40, **cosine) == pytest.approx((0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 2 / 40))) * 0.5)
    assert lr_factor(20, 40, **cosine) == pytest.approx(0.1 + 0.9 * 0.5)  # halfway: cos(pi/2) = 0
    assert lr_factor(30, 40, **cosine) == pytest.approx(0.1 + 0.9 * 0.5 * (1 - math.sqrt(0.5)))
    assert lr_factor(40, 40, **cosine) == pytest.approx(0.1)
    assert lr_factor(7, 40, schedule="constant", warmup_iters=0) == 1.0
    with pytest.raises(ValueError):
        lr_factor(0, 10, schedule="step")


# -- freezing, parameter groups, aux loss ------------------------------------------------------------------------------
def test_freeze_then_unfreeze_per_group_lrs_and_aux_head(tmp_path):
    torch.manual_seed(0)
    model = segzoo.create("fcn", encoder="test_resnet", num_classes=3, aux_head=True)
    encoder0 = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    aux0 = {k: v.clone() for k, v in model.aux_head.state_dict().items()}
    seen = []

    def record(trainer, event):
        if event != "step":
            return
        m = trainer.model
        enc = model.encoder.state_dict()
        seen.append(
            {
                "step": trainer.state.iteration - 1,
                "requires_grad": {p.requires_grad for p in m.encoder.parameters()},
                "encoder_training": m.encoder.training,
                "decoder_training": m.decoder.training,
                "encoder_unchanged": all(torch.equal(enc[k], encoder0[k]) for k in enc),
                "lrs": dict(trainer.last_lrs),
                "groups": [
                    (g["name"], g["base_lr"], g["momentum"], g["nesterov"], g["weight_decay"])
                    for g in trainer.optimizer.param_groups
                ],
            }
        )

    cfg = config(
        tmp_path,
        arch={},
        val_split=None,
        dataset_options={"length": 8},
        batch_size=2,
        max_iters=7,
        freeze_encoder_iters=3,
        lr=0.02,
        encoder_lr=0.002,
        nesterov=True,
        weight_decay=5e-4,
        warmup_iters=2,
        warmup_start_factor=0.25,
        schedule="poly",
        poly_power=1.0,
        aux_weight=0.4,
    )
    from segzoo.train import Trainer

    Trainer(cfg, model=model, callbacks=[record]).fit()
    assert [s["step"] for s in seen] == list(range(7))
    for s in seen:
        frozen = s["step"] < 3
        assert s["requires_grad"] == {not frozen}, s
        assert s["encoder_training"] is (not frozen) and s["decoder_training"] is True
        # frozen: not one encoder weight or BatchNorm statistic moved; afterwards they do
        assert s["encoder_unchanged"] is frozen, s
        assert s["groups"] == [("encoder", 0.002, 0.9, True, 5e-4), ("decoder", 0.02, 0.9, True, 5e-4)]
        i = s["step"]
        factor = (1 - i / 7) * (0.25 + 0.75 * i / 2 if i < 2 else 1.0)  # poly power 1, warm-up 2 from 0.25
        assert s["lrs"]["encoder"] == pytest.approx(0.002 * factor)
        assert s["lrs"]["decoder"] == pytest.approx(0.02 * factor)
    assert seen[0]["lrs"]["decoder"] == pytest.approx(0.02 * 0.25)
    assert seen[5]["lrs"]["decoder"] == pytest.approx(0.02 * 2 / 7)
    aux = model.aux_head.state_dict()
    assert not all(torch.equal(aux[k], aux0[k]) for k in aux), "aux head not trained with aux_weight 0.4"


def test_catalog_model_is_reheaded_and_its_preprocessing_used(tmp_path, caplog):
    import logging

    from segzoo.train import Trainer

    # the Hub is not reachable in the tests: pretrained=False builds the catalog architecture with random weights
    cfg = config(
        tmp_path,
        arch={},
        model="lraspp-mobilenetv3-large",
        pretrained=False,
        val_split=None,
        dataset_options={"length": 2},
        batch_size=2,
        max_iters=1,
    )
    trainer = Trainer(cfg)
    with caplog.at_level(logging.INFO, logger="segzoo"):
        trainer.fit()
    # nothing was pretrained, so nothing was kept: no "encoder and decoder weights kept" warning
    assert "re-headed" not in caplog.text
    m = trainer.model
    assert m.num_classes == 3 and m.config["name"] == "lraspp-mobilenetv3-large"
    assert m.config["class_names"] == ["background", "circle", "rectangle"]
    # the entry's evaluation (its dataset, split and options) came with the loaded model, and is dropped: the trained
    # weights' metrics were not measured there
    assert segzoo.load("lraspp-mobilenetv3-large", pretrained=False).config["dataset"]["eval_split"]
    assert "dataset" not in m.config
    normalize = trainer.train_samples.transform.transforms[-1]
    assert normalize.mean == pytest.approx(segzoo.info("lraspp-mobilenetv3-large")["preprocessing"]["mean"])

    # a model's own preprocessing wins over ImageNet's; a one-channel model gets the channel mean
    torch.manual_seed(0)
    model = segzoo.create("fcn", encoder="test_resnet", num_classes=3)
    model.config["preprocessing"] = {"mean": [0.2, 0.3, 0.4], "std": [0.5, 0.5, 0.5]}
    trainer = Trainer(cfg.replace(model=None, output=str(tmp_path / "own")), model=model)
    trainer.fit()
    assert trainer.train_samples.transform.transforms[-1].mean == pytest.approx([0.2, 0.3, 0.4])

    # training and validation normalise with the model's own preprocessing object, model.transforms() (a one-channel
    # model's averages ImageNet's statistics), and the trained model carries it for eval and predict
    gray = segzoo.create("fcn", encoder="test_resnet", num_classes=3, in_channels=1)
    mean, std = [(0.485 + 0.456 + 0.406) / 3], [(0.229 + 0.224 + 0.225) / 3]
    assert gray.transforms().mean == pytest.approx(mean) and gray.transforms().std == pytest.approx(std)
    cfg = cfg.replace(model=None, val_split="val", resize=64, output=str(tmp_path / "gray"))
    trainer = Trainer(cfg, model=gray)
    trainer.fit()
    for samples in (trainer.train_samples, trainer.val_samples):
        normalize = samples.transform.transforms[-1]
        assert (normalize.mean, normalize.std) == (pytest.approx(mean), pytest.approx(std))
    pre = gray.transforms()
    assert pre.as_dict() == trainer.preprocessing.as_dict()
    assert pre.resize == {"shorter_side": 64} and pre.extra == {"ignore_index": 255}


def test_aux_weight_zero_leaves_the_aux_head_alone(tmp_path):
    torch.manual_seed(0)
    model = segzoo.create("fcn", encoder="test_resnet", num_classes=3, aux_head=True)
    aux0 = {k: v.clone() for k, v in model.aux_head.state_dict().items() if "running" not in k}
    cfg = config(
        tmp_path, arch={}, val_split=None, dataset_options={"length": 4}, batch_size=2, max_iters=2, aux_weight=0.0
    )
    from segzoo.train import Trainer

    Trainer(cfg, model=model).fit()
    assert all(torch.equal(model.aux_head.state_dict()[k], v) for k, v in aux0.items())
    assert not any(p.requires_grad for p in model.aux_head.parameters())


# -- learning ----------------------------------------------------------------------------------------------------------
def test_training_learns_shapes_and_writes_the_run(tmp_path):
    from segzoo.train import Trainer, evaluate

    cfg = config(
        tmp_path,
        dataset_options={"length": 48},
        epochs=4,
        optimizer="adamw",
        lr=3e-3,
        weight_decay=0.01,
        warmup_iters=3,
    )
    torch.manual_seed(0)
    model = segzoo.create("unet", encoder=UNET["encoder"], num_classes=3, **UNET["model_options"])
    val = segzoo.create_dataset("shapes", None, "val", length=8)
    val_samples = SeededSamples(val, eval_transform([0.485, 0.456, 0.406], [0.229, 0.224, 0.225], 3))
    before = evaluate(model, val_samples, num_classes=3).compute()["mIoU"]
    summary = Trainer(cfg, model=model).fit()

    run = Path(cfg.output)
    lines = read_lines(run / "metrics.jsonl")
    assert [r["iteration"] for r in lines] == [12, 24, 36, 48] and [r["epoch"] for r in lines] == [1, 2, 3, 4]
    assert {"epoch", "iteration", "lr", "train_loss", "val", "time", "eval_time"} <= set(lines[0])
    assert lines[-1]["train_loss"] < 0.6 * lines[0]["train_loss"]
    best = max(r["val"]["mIoU"] for r in lines)
    assert best > before + 0.25 and best > 0.55, (before, [r["val"]["mIoU"] for r in lines])
    assert summary["best_mIoU"] == best and summary["iterations"] == 48
    # what trained it: a run's time means little without the processor
    assert summary["device"] == "cpu" and summary["device_name"].strip()

    # the best model is exported with save_pretrained and loads with segzoo.load
    best_line = next(r for r in lines if r["val"]["mIoU"] == best)
    loaded = segzoo.load(run / "best")
    assert loaded.config["class_names"] == ["background", "circle", "rectangle"]
    ckpt = C.load_checkpoint(run / "checkpoint-best.pt")
    assert ckpt["trainer"]["iteration"] == best_line["iteration"] == summary["best_iteration"]
    for k, v in loaded.state_dict().items():
        assert torch.equal(v, ckpt["model"][k]), k
    assert evaluate(loaded, val_samples, num_classes=3).compute()["mIoU"] == pytest.approx(best, abs=1e-12)
    assert segzoo.load(run / "final") is not None
    assert json.loads((run / "summary.json").read_text())["best_mIoU"] == pytest.approx(best)

    # the curves are a valid PNG
    from PIL import Image

    png = run / "curves.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(png) as im:
        im.verify()
    with Image.open(png) as im:
        assert im.format == "PNG" and im.size[0] > 300 and im.size[1] > 100
    assert not [p for p in run.iterdir() if p.name.startswith(".")], "temporary files left behind"


def test_plot_curves_with_missing_values(tmp_path):
    from PIL import Image

    from segzoo.train import plot_curves

    records = [
        {"iteration": 10, "lr": {"encoder": 1e-3, "decoder": 1e-2}, "train_loss": 1.0},
        {
            "iteration": 20,
            "lr": {"encoder": 5e-4, "decoder": 5e-3},
            "train_loss": 0.5,
            "val": {"mIoU": None, "pixel_accuracy": 0.5},
        },
        {
            "iteration": 30,
            "lr": {"encoder": 1e-4, "decoder": 1e-3},
            "train_loss": 0.4,
            "val": {"mIoU": 0.6, "pixel_accuracy": 0.8},
        },
    ]
    out = plot_curves(records, tmp_path / "c.png", title="t")
    with Image.open(out) as im:
        im.verify()


def test_early_stopping_on_val_miou(tmp_path, monkeypatch):
    from segzoo.train import Trainer

    scores = iter([0.5, 0.6, 0.55, 0.58, 0.9, 0.9])

    def fake_evaluate(self):
        return {"mIoU": next(scores), "pixel_accuracy": 0.5}

    monkeypatch.setattr(Trainer, "evaluate", fake_evaluate)
    cfg = config(tmp_path, arch=FCN, dataset_options={"length": 4}, batch_size=2, epochs=6, early_stopping_patience=2)
    summary = Trainer(cfg).fit()
    lines = read_lines(Path(cfg.output) / "metrics.jsonl")
    # evaluations after epochs 1..4: 0.5, 0.6 (best), 0.55, 0.58 -> two without improvement: stop at epoch 4
    assert [r["val"]["mIoU"] for r in lines] == [0.5, 0.6, 0.55, 0.58]
    assert lines[-1]["stopped_early"] is True and summary["stopped_early"] is True
    assert summary["best_mIoU"] == 0.6 and summary["best_iteration"] == 4 and summary["iterations"] == 8


# -- exact resume after SIGKILL ----------------------------------------------------------------------------------------
def _train_cmd(run: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "segzoo.train",
        "--arch",
        "fcn",
        "--encoder",
        "test_resnet",
        "--model-option",
        "aux_head=true",
        "--dataset",
        "shapes",
        "--dataset-option",
        "length=26",
        "--val-dataset-option",
        "length=5",
        "--crop-size",
        "64",
        "--scale-range",
        "0.6",
        "1.4",
        "-b",
        "2",
        "--epochs",
        "5",
        "--lr",
        "0.02",
        "--warmup-iters",
        "5",
        "--freeze-encoder-iters",
        "8",
        "--encoder-lr",
        "0.005",
        "--clip-grad-norm",
        "5",
        "--checkpoint-every",
        "5",
        "--quiet",
        "--no-plot",
        "--seed",
        "3",
        "-o",
        str(run),
        *extra,
    ]


def test_resume_after_sigkill_is_bit_exact(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    run_a, run_b = tmp_path / "a", tmp_path / "b"
    # A: uninterrupted, loading in the main process. B: two loader workers, killed, resumed without workers.
    proc_a = subprocess.Popen(_train_cmd(run_a, "--num-workers", "0"), env=env, stderr=subprocess.PIPE)
    proc_b = subprocess.Popen(_train_cmd(run_b, "--num-workers", "2"), env=env, stderr=subprocess.PIPE)
    last_b = run_b / "checkpoint-last.pt"
    deadline = time.monotonic() + 120
    while not last_b.exists():
        assert proc_b.poll() is None, f"B ended before its first checkpoint: {proc_b.stderr.read().decode()}"
        assert time.monotonic() < deadline, "no checkpoint within 120 s"
        time.sleep(0.01)
    os.kill(proc_b.pid, signal.SIGKILL)
    assert proc_b.wait(timeout=60) == -signal.SIGKILL
    proc_b.stderr.close()

    killed = C.load_checkpoint(last_b)  # loadable, whatever the kill interrupted
    total = 5 * 13
    assert 0 < killed["trainer"]["iteration"] < total, "B was not killed before the end"
    assert killed["trainer"]["batch"] != 0, "the checkpoint to resume from should be mid-epoch"

    resumed = subprocess.run(
        [sys.executable, "-m", "segzoo.train", "--resume", str(run_b), "--num-workers", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert proc_a.wait(timeout=300) == 0, proc_a.stderr.read().decode()
    proc_a.stderr.close()

    a, b = C.load_checkpoint(run_a / "checkpoint-last.pt"), C.load_checkpoint(run_b / "checkpoint-last.pt")
    assert a["trainer"]["iteration"] == b["trainer"]["iteration"] == total
    for key in ("model", "optimizer", "scheduler", "ranks"):
        assert_same(a[key], b[key], key)
    sa, sb = dict(a["trainer"]), dict(b["trainer"])
    sa.pop("elapsed"), sb.pop("elapsed")
    assert sa == sb
    assert a["config"] | {"num_workers": 0, "output": ""} == b["config"] | {"num_workers": 0, "output": ""}

    def strip(r):
        return {k: v for k, v in r.items() if k not in ("time", "eval_time")}

    lines_a, lines_b = read_lines(run_a / "metrics.jsonl"), read_lines(run_b / "metrics.jsonl")
    assert len(lines_a) == 5
    assert [strip(r) for r in lines_a] == [strip(r) for r in lines_b]
    resumed_at = killed["trainer"]["iteration"]
    assert any(r["iteration"] > resumed_at for r in lines_b)
    from safetensors.torch import load_file

    assert_same(load_file(run_a / "best" / "model.safetensors"), load_file(run_b / "best" / "model.safetensors"))


# -- checkpoints and refusal to clobber --------------------------------------------------------------------------------
def test_atomic_save_never_leaves_a_truncated_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / C.LAST
    good = {"format": C.FORMAT, "w": torch.arange(1000.0)}
    C.atomic_save(good, path)
    real_save = torch.save

    def crash_midway(obj, f, *a, **k):  # write part of a new checkpoint, then die
        f.write(b"PK\x03\x04 partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", crash_midway)
    with pytest.raises(KeyboardInterrupt):
        C.atomic_save({"format": C.FORMAT, "w": torch.zeros(5)}, path)
    monkeypatch.setattr(torch, "save", real_save)
    assert torch.equal(C.load_checkpoint(path)["w"], good["w"])
    assert sorted(p.name for p in tmp_path.iterdir()) == [C.LAST]

    # what a SIGKILL during a write leaves (a stray temporary, a half-swapped best/) is cleaned on resume
    (tmp_path / f".{C.LAST}.tmp-12345").write_bytes(b"PK\x03\x04 half")
    old_best = tmp_path / ".best.old-12345"
    old_best.mkdir()
    (old_best / "config.json").write_text("{}")
    C.clean_temporaries(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best", C.LAST]
    assert (tmp_path / "best" / "config.json").read_text() == "{}"


def test_export_pretrained_keeps_the_old_best_when_saving_fails(tmp_path):
    model = segzoo.create("fcn", encoder="test_resnet", num_classes=2)
    C.export_pretrained(model, tmp_path / "best")
    before = (tmp_path / "best" / "model.safetensors").read_bytes()

    class Broken:
        def save_pretrained(self, directory, model_card=None):
            Path(directory).mkdir()
            (Path(directory) / "model.safetensors").write_bytes(b"half")
            raise OSError("disk full")

    with pytest.raises(OSError):
        C.export_pretrained(Broken(), tmp_path / "best")
    assert (tmp_path / "best" / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best"]


def test_refuses_to_overwrite_or_to_resume_with_other_options(tmp_path):
    from segzoo.train import Trainer

    cfg = config(tmp_path, arch=FCN)
    run = Path(cfg.output)
    run.mkdir()
    C.atomic_save({"format": C.FORMAT, "config": cfg.to_dict()}, run / C.LAST)
    with pytest.raises(TrainingError, match="already holds a training run"):
        Trainer(cfg).fit()
    with pytest.raises(TrainingError, match=r"lr: 0\.01 in the checkpoint, 0\.5 now"):
        Trainer(cfg.replace(lr=0.5)).fit(resume=True)
    with pytest.raises(TrainingError, match="nothing to resume"):
        Trainer(cfg.replace(output=str(tmp_path / "other"))).fit(resume=True)


def test_precision_bf16_on_cpu_and_fp16_needs_cuda(tmp_path):
    from segzoo.train import Trainer

    seen = []
    cfg = config(
        tmp_path,
        arch=FCN,
        val_split=None,
        dataset_options={"length": 4},
        batch_size=2,
        max_iters=2,
        precision="bf16",
        device="cpu",
    )
    summary = Trainer(cfg, callbacks=[lambda t, e: seen.append(e)]).fit()
    assert math.isfinite(summary["last"]["train_loss"]) and seen.count("step") == 2
    with pytest.raises(TrainConfigError, match="fp16.*CUDA"):
        Trainer(cfg.replace(precision="fp16", output=str(tmp_path / "fp16"))).fit()


def test_bf16_warns_only_on_a_cpu_that_would_emulate_it(tmp_path, monkeypatch, caplog):
    # emulated bf16 trains about 10x slower than fp32 (AVX2 CPUs): the user is told, and how to avoid it
    from segzoo.train import trainer

    cfg = config(tmp_path, arch=FCN, val_split=None, dataset_options={"length": 2}, batch_size=2, max_iters=1)
    cfg = cfg.replace(precision="bf16", device="cpu")
    said = {}
    for native in (False, True):
        monkeypatch.setattr(trainer, "bf16_supported", lambda device, native=native: native)
        caplog.clear()
        trainer.Trainer(cfg.replace(output=str(tmp_path / f"native-{native}"))).fit()
        said[native] = [r.getMessage() for r in caplog.records if "bfloat16" in r.getMessage()]
    assert said[True] == []
    assert len(said[False]) == 1 and "pass --precision fp32" in said[False][0]


def test_channels_last_trains_the_same_model_and_saves_contiguous_weights(tmp_path):
    from safetensors.torch import load_file

    from segzoo.train import Trainer

    runs = {}
    for layout in (False, True):
        cfg = config(tmp_path, val_split=None, max_iters=3, channels_last=layout, output=str(tmp_path / str(layout)))
        trainer = Trainer(cfg)
        summary = trainer.fit()
        conv = next(m.weight for m in trainer.model.modules() if isinstance(m, torch.nn.Conv2d))
        assert conv.is_contiguous(memory_format=torch.channels_last) == layout
        runs[layout] = (
            summary["last"]["train_loss"],
            load_file(tmp_path / str(layout) / "final" / "model.safetensors"),
        )
    (loss_nchw, nchw), (loss_nhwc, nhwc) = runs[False], runs[True]
    assert loss_nhwc == pytest.approx(loss_nchw, rel=1e-4)  # the same computation in another memory order
    assert nchw.keys() == nhwc.keys()
    for key in nchw:
        assert nhwc[key].is_contiguous()
        torch.testing.assert_close(nhwc[key], nchw[key], rtol=1e-2, atol=1e-3)  # 3 AdamW steps apart


# -- data pipeline -----------------------------------------------------------------------------------------------------
def test_augmented_batches_do_not_depend_on_workers_or_resume_point():
    ds = segzoo.create_dataset("shapes", None, "train", length=12)
    cfg = TrainConfig(dataset="shapes", architecture="unet", crop_size=48, scale_range=[0.5, 1.5])
    samples = SeededSamples(ds, train_transform(cfg, [0.5] * 3, [0.25] * 3, 255, 3))

    def batches(workers, start=0, epoch=1):
        sampler = TrainSampler(len(ds), 3, seed=7)
        sampler.set_epoch(epoch, start)
        loader = make_loader(samples, sampler, batch_size=3, num_workers=workers, seed=7, drop_last=True)
        return list(loader)

    torch.manual_seed(123)
    state = torch.get_rng_state()
    plain = batches(0)
    assert torch.equal(torch.get_rng_state(), state), "loading consumed the training process's RNG"
    assert len(plain) == 4
    for (x0, y0), (x1, y1) in zip(plain, batches(2)):
        assert torch.equal(x0, x1) and torch.equal(y0, y1)
    for (x0, y0), (x1, y1) in zip(plain[2:], batches(0, start=2)):
        assert torch.equal(x0, x1) and torch.equal(y0, y1)
    other = batches(0, epoch=2)
    assert not torch.equal(plain[0][0], other[0][0]), "epochs must differ"


class _WorkerPids(torch.utils.data.Dataset):
    """Samples that say which process loaded them."""

    def __len__(self):
        return 8

    def __getitem__(self, index):
        return torch.tensor([float(os.getpid())]), torch.tensor([index])


def test_training_loader_keeps_its_workers_across_epochs():
    sampler = TrainSampler(8, 2, seed=5)
    loader = make_loader(
        SeededSamples(_WorkerPids()), sampler, batch_size=2, num_workers=2, seed=5, drop_last=True, persistent=True
    )
    pids, orders = set(), []
    for epoch in range(3):
        sampler.set_epoch(epoch, start_batch=1 if epoch == 1 else 0)
        batches = list(loader)
        pids |= {int(p) for x, _ in batches for p in x.flatten()}
        orders.append([int(i) for _, y in batches for i in y.flatten()])
    assert len(pids) == 2 and os.getpid() not in pids, f"3 epochs ran in {len(pids)} worker processes, not 2"
    for epoch, order in enumerate(orders):
        start = 2 if epoch == 1 else 0
        assert order == sampler.epoch_indices(epoch)[start:], "each epoch follows the sampler set before it"


#: A fixed 32x32 crop of the synthetic shapes, unflipped: augmentation tests add one step to it.
_PLAIN = TrainConfig(dataset="shapes", architecture="unet", crop_size=32, scale_range=[1.0, 1.0], hflip=0)


def _transform(config: TrainConfig):
    return train_transform(config, [0.0] * 3, [1.0] * 3, 255, 3)


def _same_draws(config: TrainConfig, i: int):
    """Sample ``i`` of four synthetic shapes under ``_PLAIN`` and under ``config``, with the same random draws."""
    ds = segzoo.create_dataset("shapes", None, "train", length=4)
    return (SeededSamples(ds, _transform(c))[(i, 1)] for c in (_PLAIN, config))


def test_color_jitter_changes_images_only_and_is_checked():
    plain = _PLAIN
    jitter = plain.replace(color_jitter={"brightness": [1.5, 1.5], "saturation": 0.3})
    assert "ColorJitter" in repr(_transform(jitter))
    for i in range(2):
        (x0, y0), (x1, y1) = _same_draws(jitter, i)
        assert torch.equal(y0, y1), "the mask is never jittered"
        assert x1.mean() > x0.mean(), "brightness 1.5 brightens the crop"
    with pytest.raises(TrainConfigError, match="color_jitter must be a dict with keys among brightness"):
        plain.replace(color_jitter={"gamma": 0.2}).validate()
    with pytest.raises(TrainConfigError, match="color_jitter .*hue"):
        _transform(plain.replace(color_jitter={"hue": 0.9}))


def test_vflip_mirrors_image_and_mask_top_bottom_and_is_checked():
    plain = _PLAIN
    flipped = plain.replace(vflip=1.0)
    assert "RandomVerticalFlip" not in repr(_transform(plain))
    for i in range(2):
        (x0, y0), (x1, y1) = _same_draws(flipped, i)
        assert torch.equal(x1, x0.flip(-2)) and torch.equal(y1, y0.flip(-2)), "the same crop, mirrored top-bottom"
    with pytest.raises(TrainConfigError, match="vflip is a probability, got 1.5"):
        plain.replace(vflip=1.5).validate()


def test_decoded_in_memory_gives_the_same_batches_and_reads_each_sample_once():
    from segzoo.train.data import DecodedInMemory

    ds = segzoo.create_dataset("shapes", None, "train", length=6)
    reads = []

    class Counting(torch.utils.data.Dataset):
        def __len__(self):
            return len(ds)

        def __getitem__(self, i):
            reads.append(i)
            return ds[i]

    cfg = TrainConfig(dataset="shapes", architecture="unet", crop_size=32, scale_range=[0.5, 1.5])
    transform = train_transform(cfg, [0.5] * 3, [0.25] * 3, 255, 3)
    cached = DecodedInMemory(Counting())
    for epoch in (1, 2):
        sampler = TrainSampler(len(ds), 2, seed=3)
        sampler.set_epoch(epoch)
        plain = list(
            make_loader(SeededSamples(ds, transform), sampler, batch_size=2, num_workers=0, seed=3, drop_last=True)
        )
        kept = list(
            make_loader(
                SeededSamples(cached, transform),
                sampler,
                batch_size=2,
                num_workers=0,
                seed=3,
                drop_last=True,
            )
        )
        for (x0, y0), (x1, y1) in zip(plain, kept, strict=True):
            assert torch.equal(x0, x1) and torch.equal(y0, y1)
    assert sorted(reads) == list(range(6)), "each sample is decoded once over two epochs"
    assert DecodedInMemory(ds).num_classes == ds.num_classes


def test_samplers_shard_without_losing_samples():
    # training: equal batch counts per rank (padding by wrap-around); every sample is used
    shards = [TrainSampler(11, 2, seed=1, rank=r, world_size=3) for r in range(3)]
    assert {s.num_batches for s in shards} == {2}
    flat = [i for s in shards for i in s.epoch_indices(4)]
    assert len(flat) == 12 and set(flat) == set(range(11))  # 11 samples padded to 3 x 4 by wrapping around
    assert [len(list(s)) for s in shards] == [4, 4, 4]
    shards[0].set_epoch(4, start_batch=1)
    assert [i for i, _ in shards[0]] == shards[0].epoch_indices(4)[2:]
    assert TrainSampler(11, 2, seed=1).epoch_indices(4) != TrainSampler(11, 2, seed=1).epoch_indices(5)
    # evaluation: a partition of range(n), no padding, for n not divisible by the world size
    for n, world in ((7, 2), (5, 3), (2, 4)):
        parts = [list(EvalSampler(n, rank=r, world_size=world)) for r in range(world)]
        assert sorted(i for p in parts for i in p) == list(range(n))


def test_split_slices_hold_out_samples_and_refuse_overlap(tmp_path):
    from segzoo.train.data import build_datasets, parse_split, split_indices

    assert parse_split("train") == ("train", None)
    assert parse_split("train[:25]") == ("train", (slice(None, 25),))
    assert parse_split("train[-5:]") == ("train", (slice(-5, None),))
    assert parse_split("train[:4, 8:]") == ("train", (slice(None, 4), slice(8, None)))
    assert split_indices(10, parse_split("train[:2,8:,1:3]")[1]) == [0, 1, 8, 9, 2]
    for bad in ("train[1:2:3]", "train[]", "train[:4,]", "train[4]"):
        with pytest.raises(TrainConfigError, match="is not 'name'"):
            parse_split(bad)
    cfg = TrainConfig(
        architecture="unet",
        dataset="shapes",
        dataset_options={"length": 10},
        train_split="train[:7]",
        val_split="train[7:]",
    )
    train, val = build_datasets(cfg)
    assert (len(train), len(val), train.num_classes, val.ignore_index) == (7, 3, 3, 255)
    image, mask = val[0]
    ref = segzoo.create_dataset("shapes", None, "train", length=10)[7]
    assert image.tobytes() == ref[0].tobytes() and mask.tobytes() == ref[1].tobytes()
    with pytest.raises(TrainConfigError, match="share 2 samples"):
        build_datasets(cfg.replace(val_split="train[5:]"))
    # a cross-validation fold: train on both sides of the held-out slice
    train, val = build_datasets(cfg.replace(train_split="train[:3,6:]", val_split="train[3:6]"))
    assert train.indices == [0, 1, 2, 6, 7, 8, 9] and val.indices == [3, 4, 5]
    with pytest.raises(TrainConfigError, match="share 1 sample;"):
        build_datasets(cfg.replace(train_split="train[:4,6:]", val_split="train[3:6]"))


# -- configuration and CLI ---------------------------------------------------------------------------------------------
def test_config_validation_messages():
    with pytest.raises(TrainConfigError, match="exactly one of model"):
        TrainConfig(dataset="shapes").validate()
    with pytest.raises(TrainConfigError, match="dataset is required"):
        TrainConfig(architecture="unet").validate()
    with pytest.raises(TrainConfigError, match="optimizer"):
        TrainConfig(architecture="unet", dataset="shapes", optimizer="lion").validate()
    with pytest.raises(TrainConfigError, match="unknown training option"):
        TrainConfig.from_dict({"architecture": "unet", "dataset": "shapes", "lr_decay": 1})
    cfg = TrainConfig(architecture="unet", dataset="shapes", crop_size=[32, 48])
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg and cfg.crop_hw == (32, 48)


def test_cli_builds_the_config_and_registers_segzoo_train(tmp_path, monkeypatch):
    import argparse

    from segzoo.train import cli

    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(
        [
            "--arch",
            "unet",
            "--dataset",
            "camvid",
            "--data-root",
            "d",
            "--crop-size",
            "32",
            "48",
            "--model-option",
            "decoder_channels=[8,8,8,8,8]",
            "--model-option",
            "name=x",
            "--no-pretrained",
            "--val-split",
            "none",
            "--vflip",
            "0.25",
            "--distill-from",
            "checkpoints/unet-resnet18-camvid",
            "--distill-temperature",
            "2",
            "-o",
            str(tmp_path / "r"),
        ]
    )
    cfg, resume = cli.build_config(args)
    assert (cfg.architecture, cfg.crop_size, cfg.val_split, cfg.pretrained, cfg.vflip, resume) == (
        "unet",
        [32, 48],
        None,
        False,
        0.25,
        False,
    )
    assert cfg.model_options == {"decoder_channels": [8, 8, 8, 8, 8], "name": "x"} and cfg.lr == 0.01
    assert (cfg.distill_from, cfg.distill_weight, cfg.distill_temperature) == ("checkpoints/unet-resnet18-camvid", 1, 2)
    run = tmp_path / "r"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(cfg.to_dict()))
    cfg2, resume2 = cli.build_config(parser.parse_args(["--resume", str(run), "--num-workers", "3"]))
    assert (
        resume2 is True
        and cfg2.num_workers == 3
        and cfg2.replace(num_workers=0) == cfg.replace(num_workers=0, output=str(run))
    )
    with pytest.raises(TrainConfigError, match="takes the run's options"):
        cli.build_config(parser.parse_args(["--resume", str(run), "--lr", "1"]))
    assert (
        cli.build_config(parser.parse_args(["--arch", "unet", "--dataset", "shapes", "--resume", "auto"]))[1] == "auto"
    )

    import segzoo.cli

    assert "segzoo.train.cli" in segzoo.cli.COMMAND_MODULES
    ns = segzoo.cli.build_parser().parse_args(["train", "--arch", "unet", "--dataset", "shapes", "--json"])
    assert ns.func is cli.run and ns.json and ns.architecture == "unet"
    out = subprocess.run(
        [sys.executable, "-c", "import sys, segzoo.train.cli; print('torch' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "False", "segzoo.train.cli must not import torch"


def test_every_option_is_documented():
    text = (ROOT / "docs" / "training.md").read_text()
    missing = [name for name in TrainConfig.field_names() if f"`{name}`" not in text]
    assert not missing, f"docs/training.md does not document {missing}"
