"""segzoo.train's knowledge distillation: the loss by hand, the teacher's checks, and a student that learns the
teacher's predictions only when asked to."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import segzoo
from segzoo.train import TrainConfig, TrainConfigError, Trainer
from segzoo.train.distill import distillation_loss

TINY = dict(encoder="mobilenetv3_small_050", decoder_channels=[32, 16, 16, 8, 8])
# a tiny U-Net on the synthetic shapes; each test adds its data size, schedule and output
BASE = dict(
    architecture="unet",
    encoder=TINY["encoder"],
    model_options={"decoder_channels": TINY["decoder_channels"]},
    dataset="shapes",
    val_split=None,
    crop_size=64,
    quiet=True,
)


pytestmark = pytest.mark.usefixtures("one_thread")


def test_loss_is_the_softened_kl_over_labelled_pixels():
    g = torch.Generator().manual_seed(0)
    student, teacher = torch.randn(2, 3, 4, 5, generator=g), torch.randn(2, 3, 4, 5, generator=g)
    target = torch.randint(0, 3, (2, 4, 5), generator=g)
    target[0, 0] = 255
    t = 2.0
    p = (teacher / t).softmax(1)
    kl = (p * (p.log() - (student / t).log_softmax(1))).sum(1)
    expected = kl[target != 255].mean() * t * t
    assert distillation_loss(student, teacher, target, temperature=t) == pytest.approx(float(expected), rel=1e-5)
    assert float(distillation_loss(teacher, teacher, target, temperature=t)) == pytest.approx(0.0, abs=1e-6)

    # ignored pixels neither count nor receive gradient
    changed = student.clone()
    changed[0, :, 0] += 5.0
    assert distillation_loss(changed, teacher, target, temperature=t) == pytest.approx(float(expected), rel=1e-5)
    student.requires_grad_(True)
    distillation_loss(student, teacher, target, temperature=t).backward()
    assert student.grad[0, :, 0].abs().max() == 0 and student.grad[1].abs().max() > 0
    assert float(distillation_loss(student.detach(), teacher, torch.full_like(target, 255))) == 0.0

    # a teacher at another resolution is resized to the student's
    small = teacher[..., ::2, ::2]
    assert torch.isfinite(distillation_loss(student, small, target))


def _teacher(tmp_path: Path, **overrides) -> Path:
    torch.manual_seed(1)
    teacher = segzoo.create("unet", num_classes=overrides.pop("num_classes", 3), **TINY)
    teacher.config["preprocessing"] = {
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
        **overrides,
    }
    return teacher.save_pretrained(tmp_path / "teacher")


def _student_agreement(tmp_path: Path, teacher: Path, name: str, **options) -> tuple[float, str]:
    cfg = TrainConfig(
        **BASE,
        dataset_options={"length": 16},
        scale_range=[1.0, 1.0],
        batch_size=4,
        max_iters=24,
        optimizer="adamw",
        lr=3e-3,
        output=str(tmp_path / name),
        plot=False,
        **options,
    )
    trainer = Trainer(cfg)
    trainer.fit()
    images = torch.stack([trainer.train_samples[i][0] for i in range(8)])
    t = segzoo.load(teacher).eval()
    with torch.no_grad():
        agree = (trainer.model.eval()(images).argmax(1) == t(images).argmax(1)).float().mean()
    return float(agree), (tmp_path / name / "final" / "README.md").read_text()


def test_student_learns_the_teachers_predictions_only_when_distilled(tmp_path):
    # an untrained teacher's predictions are unrelated to the shapes: only distillation can teach them
    teacher = _teacher(tmp_path)
    plain, plain_card = _student_agreement(tmp_path, teacher, "plain")
    distilled, card = _student_agreement(
        tmp_path, teacher, "distilled", distill_from=str(teacher), distill_weight=50.0, distill_temperature=1.0
    )
    assert distilled > plain + 0.2, (plain, distilled)
    assert f"Distilled from `{teacher}`" in card and "Distilled" not in plain_card


def test_teacher_must_match_the_students_classes_and_input(tmp_path):
    base = dict(BASE, dataset_options={"length": 4}, batch_size=2, max_iters=1)
    four = _teacher(tmp_path / "four", num_classes=4)
    with pytest.raises(TrainConfigError, match="predicts 4 classes but the dataset has 3"):
        Trainer(TrainConfig(**base, distill_from=str(four), output=str(tmp_path / "a"))).fit()
    other = _teacher(tmp_path / "other", mean=[0.5, 0.5, 0.5])
    with pytest.raises(TrainConfigError, match="both must see the same input"):
        Trainer(TrainConfig(**base, distill_from=str(other), output=str(tmp_path / "b"))).fit()
    with pytest.raises(TrainConfigError, match="distill_temperature must be positive"):
        TrainConfig(**base, distill_temperature=0).validate()
    with pytest.raises(TrainConfigError, match="distill_weight must be a finite number"):
        TrainConfig(**base, distill_weight=-1).validate()
