"""`pipebench sweep` on a CUDA pipeline: GPU peaks per point, the GPU budget, CUDA OOM.

Skipped without a CUDA device. The pipeline holds ``mib_per_item`` MiB of CUDA memory per
item, so its peak is batch_size * mib_per_item MiB; above ``huge_above`` it asks for 4 TiB,
which raises torch.cuda.OutOfMemoryError.
"""

from __future__ import annotations

import json

import pytest

from tests.integration.helpers import pipebench
from workbench.engine.sweep.search import OK, OUT_OF_MEMORY, OVER_BUDGET

torch = pytest.importorskip("torch")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
]

GPU_MODEL = '''
"""Batches of CUDA memory: peak GPU memory grows with the batch size."""
import time

import torch

from workbench import pipeline


def source(batch_size, mib_per_item, huge_above):
    n = (1 << 42) if huge_above and batch_size > huge_above else batch_size * mib_per_item << 20
    held = torch.ones(n // 4, dtype=torch.float32, device="cuda")
    while True:
        time.sleep(0.02 + 2e-5 * batch_size)
        yield held[:batch_size]


@pipeline(requires=["torch"])
def gpu_model(batch_size: int = 16, mib_per_item: int = 4, huge_above: int = 0):
    """CUDA memory held per batch size; sleep-based costs."""
    return (source(batch_size, mib_per_item, huge_above),)
'''

MIB = 2**20


def test_gpu_budget_and_cuda_oom_are_failed_points(tmp_path, write_module):
    mod = write_module("gpu_model", GPU_MODEL)
    # Peaks: 64 → 256 MiB, 128 → 512 MiB, 256 → 1 GiB, 384 → 1.5 GiB, 512 → 2 GiB.
    r = pipebench(
        "sweep",
        f"{mod}:gpu_model",
        "--auto",
        "--min",
        "64",
        "--max",
        "2048",
        "--gpu-memory-budget",
        "1.4GiB",
        "--seconds-per-run",
        "1.5",
        "--json",
        "sweep.json",
        cwd=tmp_path,
        timeout=200,
    )
    assert r.code == 0, r.err + r.out
    data = json.loads((tmp_path / "sweep.json").read_text())
    points = {p["batch_size"]: p for p in data["points"]}
    assert points[512]["outcome"] == OVER_BUDGET and "GPU budget" in points[512]["error"]
    for size in (64, 128, 256):
        assert points[size]["outcome"] == OK
        assert points[size]["gpu_peak_bytes"] >= size * 4 * MIB
    assert data["recommended"]["batch_size"] == 256
    assert data["recommended"]["gpu_peak_bytes"] <= 1.4 * 2**30
    assert "peak GPU" in r.out

    r = pipebench(
        "sweep",
        f"{mod}:gpu_model",
        "--batch-sizes",
        "64,4096,128",
        "--param",
        "huge_above=1000",
        "--seconds-per-run",
        "1",
        "--json",
        "list.json",
        cwd=tmp_path,
        timeout=120,
    )
    assert r.code == 0, r.err + r.out
    data = json.loads((tmp_path / "list.json").read_text())
    points = {p["batch_size"]: p for p in data["points"]}
    assert points[4096]["outcome"] == OUT_OF_MEMORY
    assert "OutOfMemoryError" in points[4096]["error"]
    assert data["recommended"]["batch_size"] == 128
