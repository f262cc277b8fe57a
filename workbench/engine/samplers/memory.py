"""Process memory of the runner child: RSS (often), USS (less often), peaks, and the
kernel's own RSS high-water mark to check the sampled peak against."""

from __future__ import annotations

import os
import resource
import sys

import psutil

from workbench.engine.protocol import MemorySample
from workbench.engine.samplers import Sampler

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class MemorySampler(Sampler):
    """RSS and USS of this process with their peaks.

    RSS is read from ``/proc/self/statm`` where there is one (a few microseconds), so it
    can be sampled every few milliseconds; USS needs ``smaps`` and is sampled on request.
    """

    name = "memory"

    def __init__(self) -> None:
        super().__init__()
        self._proc = psutil.Process()
        self._statm = "/proc/self/statm" if os.path.exists("/proc/self/statm") else None
        self._uss_ok = True
        self._hwm_is_runs = False  # whether the kernel's high-water mark covers only the run
        self.rss_start = self.rss_now = self.rss_peak = self.rss()
        self.uss_now: int | None = None
        self.uss_peak: int | None = None

    def rss(self) -> int:
        if self._statm:
            with open(self._statm, "rb") as f:
                return int(f.read().split()[1]) * _PAGE
        return int(self._proc.memory_info().rss)

    def hwm(self) -> int | None:
        """The kernel's RSS high-water mark for this process, in bytes."""
        try:
            with open("/proc/self/status", "rb") as f:
                for line in f:
                    if line.startswith(b"VmHWM:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(maxrss if sys.platform == "darwin" else maxrss * 1024)

    def uss(self) -> int | None:
        if not self._uss_ok:
            return None
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
