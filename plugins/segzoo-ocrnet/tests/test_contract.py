"""segzoo's plugin contract on everything segzoo-ocrnet registers, on the smallest HRNet (ONNX export and
torch.compile are marked slow)."""

from __future__ import annotations

import pytest

from segzoo.testing import contract

SLOW = {"compile", "onnx"}


def _params():
    for check in contract.plugin_checks("segzoo-ocrnet", encoder="hrnetv2_w18_small", hub=False):
        yield pytest.param(check, id=check.id, marks=[pytest.mark.slow] if check.name in SLOW else [])


@pytest.mark.parametrize("check", list(_params()))
def test_contract(check):
    check()


@pytest.mark.slow
def test_contract_on_a_dilated_resnet():
    """The R-101-D8 layout (head_input='last') on the smallest mmseg ResNet."""
    contract.run_checks(
        contract.architecture_checks(
            "ocrnet",
            encoder="resnet18_v1c",
            checks=("shapes", "gradients", "save_load"),
            options={
                "output_stride": 8,
                "head_input": "last",
                "region_channels": 64,
                "region_kernel_size": 3,
                "dropout": 0.1,
            },
        )
    )
