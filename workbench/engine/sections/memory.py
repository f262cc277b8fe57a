"""Memory of a run's whole process tree, read by the parent from ``/proc``: never by the
runner child, which may be holding the GIL in one long C call.

Per process (the runner and every live descendant: DataLoader workers, loky and Dask
workers, multiprocessing children, subprocesses): RSS split into anonymous, file-backed and
shared memory (``RssAnon``, ``RssFile``, ``RssShmem`` from ``/proc/PID/status``, read every
tick), USS and PSS (``/proc/PID/smaps_rollup``, read every few ticks where they can have
changed: the kernel walks the page tables for it, 0.3-1.5 ms for a process of 150 MiB), and
the kernel's own RSS high-water mark (``VmHWM``). Totals are sums over the live processes;
each total keeps its peak.

What the names mean (the views say it too):

- RSS: resident pages, file-backed ones included; pages shared between processes count
  once per process.
- private: anonymous + shared memory (``RssAnon + RssShmem``): what the kernel cannot drop
  to make room; the default measure of ``--memory-budget``.
- file-backed (``RssFile``): clean pages of mapped files (a ``np.memmap``, libraries), which
  the kernel can drop and read again.
- USS: pages only this process maps (freed if it ended); PSS: shared pages split between the
  processes that map them, so the tree's PSS adds up without double counting.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from workbench.engine.sections.procfs import (
    children,
    clear_hwm,
    comm,
    read_proc,
    read_rollup,
    read_stat,
    read_status,
    start_time,
)

#: What ``--memory-budget`` can apply to.
BUDGET_MEASURES = ("private", "rss", "pss")
#: A process's USS and PSS are read again (at a discovery tick) once its ``status`` figures
#: moved by this much since they were read, a process of the tree came or went, or this
#: long has passed: pages that stop being shared (a process outside the tree ends) move
#: them with nothing in ``status`` moving. A PSS budget reads them every tick.
ROLLUP_MOVED_BYTES = 256 * 1024
ROLLUP_MAX_AGE_S = 1.0
BUDGET_HELP = {
    "private": "anonymous + shared memory of every process (what cannot be reclaimed)",
    "rss": "resident memory of every process, file-backed pages included",
    "pss": "proportional set size: shared pages split between the processes",
}


@dataclass(frozen=True)
class MemoryTotals:
    """Memory of a set of processes at one moment, in bytes (None: not measured)."""

    rss: int = 0
    anon: int = 0
    file: int = 0
    shmem: int = 0
    uss: int | None = None
    pss: int | None = None

    @property
    def private(self) -> int:
        """Anonymous + shared memory: what the kernel cannot drop."""
        return self.anon + self.shmem

    def measure(self, on: str) -> int | None:
        """The figure a budget ``on`` ("private", "rss" or "pss") applies to."""
        return {"private": self.private, "rss": self.rss, "pss": self.pss}[on]

    def peaks(self, other: MemoryTotals) -> MemoryTotals:
        """The larger of each figure of ``self`` and ``other``."""
        return MemoryTotals(
            max(self.rss, other.rss),
            max(self.anon, other.anon),
            max(self.file, other.file),
            max(self.shmem, other.shmem),
            _max(self.uss, other.uss),
            _max(self.pss, other.pss),
        )

    def to_json(self) -> dict[str, int | None]:
        return {
            "rss_bytes": self.rss,
            "private_bytes": self.private,
            "anon_bytes": self.anon,
            "file_bytes": self.file,
            "shmem_bytes": self.shmem,
            "uss_bytes": self.uss,
            "pss_bytes": self.pss,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> MemoryTotals:
        return cls(
            int(d.get("rss_bytes") or 0),
            int(d.get("anon_bytes") or 0),
            int(d.get("file_bytes") or 0),
            int(d.get("shmem_bytes") or 0),
            d.get("uss_bytes"),
            d.get("pss_bytes"),
        )


@dataclass(frozen=True)
class ProcessMemory:
    """One process of the tree: its latest figures (the last before it ended) and peaks."""

    pid: int
    role: str  # "runner", "DataLoader worker", "loky worker", "child process", ...
    name: str  # the kernel's name for it (comm)
    alive: bool
    now: MemoryTotals
    peak: MemoryTotals
    hwm: int | None = None  # VmHWM: the kernel's RSS high-water mark of this process

    def to_json(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "role": self.role,
            "name": self.name,
            "alive": self.alive,
            "now": self.now.to_json(),
            "peak": self.peak.to_json(),
            "hwm_bytes": self.hwm,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ProcessMemory:
        return cls(
            int(d["pid"]),
            str(d.get("role", "")),
            str(d.get("name", "")),
            bool(d.get("alive")),
            MemoryTotals.from_json(d.get("now") or {}),
            MemoryTotals.from_json(d.get("peak") or {}),
            d.get("hwm_bytes"),
        )


@dataclass(frozen=True)
class MemorySection:
    """The run's memory: totals over its process tree now, at the chain's start and at
    their peaks, and one row per process that lived during the run."""

    now: MemoryTotals
    start: MemoryTotals
    peak: MemoryTotals
    processes: tuple[ProcessMemory, ...] = ()
    samples: int = 0
    interval_s: float = 0.05
    runner_hwm: int | None = None  # VmHWM of the runner, reset when its chain started
    #: The runner's RSS peak before its chain: import and data preparation (VmHWM then).
    runner_startup_peak: int | None = None
    budget: int | None = None
    budget_on: str = "private"
    source: str = "/proc (parent)"
    cpu_s: float = 0.0  # CPU seconds of the tree since the chain started (user + system)
    #: When the budget's measure first passed the budget and when the tree was killed for
    #: it (CLOCK_MONOTONIC ns), and the measure at the kill: how much the budget was passed by.
    budget_crossed_ns: int | None = None
    budget_killed_ns: int | None = None
    budget_at_kill: int | None = None

    @property
    def runner(self) -> ProcessMemory | None:
        return next((p for p in self.processes if p.role == "runner"), None)

    def groups(self) -> list[tuple[str, int, MemoryTotals, MemoryTotals]]:
        """(role, processes, latest totals, summed peaks) per role, the runner first."""
        order: dict[str, list[ProcessMemory]] = {}
        for p in self.processes:
            order.setdefault(p.role, []).append(p)
        out = []
        for role, procs in sorted(order.items(), key=lambda kv: kv[0] != "runner"):
            out.append((role, len(procs), total(p.now for p in procs if p.alive),
                        total(p.peak for p in procs)))  # fmt: skip
        return out

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "now": self.now.to_json(),
            "start": self.start.to_json(),
            "peak": self.peak.to_json(),
            "processes": [p.to_json() for p in self.processes],
            "samples": self.samples,
            "interval_s": self.interval_s,
            "runner_hwm_bytes": self.runner_hwm,
            "runner_startup_peak_rss_bytes": self.runner_startup_peak,
            "budget_bytes": self.budget,
            "budget_on": self.budget_on,
            "source": self.source,
            "cpu_s": self.cpu_s,
            "budget_crossed_ns": self.budget_crossed_ns,
            "budget_killed_ns": self.budget_killed_ns,
            "budget_at_kill_bytes": self.budget_at_kill,
        }
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> MemorySection:
        return cls(
            MemoryTotals.from_json(d.get("now") or {}),
            MemoryTotals.from_json(d.get("start") or {}),
            MemoryTotals.from_json(d.get("peak") or {}),
            tuple(ProcessMemory.from_json(p) for p in d.get("processes") or ()),
            int(d.get("samples") or 0),
            float(d.get("interval_s") or 0.05),
            d.get("runner_hwm_bytes"),
            d.get("runner_startup_peak_rss_bytes"),
            d.get("budget_bytes"),
            str(d.get("budget_on") or "private"),
            str(d.get("source") or ""),
            float(d.get("cpu_s") or 0.0),
            d.get("budget_crossed_ns"),
            d.get("budget_killed_ns"),
            d.get("budget_at_kill_bytes"),
        )


def _max(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    return a if b is None else max(a, b)


def _add(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a + b


def total(parts: Iterable[MemoryTotals]) -> MemoryTotals:
    """The sum of several processes' figures (USS/PSS None if any is unknown)."""
    out = MemoryTotals(uss=0, pss=0)
    seen = False
    for p in parts:
        seen = True
        out = MemoryTotals(
            out.rss + p.rss,
            out.anon + p.anon,
            out.file + p.file,
            out.shmem + p.shmem,
            _add(out.uss, p.uss),
            _add(out.pss, p.pss),
        )
    return out if seen else MemoryTotals()


