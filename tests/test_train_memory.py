"""`segzoo train` keeps freed memory for reuse: a step's large activations, freed and allocated again, do not fault
their pages in again (glibc on Linux)."""

from __future__ import annotations

import subprocess
import sys

import pytest

CHILD = """
import resource, sys, torch
if sys.argv[1] == "keep":
    from segzoo.train.memory import keep_freed_memory
    assert keep_freed_memory()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):  # the first 64 MB blocks, freed: the heap grows to hold one
    torch.ones(64 << 20, dtype=torch.uint8)
before = faults()
for _ in range(20):
    torch.ones(64 << 20, dtype=torch.uint8)  # allocated, written, freed: as a training step's activations
print(faults() - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc settings")
def test_freed_blocks_are_reused_without_page_faults():
    def faults(mode: str) -> int:
        out = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True).stdout
        return int(out.split()[-1])

    pages = 20 * (64 << 20) // 4096
    assert faults("default") > pages * 9 // 10, "glibc maps each 64 MB block afresh by default"
    assert faults("keep") < pages // 3, "most blocks reuse freed heap pages"
