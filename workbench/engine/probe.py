"""The stage-boundary probe and its counter block: per-stage items, batches and self time.

Every crossing of a stage boundary (a consumer asking a stage for its next value, or the
stage handing one back) takes one clock reading and charges the time since the previous
crossing to whoever ran in between: the consumer on the way in, the stage on the way out.
Self times therefore add up exactly to the wall time of the chain (plus the sink that drains
it).

The counters live in a ``Block``: 8 KiB of int64 words in shared memory (a memfd the parent
creates and the runner child maps). The probe writes them with plain stores; the parent
reads them at its snapshot rate, so measuring takes no thread and no GIL time in the child.
The parent also writes one word: the stop request, which the probe re-asserts at every
boundary until the chain unwinds.

The fast path is the C extension ``_probe`` (the TSC as the clock where the kernel keeps
time with it, else ``CLOCK_MONOTONIC``); ``PyClock``/``PyProbe`` below are a pure-Python twin
with the same semantics and layout, used where the extension could not be built
(``PIPEBENCH_PURE_PROBE=1`` forces them).
"""

from __future__ import annotations

import contextlib
import mmap
import os
import time
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from workbench.authoring.items import count_items, kind_of

try:  # pragma: no cover - which branch runs depends on the build
    if os.environ.get("PIPEBENCH_PURE_PROBE"):
        raise ImportError("pure probe requested")
    import workbench.engine._probe as _c_probe
except ImportError:  # pragma: no cover
    _c_probe = None  # type: ignore[assignment]

#: Which probe runs: "c" or "python".
IMPLEMENTATION = "c" if _c_probe is not None else "python"
#: The C probe's clock: "tsc" or "ns" (CLOCK_MONOTONIC); the twin's is always "ns".
TICKS = _c_probe.TICKS if _c_probe is not None else "ns"

# ---- the block's layout (the C probe exports the same as _probe.LAYOUT; a test checks) ----
BLOCK_BYTES = 8192
WORDS = BLOCK_BYTES // 8
MAGIC_VALUE = 0x3130544E43425050  # "PPBCNT01"
LAYOUT_VERSION = 1
ROLE_SLOTS = 32
(
    MAGIC, LAYOUT, CAPACITY, N, TICKS_KIND, START_TICK, START_NS, LAST_TICK, END_TICK,
    END_NS, FAILED, RUNNING, STOP, PHASE, FIRST_TICK, STOP_SEEN,
) = range(16)  # fmt: skip
HEADER = 16
CAP = (WORDS - HEADER - 2 * ROLE_SLOTS - 2) // 5  # positions a block holds
SELF = HEADER
ITEMS = SELF + CAP + 1
BATCHES = ITEMS + CAP
DONE = BATCHES + CAP
COMPILE = DONE + CAP
ROLES = WORDS - 2 * ROLE_SLOTS

#: Stop requests (the STOP word): code -> the report's ``stop_reason``.
STOP_REASONS = {
    1: "user", 2: "max_seconds", 3: "max_batches", 4: "memory_budget", 5: "sigterm",
    6: "sighup", 7: "gpu_memory_budget", 8: "sigint",
}  # fmt: skip
STOP_CODES = {reason: code for code, reason in STOP_REASONS.items()}
#: Phases of the child (the PHASE word). STARTING: its stop handler is not set yet, so the
#: parent leaves a stop in the block and signals it only from LOADING on. CLOSED: the chain
#: and its finally blocks are done; what the runner does after it (its last sections, its
#: report) is pipebench's own, and the parent's memory readings stop counting there.
STARTING, LOADING, RUNNING_PHASE, CLOSING, CLOSED, DONE_PHASE = 0, 1, 2, 3, 4, 5
#: Roles a child records for the processes it starts (see ``Block.set_role``).
ROLE_NAMES = {
    1: "DataLoader worker",
    2: "multiprocessing child",
    3: "loky worker",
    4: "Dask worker",
}


def _now_pair() -> tuple[int, int]:
    if _c_probe is not None:
        return _c_probe.now()
    t = time.monotonic_ns()
    return t, t


_CAL_TICKS, _CAL_NS = _now_pair()