def role_of(pid: int, runner_cmdline: bytes | None) -> str:
    """What a descendant is, from its command line (the child's own records win: see
    ``probe.Block.roles``)."""
    cmd = read_proc(f"/proc/{pid}/cmdline", 4096) or b""
    if b"resource_tracker" in cmd:
        return "resource tracker"  # loky's or multiprocessing's: it cleans up after them
    if b"loky" in cmd:
        return "loky worker"
    if b"distributed" in cmd or b"dask" in cmd:
        return "Dask worker"
    if b"multiprocessing" in cmd:
        return "multiprocessing child"
    if runner_cmdline is not None and cmd == runner_cmdline:
        return "child process"  # forked from the runner
    return f"subprocess ({comm(pid)})"


@dataclass
class _Proc:
    pid: int
    started: int | None
    role: str
    name: str
    alive: bool = True
    now: MemoryTotals = field(default_factory=MemoryTotals)
    peak: MemoryTotals = field(default_factory=MemoryTotals)
    hwm: int | None = None
    hwm_in_run: bool = False  # VmHWM covers the run only (reset at its start, or born later)
    start: MemoryTotals | None = None  # at the chain's start (None: born later)
    rollup: tuple[int, int] | None = None
    #: When USS and PSS were read (monotonic s) and the status figures then (rss, anon,
    #: file, shmem in bytes).
    rollup_at: tuple[float, tuple[int, int, int, int]] | None = None
    cpu_s: float = 0.0

    def rollup_due(self, now_s: float, figures: tuple[int, int, int, int]) -> bool:
        """Whether USS and PSS can have changed since they were read (see
        ``ROLLUP_MOVED_BYTES``; the tree's own comings and goings are the caller's)."""
        if self.rollup is None or self.rollup_at is None:
            return True
        at, then = self.rollup_at
        if now_s - at >= ROLLUP_MAX_AGE_S:
            return True
        return any(abs(a - b) >= ROLLUP_MOVED_BYTES for a, b in zip(figures, then, strict=True))


