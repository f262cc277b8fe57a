"""The GPU sampler without a GPU: visible states, N/A figures, no crash, no torch import."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from workbench.engine.sections import gpu
from workbench.engine.sections.gpu import (
    NO_DRIVER,
    NOT_IN_USE,
    NVML_UNAVAILABLE,
    OK,
    TORCH_NO_CUDA,
    GpuSampler,
    GpuSection,
    Nvml,
    headline,
)
from workbench.engine.sections.torch_cuda import CUDA_NOT_INITIALISED


def nvml_works() -> bool:
    nvml = Nvml()
    nvml.shutdown()
    return nvml.state == OK


def test_headline_states() -> None:
    assert headline(OK, OK, in_use=True) is None
    assert headline(NVML_UNAVAILABLE, OK, in_use=True) is None  # torch's figures still shown
    assert headline(NO_DRIVER, gpu.TORCH_NOT_IMPORTED, in_use=False) == NO_DRIVER
    assert headline(NO_DRIVER, TORCH_NO_CUDA, in_use=False) == NO_DRIVER
    assert headline(OK, TORCH_NO_CUDA, in_use=False) == TORCH_NO_CUDA
    assert headline(NVML_UNAVAILABLE, gpu.TORCH_NOT_IMPORTED, in_use=False) == NVML_UNAVAILABLE
    assert headline(OK, CUDA_NOT_INITIALISED, in_use=False) == NOT_IN_USE
    assert headline(OK, gpu.TORCH_NOT_IMPORTED, in_use=False) == NOT_IN_USE


def test_without_a_driver_the_sampler_says_so_and_gives_na() -> None:
    if nvml_works():
        pytest.skip("this machine has an NVIDIA driver; tests/gpu covers it")
    sampler = GpuSampler(interval_s=60)
    data = sampler.read({1}, None)
    assert data.state == NO_DRIVER and data.nvml == NO_DRIVER
    assert data.devices == ()
    for key in (
        "process_bytes",
        "used_bytes",
        "total_bytes",
        "peak_bytes",
        "peak_process_bytes",
        "peak_allocated_bytes",
    ):
        assert getattr(data, key) is None, key  # N/A, not 0
    assert sampler.read({1}, None) is data  # cached between samples
    sampler.close({1}, None)
    assert GpuSection.from_json(json.loads(json.dumps(data.to_json()))) == data  # the report's


def _child(code: str) -> dict[str, object]:
    """Run ``code`` in a fresh interpreter; it prints one JSON line."""
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_the_sampler_never_imports_torch_or_textual() -> None:
    got = _child("""
        import json, sys
        from workbench.engine.sections.gpu import GpuSampler
        from workbench.engine.sections.resources import ContextsSampler
        data = GpuSampler().read({1}, None)
        ContextsSampler().read()
        print(json.dumps({"torch": "torch" in sys.modules, "textual": "textual" in sys.modules,
                          "torch_state": data.torch, "state": data.state}))
    """)
    assert got["torch"] is False and got["textual"] is False
    assert got["torch_state"] == gpu.TORCH_NOT_IMPORTED
    assert got["state"] in (NO_DRIVER, NOT_IN_USE, NVML_UNAVAILABLE)


def test_without_pynvml_the_state_is_nvml_unavailable() -> None:
    got = _child("""
        import json, sys
        sys.modules["pynvml"] = None  # nvidia-ml-py not installed
        from workbench.engine.sections.gpu import GpuSampler
        data = GpuSampler().read({1}, None)
        print(json.dumps({k: getattr(data, k) for k in ("state", "nvml", "nvml_detail", "used_bytes")}))
    """)
    assert got["state"] == NVML_UNAVAILABLE and got["nvml"] == NVML_UNAVAILABLE
    assert "pynvml" in str(got["nvml_detail"]) and got["used_bytes"] is None


def test_torch_without_cuda_is_a_state() -> None:
    torch = pytest.importorskip("torch")
    if torch.version.cuda is not None:
        pytest.skip("this torch has CUDA")
    got = _child("""
        import json, sys
        sys.modules["pynvml"] = None
        import torch
        from workbench.engine.sections.gpu import GpuSampler
        from workbench.engine.sections.torch_cuda import TorchCudaSampler
        torch_side = TorchCudaSampler().read()  # in the runner child
        data = GpuSampler().read({1}, torch_side)  # in the parent
        print(json.dumps({k: getattr(data, k) for k in ("state", "torch")}))
    """)
    assert got == {"state": TORCH_NO_CUDA, "torch": TORCH_NO_CUDA}