def ns_per_tick(ticks_kind: int) -> float:
    """Nanoseconds per tick of a block's clock: 1 for "ns"; for the TSC, measured against
    ``CLOCK_MONOTONIC`` over this process's lifetime (the TSC is invariant and shared by
    every process, so the parent's measure holds for the child's ticks)."""
    if ticks_kind == 0:
        return 1.0
    t, ns = _now_pair()
    if t - _CAL_TICKS < 1_000_000:  # too early to tell: take a 2 ms measure once
        time.sleep(0.002)
        t, ns = _now_pair()
    return (ns - _CAL_NS) / (t - _CAL_TICKS)


class ChainReading(NamedTuple):
    """One reading of a chain's counters, in nanoseconds.

    While the run goes, the time since the last crossing is charged to the position
    running (``running``), so the self times add up to ``elapsed_ns`` at every reading.
    (A named tuple, not a dataclass: ``pipebench run`` imports this module before it spawns
    its runner, and creating a dataclass, with the import of ``dataclasses``, costs ~10 ms.)
    """

    elapsed_ns: int
    self_ns: tuple[int, ...]  # per probed iterator, then the sink
    items: tuple[int, ...]
    batches: tuple[int, ...]
    done: tuple[bool, ...]
    failed: int  # index of the stage whose next() raised first, or -1
    compile_ns: tuple[int, ...] = ()  # JIT compilation per position (the sink last)
    running: int = -1  # the position running now (n: the sink)
    idle_ns: int = 0  # time since the last boundary crossing
    finished: bool = False
    first_batch_ns: int | None = None  # CLOCK_MONOTONIC when the first batch left the chain


class Block:
    """The counter block of one run: shared memory both processes map.

    The parent makes it (``Block.create``) and passes ``fd`` to the child, which maps the
    same pages (``Block.attach``). Only the probe writes counters; the parent writes the
    stop request; the child writes its phase and the roles of processes it starts.
    """

    def __init__(self, buf: mmap.mmap, fd: int | None = None):
        self.buf = buf
        self.fd = fd
        self.words = memoryview(buf).cast("q")

    @classmethod
    def create(cls) -> Block:
        """A new zeroed block in a memfd (a file in /dev/shm where memfd is missing).

        The memfd's size is sealed: the pipeline runs in the process that maps it too, and a
        pipeline that truncated the descriptor (one it took for its own) would end every
        process mapping the block with SIGBUS, pipebench included."""
        if hasattr(os, "memfd_create"):
            fd = os.memfd_create("pipebench-counters", getattr(os, "MFD_ALLOW_SEALING", 0))
        else:  # pragma: no cover - non-Linux
            import tempfile

            fd, path = tempfile.mkstemp(prefix="pipebench-counters-")
            os.unlink(path)
        os.ftruncate(fd, BLOCK_BYTES)
        with contextlib.suppress(OSError, AttributeError, ImportError):  # no seals here
            import fcntl

            fcntl.fcntl(
                fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL
            )
        return cls(mmap.mmap(fd, BLOCK_BYTES), fd)

    @classmethod
    def attach(cls, fd: int) -> Block:
        """Map the block the parent made (in the child) and close ``fd``: the mapping holds
        its own descriptor, and a pipeline that writes to descriptor 3 (its own habit,
        which the runner does not inherit) gets EBADF rather than pipebench's counters."""
        try:
            return cls(mmap.mmap(fd, BLOCK_BYTES))
        finally:
            with contextlib.suppress(OSError):
                os.close(fd)

    @classmethod
    def private(cls) -> Block:
        """A block in this process's memory only (tests, benchmarks)."""
        return cls(mmap.mmap(-1, BLOCK_BYTES))

    def close(self) -> None:
        self.words.release()
        with contextlib.suppress(BufferError):  # a clock still holds a view: it goes with it
            self.buf.close()
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None

    # ---- the words either side writes ----------------------------------------------------
    def request_stop(self, reason: str) -> None:
        """Ask the chain to stop (the first reason stays); the probe raises at the next
        boundary, and at every one after until the chain unwinds."""
        if self.words[STOP] == 0:
            self.words[STOP] = STOP_CODES[reason]

    @property
    def stop_reason(self) -> str | None:
        return STOP_REASONS.get(self.words[STOP])

    def stop_taken(self) -> None:
        """The child's Python code saw the stop (at a boundary, or in its signal handler):
        it is not stuck inside one C call. The first CLOCK_MONOTONIC ns stays."""
        if self.words[STOP_SEEN] == 0:
            self.words[STOP_SEEN] = time.monotonic_ns()

    @property
    def stop_seen_ns(self) -> int:
        """When the child first saw the stop (CLOCK_MONOTONIC ns), 0 if it has not."""
        return self.words[STOP_SEEN]

    @property
    def phase(self) -> int:
        return self.words[PHASE]

    @phase.setter
    def phase(self, value: int) -> None:
        self.words[PHASE] = value

    def set_role(self, pid: int, role: int) -> None:
        """Record what a process the child started is (a ``ROLE_NAMES`` key)."""
        for slot in range(ROLE_SLOTS):
            at = ROLES + 2 * slot
            if self.words[at] in (0, pid):
                self.words[at + 1] = role
                self.words[at] = pid
                return

    def roles(self) -> dict[int, str]:
        """pid -> role of the processes the child recorded."""
        out = {}
        for slot in range(ROLE_SLOTS):
            pid = self.words[ROLES + 2 * slot]
            if pid == 0:
                break
            out[pid] = ROLE_NAMES.get(self.words[ROLES + 2 * slot + 1], "child process")
        return out

    # ---- reading -------------------------------------------------------------------------
    @property
    def started(self) -> bool:
        """Whether a chain has been built on this block (its clock started)."""
        return self.words[MAGIC] == MAGIC_VALUE and self.words[N] > 0

    def read(self, now_ns: int | None = None) -> ChainReading | None:
        """The counters now, in ns; None before the chain is built.

        Args:
            now_ns: ``time.monotonic_ns()`` of the reading (default: now). After the chain
                finished, the elapsed time is frozen at its end.
        """
        w = self.words
        if not self.started:
            return None
        n = w[N]
        kind = w[TICKS_KIND]
        scale = ns_per_tick(kind)
        now_ticks, now_mono = _now_pair()
        if now_ns is None:
            now_ns = now_mono
        end = w[END_TICK]
        last = w[LAST_TICK]
        selfs = [w[SELF + i] for i in range(n + 1)]
        running = w[RUNNING]
        if end:
            elapsed_t = end - w[START_TICK]
            idle = 0
        else:
            tick_now = now_ticks if kind else now_ns
            idle = max(0, tick_now - last)
            elapsed_t = tick_now - w[START_TICK]
            if 0 <= running <= n:
                selfs[running] += idle
        elapsed_ns = int(elapsed_t * scale)
        self_ns = [int(s * scale) for s in selfs]
        self_ns[-1] += elapsed_ns - sum(self_ns)  # rounding: the parts add up to the whole
        return ChainReading(
            elapsed_ns=elapsed_ns,
            self_ns=tuple(self_ns),
            items=tuple(w[ITEMS + i] for i in range(n)),
            batches=tuple(w[BATCHES + i] for i in range(n)),
            done=tuple(bool(w[DONE + i]) for i in range(n)),
            failed=w[FAILED],
            compile_ns=tuple(w[COMPILE + i] for i in range(n + 1)),
            running=running,
            idle_ns=int(idle * scale),
            finished=bool(end),
            first_batch_ns=(
                w[START_NS] + int((w[FIRST_TICK] - w[START_TICK]) * scale)
                if w[FIRST_TICK]
                else None
            ),
        )