class TreeSampler:
    """Samples the memory of ``root`` (the runner) and its descendants.

    ``sample()`` reads every known process's ``status`` (cheap: call it at 20 Hz or more);
    with ``discover=True`` it also looks for new descendants and reads ``smaps_rollup``
    where USS and PSS can have changed (``ROLLUP_MOVED_BYTES``; call that every few ticks).
    Processes that end keep their last figures and peaks.
    """

    def __init__(self, root: int, *, budget: int | None = None, budget_on: str = "private",
                 interval_s: float = 0.05, roles: Any = None):  # fmt: skip
        self.root = root
        self.budget = budget
        self.budget_on = budget_on
        self.interval_s = interval_s
        self.roles = roles  # callable() -> {pid: role} recorded by the child
        self.procs: dict[int, _Proc] = {}
        self._root_cmd = read_proc(f"/proc/{root}/cmdline", 4096)
        self.samples = 0
        self.now = MemoryTotals()
        self.start: MemoryTotals | None = None
        self.peak = MemoryTotals()
        self.runner_hwm: int | None = None
        self.cpu_start_s = 0.0
        self.budget_crossed_ns: int | None = None
        self.budget_killed_ns: int | None = None
        self.budget_at_kill: int | None = None
        self.started = False  # mark_start() was called
        #: The runner's RSS peak before its chain (``runner_start``) and its own VmHWM at its
        #: end (``protocol.Finished``, set by the runner handle), bytes.
        self.startup_peak_rss: int | None = None
        self.runner_peak_rss: int | None = None
        self._runner_start: MemoryTotals | None = None  # the runner's own reading
        self._runner_end: MemoryTotals | None = None  # its own, as its chain had closed
        self._tree_moved = True  # a process came or went since USS and PSS were read
        self._add(root, "runner")

    def _add(self, pid: int, role: str | None = None) -> None:
        started = start_time(pid)
        if started is None:
            return
        if role is None:
            recorded = self.roles() if self.roles is not None else {}
            role = recorded.get(pid) or role_of(pid, self._root_cmd)
        # A process born after the chain started has a high-water mark of the run only.
        self.procs[pid] = _Proc(pid, started, role, comm(pid), hwm_in_run=self.started)
        self._tree_moved = True

    def discover(self) -> None:
        """Add descendants not seen yet (breadth first from the root), and take the roles
        the child recorded for processes first seen before it recorded them."""
        recorded = self.roles() if self.roles is not None else {}
        for p in self.procs.values():
            if p.pid in recorded:
                if p.role != recorded[p.pid]:
                    p.role = recorded[p.pid]
            elif p.alive and p.pid != self.root:
                self._rename(p)
        seen = set()
        todo = [self.root]
        while todo:
            pid = todo.pop()
            if pid in seen:
                continue
            seen.add(pid)
            for child in children(pid):
                if child not in self.procs:
                    self._add(child)
                todo.append(child)

    def _rename(self, p: _Proc) -> None:
        """A process first seen between its fork and its exec has its parent's name and
        command line: name it again once it has exec'd (``subprocess.Popen`` forks, then
        runs the program)."""
        name = comm(p.pid)
        if name not in (p.name, "?") and start_time(p.pid) == p.started:
            p.name = name
            p.role = role_of(p.pid, self._root_cmd)

    def adopt(self, pid: int) -> None:
        """Count ``pid`` as a process of the tree (one the runner said was below it as it
        exited, since reparented), unless it is known already or gone."""
        if pid not in self.procs:
            self._add(pid)

    def live_pids(self) -> list[int]:
        return [p.pid for p in self.procs.values() if p.alive]

    def sample(self, *, discover: bool = False) -> MemoryTotals:
        """Read every live process; returns the tree's totals now."""
        if discover:
            self.discover()
        now_s = time.monotonic()
        # USS and PSS of every process are read again where the tree changed (a process
        # that ends leaves pages of the others unshared), else where they can have moved.
        every = discover and (self._tree_moved or bool(self.budget and self.budget_on == "pss"))
        for p in self.procs.values():
            if not p.alive:
                continue
            st = read_status(p.pid)
            stat = read_stat(p.pid)
            if st is None or stat is None or stat[0] != p.started or "rss" not in st:
                p.alive = False  # gone, reused, or a zombie (no memory left to read)
                self._tree_moved = True
                continue
            p.cpu_s = stat[1]
            figures = (st.get("rss", 0), st.get("anon", 0), st.get("file", 0),
                       st.get("shmem", 0))  # fmt: skip
            if discover and (every or p.rollup_due(now_s, figures)):
                p.rollup = read_rollup(p.pid)
                p.rollup_at = (now_s, figures)
            uss, pss = p.rollup if p.rollup else (None, None)
            if uss is not None and uss > figures[0]:
                uss = pss = None  # read a while ago, before the RSS fell: not of this moment
            p.now = MemoryTotals(*figures, uss, pss)
            p.hwm = st.get("hwm")
            p.peak = p.peak.peaks(p.now)
            if p.hwm_in_run and p.hwm is not None and p.hwm > p.peak.rss:
                # The kernel's high-water mark: a spike shorter than a sampling interval
                p.peak = dataclasses.replace(p.peak, rss=p.hwm)
            if p.pid == self.root:
                self.runner_hwm = p.hwm
        if every:
            self._tree_moved = False
        alive = [p.now for p in self.procs.values() if p.alive]
        if alive or not self.samples:
            self.now = total(alive)
        # else the whole tree is gone: ``now`` stays its last reading, the figures at its end
        self.peak = self.peak.peaks(self.now)
        self._kernel_peaks()
        self.samples += 1
        return self.now

    def _kernel_peaks(self) -> None:
        """Raise the peaks to the kernel's high-water marks: a process's RSS peak is at least
        its VmHWM (when that covers the run), the runner's at least the VmHWM it reported at
        its end, and the tree's at least the largest of them."""
        root = self.procs.get(self.root)
        end_peak = self.runner_peak_rss
        if root is not None and root.hwm_in_run and end_peak:
            # The runner's own VmHWM at its end, which covers its chain exactly: the peak of
            # a run too short for the readings (whose peaks, not restarted then, would
            # hold the import and the data preparation).
            if not self.started or end_peak > root.peak.rss:
                root.peak = dataclasses.replace(root.peak, rss=end_peak)
            self.runner_hwm = max(self.runner_hwm or 0, end_peak) if self.started else end_peak
        # The tree held at least what any one process held at its own peak.
        most = max((p.peak.rss for p in self.procs.values() if p.hwm_in_run), default=0)
        if most > self.peak.rss or (not self.started and most):
            self.peak = dataclasses.replace(self.peak, rss=most)

    def mark_start(self) -> None:
        """The chain starts now: figures from here are the run's (peaks restart, and each
        process's high-water mark is reset so that it covers the run only)."""
        self.started = True
        self.cpu_start_s = self.cpu_s()
        for p in self.procs.values():
            if not p.alive:
                continue
            if p.pid != self.root:  # the runner resets its own as its chain starts
                p.hwm_in_run = clear_hwm(p.pid)
            rollup = read_rollup(p.pid)  # USS and PSS of this moment, not of a while ago
            if rollup is not None:
                p.now = dataclasses.replace(p.now, uss=rollup[0], pss=rollup[1])
            p.start = p.now
            p.peak = p.now
        self.peak = self.now
        root = self.procs.get(self.root)
        if root is not None and self._runner_start is not None:
            root.start = self._runner_start
            root.peak = root.peak.peaks(root.start)  # a peak is never below the start
        self._restart()

    def runner_start(self, totals: MemoryTotals, startup_peak_rss: int | None) -> None:
        """The runner's own reading of its memory just before its chain's first ``next()``
        (``protocol.Started``): its start figures, which the parent's sampling could only
        take after the first batch had begun to allocate; and its RSS peak before the chain
        (import and data preparation), after which it reset its high-water mark."""
        self._runner_start = totals
        self.startup_peak_rss = startup_peak_rss
        self.samples += 1  # a reading too, by the runner itself
        if not self.started:
            self.start = totals  # kept if the chain ends before the parent marks its start
        root = self.procs.get(self.root)
        if root is not None:
            root.hwm_in_run = True  # the runner reset it itself, at the chain's start
        if self.started and root is not None:
            root.start = totals
            root.peak = root.peak.peaks(totals)  # a peak is never below the start
            self._restart()

    def runner_end(self, totals: MemoryTotals) -> None:
        """The runner's own reading of its memory as its chain had closed
        (``protocol.Finished``): its end figures. The parent's last reading before that
        may have fallen in the middle of a spike the chain then freed."""
        self._runner_end = totals
        self.samples += 1  # a reading too: a chain over before the parent's first has these
        self._apply_runner_end()

    def _apply_runner_end(self) -> None:
        root = self.procs.get(self.root)
        end = self._runner_end
        if root is None or end is None or root.now == end:
            return
        # The tree's total with the runner's part swapped (the others' last readings stay).
        swapped: dict[str, Any] = {}
        for f in dataclasses.fields(MemoryTotals):
            tree_now, was, new = (getattr(t, f.name) for t in (self.now, root.now, end))
            ok = None not in (tree_now, was, new)
            swapped[f.name] = tree_now - was + new if ok else None
        root.now = end
        root.peak = root.peak.peaks(end)
        self.now = MemoryTotals(**swapped)
        self.peak = self.peak.peaks(self.now)
        if self.start is not None:  # a peak is never below the start
            root.peak = root.peak.peaks(root.start or self.start)
            self.peak = self.peak.peaks(self.start)

    def _restart(self) -> None:
        self.start = total(p.start for p in self.procs.values() if p.start is not None)
        self.peak = self.peak.peaks(self.start)

    def cpu_s(self) -> float:
        """CPU seconds (user + system) of every process of the tree so far, ended ones
        included (up to their last sample)."""
        return sum(p.cpu_s for p in self.procs.values())

    def measure(self) -> int | None:
        """The figure the budget applies to, now."""
        return self.now.measure(self.budget_on)

    def heaviest(self) -> tuple[str, int] | None:
        """(description, bytes) of the process holding the most of the budget's measure."""
        best = None
        for p in self.procs.values():
            v = p.peak.measure(self.budget_on)
            if v is not None and (best is None or v > best[1]):
                best = (f"{p.role} (pid {p.pid})", v)
        return best

    def section(self) -> MemorySection:
        self._apply_runner_end()  # again: a reading in flight as it came may have undone it
        self._kernel_peaks()
        procs = tuple(
            ProcessMemory(p.pid, p.role, p.name, p.alive, p.now, p.peak, p.hwm)
            for p in self.procs.values()
        )
        return MemorySection(
            now=self.now,
            start=self.start or self.now,
            peak=self.peak,
            processes=procs,
            samples=self.samples,
            interval_s=self.interval_s,
            runner_hwm=self.runner_hwm,
            runner_startup_peak=self.startup_peak_rss,
            budget=self.budget,
            budget_on=self.budget_on,
            cpu_s=max(0.0, self.cpu_s() - self.cpu_start_s),
            budget_crossed_ns=self.budget_crossed_ns,
            budget_killed_ns=self.budget_killed_ns,
            budget_at_kill=self.budget_at_kill,
        )

    def ended(self) -> None:
        """The runner is gone: mark every process as ended (figures stay)."""
        for p in self.procs.values():
            if p.alive and (read_status(p.pid) is None or start_time(p.pid) != p.started):
                p.alive = False
