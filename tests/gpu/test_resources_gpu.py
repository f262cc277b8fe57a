"""The real CUDA path: gpu_memory's figures, the GPU sampler against NVML and torch, and GPU
memory per batch size in real runs. Skipped without a CUDA device."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from workbench.engine.follow import follow_run
from workbench.engine.runner import RunOptions
from workbench.engine.sections.gpu import NOT_IN_USE, OK, GpuSampler
from workbench.engine.sections.torch_cuda import TorchCudaSampler
from workbench.engine.session import report

torch = pytest.importorskip("torch")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

from workbench import gpu_memory  # noqa: E402
from workbench.authoring.recording import REGISTRY  # noqa: E402

MiB = 1 << 20
HERE = Path(__file__).parent
EXAMPLE = HERE.parents[1] / "pipelines" / "training_resources.py"


def show(label: str, figures: dict[str, Any]) -> None:
    """Figures worth reading in the log (pytest -s)."""
    print(f"\n[gpu figures] {label}: " + json.dumps(figures, default=str))


def run(target: str, **options: Any) -> dict[str, Any]:
    return report(follow_run(target, RunOptions(**options)))


def test_gpu_memory_records_real_allocations_and_empties_the_cache() -> None:
    REGISTRY.begin_run(in_run=False)
    torch.cuda.init()
    with gpu_memory("cuda:0") as kept:
        x = torch.ones(256 * MiB, dtype=torch.uint8, device="cuda:0")
    d = kept.record.detail
    assert d["cuda"] is True and d["emptied_on_exit"] is True
    assert d["allocated_after_bytes"] - d["allocated_before_bytes"] == 256 * MiB
    assert kept.record.as_dict()["gpu_delta_bytes"] == 256 * MiB
    assert d["peak_allocated_bytes"] >= d["allocated_before_bytes"] + 256 * MiB

    with gpu_memory() as freed:
        y = torch.ones(512 * MiB, dtype=torch.uint8, device="cuda")
        del y
    e = freed.record.detail
    assert e["allocated_after_bytes"] == e["allocated_before_bytes"]
    assert e["peak_allocated_bytes"] >= e["allocated_before_bytes"] + 512 * MiB
    assert e["reserved_after_bytes"] >= e["allocated_after_bytes"] + 512 * MiB  # cached...
    assert e["reserved_after_empty_bytes"] <= e["reserved_after_bytes"] - 512 * MiB  # ...freed
    show("gpu_memory", {"kept": d, "freed": e})
    del x


def test_nested_blocks_keep_their_own_peaks() -> None:
    with gpu_memory() as outer:
        base = torch.cuda.memory_allocated()
        with gpu_memory() as inner:
            z = torch.ones(128 * MiB, dtype=torch.uint8, device="cuda")
            del z
        w = torch.ones(32 * MiB, dtype=torch.uint8, device="cuda")
        del w
    assert inner.record.detail["peak_allocated_bytes"] >= base + 128 * MiB
    assert outer.record.detail["peak_allocated_bytes"] >= base + 128 * MiB  # across the reset
    assert inner.record.parent == outer.record.id


def test_the_sampler_agrees_with_torch_and_nvml() -> None:
    x = torch.ones(300 * MiB, dtype=torch.uint8, device="cuda")
    sampler = GpuSampler(interval_s=0.25)
    # This process is both: the runner child (torch.cuda) and the parent (NVML).
    data = sampler.read({os.getpid()}, TorchCudaSampler().read())
    sampler.close({os.getpid()}, None)
    assert data.state is None and data.torch == OK and data.nvml == OK
    assert data.allocated_bytes == torch.cuda.memory_allocated()
    assert data.reserved_bytes == torch.cuda.memory_reserved()
    assert (data.peak_allocated_bytes or 0) >= 300 * MiB
    free, total = torch.cuda.mem_get_info()
    dev = data.devices[torch.cuda.current_device()]
    assert dev.total_bytes is not None and dev.used_bytes is not None
    # NVML's total includes what the driver reserves for itself; CUDA's does not
    assert total <= dev.total_bytes <= total + (1 << 30)
    nvml_free = dev.total_bytes - dev.used_bytes - (dev.driver_reserved_bytes or 0)
    assert abs(nvml_free - free) <= 64 * MiB, (nvml_free, free)
    if dev.process_bytes is not None:  # N/A where NVML cannot see this process
        assert dev.process_bytes >= (data.reserved_bytes or 0)
    figures = {k: v for k, v in data.to_json().items() if k != "devices"}
    show("sampler", figures | {"device": dev.to_json(), "cuda_mem_get_info": [free, total]})
    del x


def test_a_process_without_cuda_is_not_in_use() -> None:
    code = textwrap.dedent("""
        import json, os
        from workbench.engine.sections.gpu import GpuSampler
        print(json.dumps(GpuSampler().read({os.getpid()}, None).to_json()))
    """)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    data = json.loads(out.strip().splitlines()[-1])
    assert data["state"] == NOT_IN_USE and data["nvml"] == OK
    assert data["process_bytes"] == 0 and data["devices"][0]["total_bytes"] > 0


def test_peak_gpu_memory_grows_with_the_batch_size() -> None:
    target = f"{HERE / 'cuda_pipeline.py'}:cuda_batches"
    peaks = {}
    for size in (16, 64):
        rep = run(target, params={"batch_size": str(size)})
        assert rep["status"] == "finished", rep["message"]
        gpu = rep["gpu"]
        assert gpu["state"] is None and gpu["torch"] == OK
        assert gpu["peak_allocated_bytes"] >= 5 * size * MiB  # the batch and its float copy
        (block,) = [r for r in rep["contexts"]["records"] if r["kind"] == "gpu_memory"]
        assert block["detail"]["cuda"] is True and block["detail"]["emptied_on_exit"]
        assert block["detail"]["peak_allocated_bytes"] >= 5 * size * MiB
        peaks[size] = gpu["peak_bytes"]
        show(f"cuda_batches batch_size={size}", {k: v for k, v in gpu.items() if k != "devices"})
    assert peaks[64] > peaks[16]


def test_the_example_trains_on_cuda_and_a_stop_still_empties_the_cache() -> None:
    target = f"{EXAMPLE}:training_resources"
    rep = run(target)
    assert rep["status"] == "finished", rep["message"]
    (block,) = [r for r in rep["contexts"]["records"] if r["kind"] == "gpu_memory"]
    assert block["name"] == "gpu_memory(cuda)" and block["detail"]["cuda"] is True
    assert rep["gpu"]["state"] is None and rep["gpu"]["peak_bytes"] > 0
    show(
        "training_resources",
        {"gpu": {k: v for k, v in rep["gpu"].items() if k != "devices"}, "gpu_memory": block},
    )

    stopped = run(target, max_batches=20)
    assert stopped["status"] == "stopped"
    (block,) = [r for r in stopped["contexts"]["records"] if r["kind"] == "gpu_memory"]
    assert block["exits"] == 1 and block["detail"]["emptied_on_exit"] is True
    assert block["outcome"] == "stopped (max_batches)"  # the chain closed for that stop
