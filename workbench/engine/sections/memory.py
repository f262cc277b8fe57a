"""Process memory of the runner child: RSS (often), USS (less often), peaks, and the
kernel's own RSS high-water mark to check the sampled peak against."""

from __future__ import annotations

import os
import resource
import sys

import psutil

from workbench.engine.protocol import MemorySample
from workbench.engine.sections import Sampler

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _open_proc(name: str) -> int | None:
    try:
        return os.open(f"/proc/self/{name}", os.O_RDONLY)
    except OSError:
        return None


def _field_kib(text: bytes, key: bytes) -> int | None:
    at = text.find(key)
    if at < 0:
        return None
    return int(text[at + len(key) : text.index(b"\n", at)].split()[0])


class MemorySampler(Sampler):
    """RSS and USS of this process with their peaks.

    On Linux each figure is one ``pread`` of a ``/proc/self`` file kept open: one system
    call, so the sampler thread gives up the GIL once per figure rather than at every step
    of an open/read/close (which starved it while a stage looped in Python). RSS is cheap
    and sampled every few milliseconds; USS (``smaps_rollup``) on request. Elsewhere,
    psutil and ``getrusage``.
    """

    name = "memory"

    def __init__(self) -> None:
        super().__init__()
        self._proc = psutil.Process()
        self._statm = _open_proc("statm")
        self._status = _open_proc("status")
        self._smaps = _open_proc("smaps_rollup")
        self._uss_ok = True
        self._hwm_is_runs = False  # whether the kernel's high-water mark covers only the run
        self.rss_start = self.rss_now = self.rss_peak = self.rss()
        self.uss_now: int | None = None
        self.uss_peak: int | None = None

    def rss(self) -> int:
        if self._statm is not None:
            return int(os.pread(self._statm, 128, 0).split()[1]) * _PAGE
        return int(self._proc.memory_info().rss)

    def hwm(self) -> int | None:
        """The kernel's RSS high-water mark for this process, in bytes."""
        if self._status is not None:
            kib = _field_kib(os.pread(self._status, 8192, 0), b"VmHWM:")
            if kib is not None:
                return kib * 1024
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(maxrss if sys.platform == "darwin" else maxrss * 1024)

    def uss(self) -> int | None:
        """Unique set size: memory that would be freed if this process ended."""
        if not self._uss_ok:
            return None
        if self._smaps is not None:
            text = os.pread(self._smaps, 8192, 0)
            parts = [
                _field_kib(text, k)
                for k in (b"Private_Clean:", b"Private_Dirty:", b"Private_Hugetlb:")
            ]
            if parts[0] is not None and parts[1] is not None:
                return sum(p or 0 for p in parts) * 1024
        try:
            return int(self._proc.memory_full_info().uss)
        except (psutil.Error, AttributeError, OSError):
            self._uss_ok = False
            return None

    def mark_start(self) -> None:
        """Start of the measured run: RSS now is the start, peaks are reset to it.

        On Linux the kernel's high-water mark is reset too (``clear_refs`` 5), so that a
        spike while the module was imported or its data made does not count as the run's.
        """
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self._hwm_is_runs = True
        except OSError:
            self._hwm_is_runs = False
        self.rss_start = self.rss_now = self.rss_peak = self.rss()
        self.uss_now = self.uss_peak = self.uss()

    def sample_rss(self) -> int:
        self.rss_now = self.rss()
        if self.rss_now > self.rss_peak:
            self.rss_peak = self.rss_now
        return self.rss_now

    def sample_uss(self) -> None:
        self.uss_now = self.uss()
        if self.uss_now is not None and (self.uss_peak is None or self.uss_now > self.uss_peak):
            self.uss_peak = self.uss_now

    def reading(self) -> MemorySample:
        hwm = self.hwm()
        return MemorySample(
            rss=self.rss_now,
            uss=self.uss_now,
            rss_start=self.rss_start,
            rss_peak=max(self.rss_peak, hwm or 0) if self._hwm_is_runs else self.rss_peak,
            rss_peak_sampled=self.rss_peak,
            rss_hwm=hwm,
            uss_peak=self.uss_peak,
        )