class PyClock:
    """Pure-Python twin of ``_probe.Clock``: the same block layout, plain ns ticks."""

    def __init__(
        self,
        block: Any,
        n: int,
        counter: Callable[[Any], int],
        kind_of: Callable[[type], int],
        make_stop: Callable[[], BaseException],
    ):
        w = memoryview(block).cast("q") if not isinstance(block, memoryview) else block
        if n < 1 or n > CAP:
            raise ValueError(f"a chain of {n} iterators does not fit (1 to {CAP})")
        self.w = w
        self.n = n
        self.counter = counter
        self.make_stop = make_stop
        self.closing = False
        self.publish_every = 0
        self.on_publish: Callable[[], object] | None = None
        for i in range(HEADER, ROLES):
            w[i] = 0
        w[LAYOUT], w[CAPACITY], w[TICKS_KIND], w[FAILED] = LAYOUT_VERSION, CAP, 0, -1
        w[END_TICK] = w[END_NS] = w[FIRST_TICK] = 0
        w[RUNNING] = n
        t = time.monotonic_ns()
        w[START_TICK] = w[START_NS] = w[LAST_TICK] = t
        self.last_publish = t
        w[N] = n
        w[MAGIC] = MAGIC_VALUE

    def set_publish(self, ticks: int, fn: Callable[[], object] | None) -> None:
        if ticks < 0 or (ticks > 0 and not callable(fn)):
            raise ValueError("set_publish(ticks > 0, callable) or (0, None)")
        self.publish_every = 0
        self.on_publish = fn if ticks > 0 else None
        self.last_publish = time.monotonic_ns()
        self.publish_every = ticks

    def published(self) -> None:
        self.last_publish = time.monotonic_ns()

    def set_closing(self, closing: bool) -> None:
        self.closing = bool(closing)

    def finish(self) -> None:
        self.charge(self.n)
        w = self.w
        w[END_NS] = time.monotonic_ns()
        w[RUNNING] = self.n
        w[END_TICK] = w[LAST_TICK]

    def charge(self, index: int) -> None:
        if not 0 <= index <= self.n:
            raise IndexError("chain position out of range")
        t = time.monotonic_ns()
        self.w[SELF + index] += t - self.w[LAST_TICK]
        self.w[LAST_TICK] = t

    def add_compile(self, ns: int) -> None:
        r = self.w[RUNNING]
        if 0 <= r <= self.n:
            self.w[COMPILE + r] += ns


