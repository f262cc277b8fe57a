"""GPU memory of a run: NVML for the devices and every process of the run's tree, torch.cuda
for the pipeline's own tensors, and a visible state instead of silence when there is no GPU.

NVML (``pynvml`` from nvidia-ml-py) is read by the parent (``GpuSampler``), per process of
the tree, so DataLoader workers that touch CUDA count. ``torch.cuda`` can only be read in
the runner child (``TorchCudaSampler``, section "torch_cuda"), and only when the pipeline
module has imported torch and initialised CUDA itself: pipebench never imports torch, and
never creates a CUDA context, just to sample. The parent merges both into section "gpu".
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass
from typing import Any

from workbench.authoring.recording import REGISTRY
from workbench.engine.sections.json_form import JsonForm
from workbench.engine.sections.torch_cuda import (
    OK,
    TORCH_NO_CUDA,
    TORCH_NOT_IMPORTED,
)

NO_DRIVER = "no NVIDIA driver"
NVML_UNAVAILABLE = "NVML unavailable"
NOT_IN_USE = "no GPU in use by this run"

#: Seconds between two GPU samples (the section is read every snapshot; between samples
#: it repeats the last one).
INTERVAL_S = 0.5


@dataclass(frozen=True)
class TorchCudaDevice(JsonForm):
    """torch's figures for one CUDA device of the runner, in bytes (``torch.cuda``):
    allocated (tensors) and reserved (its caching allocator) now, and their peaks (the
    allocated peak includes those a ``gpu_memory`` block folded in before resetting it)."""

    index: int
    allocated_bytes: int
    reserved_bytes: int
    peak_allocated_bytes: int
    peak_reserved_bytes: int


@dataclass(frozen=True)
class TorchCudaSection(JsonForm):
    """Section "torch_cuda" (runner child; the parent folds it into "gpu"): how far the
    pipeline went with torch's CUDA (``state``: one of this module's states) and the figures
    of each device torch has touched."""

    state: str = "torch not imported by the pipeline"
    devices: tuple[TorchCudaDevice, ...] = ()


@dataclass(frozen=True)
class GpuDevice(JsonForm):
    """One CUDA device, in bytes (None: not measured, N/A).

    From NVML (the parent): ``name``, ``used_bytes`` and ``total_bytes`` of the device
    (``used`` leaves out what the driver reserves for itself, ``driver_reserved_bytes``, where
    the driver has memory info v2), ``process_bytes``: the memory of the run's processes on
    it (0: no CUDA context there), ``util_pct``: its utilisation, 0 to 100. From torch.cuda
    in the runner, once the pipeline used the device: ``allocated_bytes``,
    ``reserved_bytes`` and their peaks (see ``TorchCudaDevice``).
    """

    index: int
    name: str | None = None
    used_bytes: int | None = None
    total_bytes: int | None = None
    driver_reserved_bytes: int | None = None
    process_bytes: int | None = None
    util_pct: int | None = None
    allocated_bytes: int | None = None
    reserved_bytes: int | None = None
    peak_allocated_bytes: int | None = None
    peak_reserved_bytes: int | None = None


@dataclass(frozen=True)
class GpuSection(JsonForm):
    """Section "gpu" (parent): the run's GPU memory, in bytes, or why there is none.

    ``state`` is the one state shown instead of figures ("no NVIDIA driver", "NVML
    unavailable", "torch has no CUDA", "no GPU in use by this run"), None when the run uses
    a GPU. ``nvml`` and ``torch`` are NVML's and torch's own states ("ok" or why not;
    ``nvml_detail``: NVML's error), ``driver`` the driver's version. ``devices``: every
    device NVML sees (or torch's alone without NVML). The totals are summed over the devices
    this run has used: ``allocated_bytes``/``reserved_bytes`` (torch.cuda),
    ``process_bytes`` (NVML: the run's ``processes``), ``used_bytes``/``total_bytes`` (the
    devices, everyone's use); each with its peak over the samples (``peak_*``; torch's own
    high-water marks included). ``peak_bytes`` is the run's GPU peak: torch's allocated
    peak, else NVML's process peak, as ``peak_source`` says. NVML is read every
    ``interval_s`` (``samples`` so far); ``error`` is the sampler's last failure, the
    figures before it kept.
    """

    state: str | None = None
    nvml: str | None = None
    nvml_detail: str | None = None
    torch: str | None = None
    driver: str | None = None
    devices: tuple[GpuDevice, ...] = ()
    processes: int = 0
    allocated_bytes: int | None = None
    reserved_bytes: int | None = None
    process_bytes: int | None = None
    used_bytes: int | None = None
    total_bytes: int | None = None
    peak_allocated_bytes: int | None = None
    peak_reserved_bytes: int | None = None
    peak_process_bytes: int | None = None
    peak_used_bytes: int | None = None
    peak_bytes: int | None = None
    peak_source: str | None = None
    samples: int = 0
    interval_s: float = 0.5
    error: str | None = None

    def used_devices(self) -> list[GpuDevice]:
        """The devices this run uses: with torch's figures or memory of its processes."""
        return [d for d in self.devices if d.allocated_bytes is not None or d.process_bytes]


def headline(nvml_state: str, torch_state: str, in_use: bool) -> str | None:
    """The one state shown instead of figures, or None when this run uses a GPU."""
    if in_use:
        return None
    if nvml_state == NO_DRIVER:
        return NO_DRIVER
    if torch_state == TORCH_NO_CUDA:
        return TORCH_NO_CUDA
    if nvml_state != OK:
        return NVML_UNAVAILABLE
    return NOT_IN_USE


class Nvml:
    """NVML, initialised once; ``state`` says why not where it cannot be."""

    def __init__(self) -> None:
        self.lib: Any = None
        self.state = OK
        self.detail: str | None = None
        self.driver: str | None = None
        self.handles: list[Any] = []
        try:
            import pynvml
        except ImportError as exc:
            self.state, self.detail = NVML_UNAVAILABLE, f"pynvml cannot be imported: {exc}"
            return
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as exc:
            missing = (pynvml.NVMLError_LibraryNotFound, pynvml.NVMLError_DriverNotLoaded)
            self.state = NO_DRIVER if isinstance(exc, missing) else NVML_UNAVAILABLE
            self.detail = str(exc)
            return
        except Exception as exc:  # an odd binding: still a state, never a crash
            self.state, self.detail = NVML_UNAVAILABLE, f"{type(exc).__name__}: {exc}"
            return
        self.lib = pynvml
        self.driver = self._call(pynvml.nvmlSystemGetDriverVersion)
        count = self._call(pynvml.nvmlDeviceGetCount) or 0
        self.handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]

    def _call(self, fn: Any, *args: Any) -> Any:
        """``fn(*args)``, or None for a figure NVML cannot give (shown as N/A)."""
        try:
            return fn(*args)
        except Exception:
            return None

    def devices(self, pids: set[int], torch_active: bool) -> list[GpuDevice]:
        """Every device NVML sees: used/total memory, the run's processes' memory (summed
        over ``pids``), utilisation."""
        out = []
        lib = self.lib
        for i, h in enumerate(self.handles):
            mem = self._memory(h)
            util = self._call(lib.nvmlDeviceGetUtilizationRates, h)
            procs = self._call(lib.nvmlDeviceGetComputeRunningProcesses, h)
            mine: int | None = None
            if procs is not None:
                found = [p for p in procs if p.pid in pids]
                if found:
                    used = [p.usedGpuMemory for p in found]
                    mine = None if any(u is None for u in used) else sum(used)
                elif not torch_active:
                    mine = 0  # no CUDA context in this process
                # else: CUDA in use but NVML does not list us (a PID namespace?): N/A
            name = self._call(lib.nvmlDeviceGetName, h)
            out.append(
                GpuDevice(
                    index=i,
                    name=name.decode() if isinstance(name, bytes) else name,
                    used_bytes=int(mem.used) if mem is not None else None,
                    total_bytes=int(mem.total) if mem is not None else None,
                    driver_reserved_bytes=_int(getattr(mem, "reserved", None)),
                    process_bytes=mine,
                    util_pct=int(util.gpu) if util is not None else None,
                )
            )
        return out

    def _memory(self, handle: Any) -> Any:
        """Memory info, v2 where the driver has it: "used" then leaves out what the driver
        reserves for itself, as nvidia-smi shows it (v1 counts it as used)."""
        lib = self.lib
        version = getattr(lib, "nvmlMemory_v2", None)
        if version is not None:
            mem = self._call(lib.nvmlDeviceGetMemoryInfo, handle, version)
            if mem is not None:
                return mem
        return self._call(lib.nvmlDeviceGetMemoryInfo, handle)

    def shutdown(self) -> None:
        if self.lib is not None:
            self._call(self.lib.nvmlShutdown)
            self.lib = None


def torch_figures() -> list[TorchCudaDevice]:
    """Per CUDA device torch has touched in this process: allocated, reserved and peak bytes
    (peaks include those folded in before a ``gpu_memory`` block reset them)."""
    cuda = sys.modules["torch"].cuda
    out = []
    for i in range(cuda.device_count()):
        reserved = int(cuda.memory_reserved(i))
        peak_reserved = int(cuda.max_memory_reserved(i))
        if reserved == 0 and peak_reserved == 0 and i not in REGISTRY.torch_peaks:
            continue
        out.append(
            TorchCudaDevice(
                index=i,
                allocated_bytes=int(cuda.memory_allocated(i)),
                reserved_bytes=reserved,
                peak_allocated_bytes=max(
                    int(cuda.max_memory_allocated(i)), REGISTRY.torch_peaks.get(i, 0)
                ),
                peak_reserved_bytes=peak_reserved,
            )
        )
    return out


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _sum(values: list[int | None]) -> int | None:
    """The sum, or None (N/A) when any part is unknown or there is nothing to add."""
    if not values or any(v is None for v in values):
        return None
    return sum(v for v in values if v is not None)


def _max(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


class GpuSampler:
    """Section "gpu" (parent): now and peak figures in bytes, with the state when there is
    no GPU. NVML is read at most every ``interval_s``; torch's figures come from the child."""

    section = "gpu"

    def __init__(self, interval_s: float = INTERVAL_S):
        self.interval_s = interval_s
        self.nvml: Nvml | None = None
        self._next = 0.0
        self._closed = False
        self._samples = 0
        self._seen: set[int] = set()  # devices this run has used, kept once seen
        self._peaks: dict[str, int | None] = {}
        self._data = GpuSection(interval_s=interval_s)

    def read(self, pids: set[int], torch: TorchCudaSection | None) -> GpuSection:
        """The section now, for the processes ``pids`` and the child's "torch_cuda"."""
        now = time.monotonic()
        if now >= self._next and not self._closed:
            self._next = now + self.interval_s
            try:
                self._data = self.sample(pids, torch)
            except Exception as exc:  # keep the last figures and say what went wrong
                self._data = dataclasses.replace(self._data, error=f"{type(exc).__name__}: {exc}")
        return self._data

    def sample(self, pids: set[int], torch: TorchCudaSection | None) -> GpuSection:
        if self.nvml is None:
            self.nvml = Nvml()
        nvml = self.nvml
        tstate = torch.state if torch is not None else TORCH_NOT_IMPORTED
        per_torch = {d.index: d for d in torch.devices} if torch is not None else {}
        if nvml.state == OK:
            devices = [
                _with_torch(d, per_torch.get(d.index))
                for d in nvml.devices(pids, torch_active=tstate == OK)
            ]
        else:  # no NVML: torch's devices alone, NVML's figures N/A
            devices = [_with_torch(GpuDevice(i), f) for i, f in per_torch.items()]
        self._seen.update(per_torch)
        self._seen.update(d.index for d in devices if (d.process_bytes or 0) > 0)
        used = [d for d in devices if d.index in self._seen]
        self._samples += 1

        def total(key: str) -> int | None:
            return _sum([getattr(d, key) for d in used]) if used else None

        keys = ("allocated_bytes", "reserved_bytes", "process_bytes", "used_bytes")
        now = {key: total(key) for key in keys}
        if not used and nvml.state == OK:
            now["process_bytes"] = 0
        peaks = self._peaks
        for key in keys:
            peaks[key] = _max(peaks.get(key), now[key])
        # torch's own high-water marks catch what fell between two samples
        peaks["allocated_bytes"] = _max(peaks["allocated_bytes"], total("peak_allocated_bytes"))
        peaks["reserved_bytes"] = _max(peaks["reserved_bytes"], total("peak_reserved_bytes"))
        peak_bytes, source = peaks["allocated_bytes"], "torch.cuda max_memory_allocated"
        if peak_bytes is None and peaks["process_bytes"]:
            peak_bytes, source = peaks["process_bytes"], "NVML memory of the run's processes"
        return GpuSection(
            state=headline(nvml.state, tstate, tstate == OK or bool(used)),
            nvml=nvml.state,
            nvml_detail=nvml.detail,
            torch=tstate,
            driver=nvml.driver,
            devices=tuple(devices),
            processes=len(pids),
            allocated_bytes=now["allocated_bytes"],
            reserved_bytes=now["reserved_bytes"],
            process_bytes=now["process_bytes"],
            used_bytes=now["used_bytes"],
            total_bytes=total("total_bytes"),
            peak_allocated_bytes=peaks["allocated_bytes"],
            peak_reserved_bytes=peaks["reserved_bytes"],
            peak_process_bytes=peaks["process_bytes"],
            peak_used_bytes=peaks["used_bytes"],
            peak_bytes=peak_bytes,
            peak_source=source if peak_bytes is not None else None,
            samples=self._samples,
            interval_s=self.interval_s,
        )

    def close(self, pids: set[int], torch: TorchCudaSection | None) -> GpuSection:
        """The run is over: one last sample, then NVML is let go."""
        self._next = 0.0
        data = self.read(pids, torch)
        self._closed = True
        if self.nvml is not None:
            self.nvml.shutdown()
            self.nvml = None
        return data


def _with_torch(device: GpuDevice, figures: TorchCudaDevice | None) -> GpuDevice:
    """``device`` with torch's figures for it, where torch has touched it."""
    if figures is None:
        return device
    return dataclasses.replace(
        device,
        allocated_bytes=figures.allocated_bytes,
        reserved_bytes=figures.reserved_bytes,
        peak_allocated_bytes=figures.peak_allocated_bytes,
        peak_reserved_bytes=figures.peak_reserved_bytes,
    )
