"""Building the load target on the meta device skips ``torch.nn.init`` for meta tensors only (it computes nothing
there, slowly), and leaves ``torch.nn.init`` as it was."""

from __future__ import annotations

import threading

import torch
from torch import nn

from segzoo.hub.loading import _no_init_on_meta, build_target


def test_meta_build_skips_init_and_restores_torch_nn_init():
    before = {name: getattr(nn.init, name) for name in ("normal_", "kaiming_uniform_", "trunc_normal_")}
    model = build_target(lambda: nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Linear(8, 2)))
    assert all(t.is_meta for t in model.state_dict().values())
    assert {name: getattr(nn.init, name) for name in before} == before


def test_real_tensors_are_initialised_inside_the_block_in_any_thread():
    seen = []

    def other_thread():
        seen.append(nn.init.normal_(torch.zeros(64)).abs().sum().item())

    with _no_init_on_meta():
        assert nn.init.normal_(torch.empty(3, device="meta")).is_meta
        assert nn.init.constant_(torch.zeros(4), 2.0).eq(2.0).all()
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
    assert seen and seen[0] > 0


def test_a_failed_meta_build_restores_torch_nn_init_and_builds_normally():
    normal = nn.init.normal_
    calls = []

    def build():
        calls.append(1)
        layer = nn.Linear(4, 4)
        if layer.weight.is_meta:
            raise RuntimeError("computes on its weights at init")
        return layer

    model = build_target(build)
    assert len(calls) == 2 and not model.weight.is_meta and nn.init.normal_ is normal