class PyProbe:
    """Pure-Python twin of ``_probe.Probe``."""

    def __init__(self, clock: PyClock, index: int, iterator: Iterator[Any], items: Any = None):
        if not 0 <= index < clock.n:
            raise IndexError("probe index out of range")
        if not isinstance(iterator, Iterator):
            raise TypeError("a probe wraps an iterator")
        self.clock = clock
        self.index = index
        self.it = iterator
        self._next = iterator.__next__
        self.count = (lambda _v: items) if isinstance(items, int) else items or clock.counter

    def __iter__(self) -> PyProbe:
        return self

    def __next__(self) -> Any:
        c = self.clock
        w = c.w
        i = self.index
        t = time.monotonic_ns()
        w[SELF + i + 1] += t - w[LAST_TICK]
        w[LAST_TICK] = t
        w[RUNNING] = i
        if w[STOP] and not c.closing:
            w[RUNNING] = i + 1
            raise c.make_stop()
        try:
            x = self._next()
        except StopIteration:
            self._out(i)
            w[DONE + i] = 1
            raise
        except BaseException:
            self._out(i)
            if w[FAILED] < 0 and not (w[STOP] and not c.closing):
                w[FAILED] = i
            raise
        self._out(i)
        if c.publish_every and w[LAST_TICK] - c.last_publish > c.publish_every:
            self._publish()
        if w[STOP] and not c.closing:
            raise c.make_stop()
        w[ITEMS + i] += self.count(x)
        w[BATCHES + i] += 1
        if w[BATCHES + i] == 1 and i == c.n - 1:
            w[FIRST_TICK] = w[LAST_TICK]
        return x

    def _out(self, i: int) -> None:
        c = self.clock
        w = c.w
        t = time.monotonic_ns()
        w[SELF + i] += t - w[LAST_TICK]
        w[LAST_TICK] = t
        w[RUNNING] = i + 1

    def _publish(self) -> None:
        """pipebench's publication, from the chain's thread, charged to the sink (_probe.c)."""
        c = self.clock
        w = c.w
        fn = c.on_publish
        c.last_publish = w[LAST_TICK]
        w[RUNNING] = c.n
        try:
            if fn is not None:
                fn()
        finally:
            t = time.monotonic_ns()
            w[SELF + c.n] += t - w[LAST_TICK]
            w[LAST_TICK] = t
            w[RUNNING] = self.index + 1

    def close(self) -> None:
        close = getattr(self.it, "close", None)
        if close is not None:
            close()


def make_clock(block: Block, n: int, make_stop: Callable[[], BaseException]) -> Any:
    """A clock for a chain of ``n`` probed iterators (source and stages), counting into
    ``block``; a stop request raises ``make_stop()`` at the next boundary."""
    if _c_probe is not None:
        return _c_probe.Clock(block.buf, n, count_items, kind_of, make_stop)
    return PyClock(block.words, n, count_items, kind_of, make_stop)


def make_probe(clock: Any, index: int, iterator: Iterator[Any], items: Any = None) -> Any:
    """Wrap ``iterator``, the output of chain position ``index``, in a probe; ``items``
    overrides the item model for its values (an int per value, or a function)."""
    if isinstance(clock, PyClock):
        return PyProbe(clock, index, iterator, items)
    return _c_probe.Probe(clock, index, iterator, items)  # type: ignore[union-attr]
