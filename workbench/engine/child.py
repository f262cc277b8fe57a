"""The runner child: loads one pipeline, runs its probed chain, reports on its own pipe.

Started as ``python -m workbench.engine.child`` (``engine.spawn``): it imports the engine,
then reads its configuration from stdin, which may come later (a runner spawned before its
run was known). The main thread runs the pipeline and, in the common case, nothing else:
the probes count into a shared counter block the parent reads, and the parent reads memory
from ``/proc``. Only what the child alone can see (cache counters, resource contexts,
``torch.cuda``, parallel stages) is read here, and only when there is such a thing to read:
by a thread of pipebench's, which the chain hands the GIL at a stage boundary once a
snapshot period has passed, and which reads on its own only while the chain is inside one
long stage (``SectionsThread``).

A stop comes as a request in the counter block plus a SIGINT: the handler raises ``StopRun``
where the main thread is, and the probe raises it again at every stage boundary until the
chain unwinds, so a stage that swallows it cannot keep the run going. The chain is then
closed, so ``finally`` blocks and context managers run.
"""

from __future__ import annotations

import contextlib
import faulthandler
import json
import os
import select
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any

from workbench.authoring import progress
from workbench.authoring.pipeline import stage_items, stage_name
from workbench.engine import autofind, probe
from workbench.engine.asyncstages import AsyncChain
from workbench.engine.loader import (
    load_module,
    missing_requirement,
    parse_target,
    resolve_params,
    select_pipeline,
)
from workbench.engine.output import install_streams
from workbench.engine.protocol import (
    BUDGET_EXCEEDED,
    EXIT_EVENTS_CLOSED,
    FAILED,
    FINISHED,
    STOPPED,
    Event,
    Failure,
    Finished,
    Hello,
    LeftRunning,
    Log,
    Progress,
    RunConfig,
    Sections,
    Started,
    encode,
)
from workbench.engine.sections import SamplerContext, SectionSampler
from workbench.engine.sections.lru_timing import install as time_lru_cache_misses
from workbench.engine.sections.procfs import own_memory
from workbench.engine.sections.snapshot import SnapshotSections
from workbench.errors import StopRun, UserError
from workbench.text import exception_message, exception_text

EXIT_OK, EXIT_FAILED, EXIT_USER_ERROR = 0, 1, 2
#: Messages of a stop, by reason (the parent adds figures where it has them).
STOP_MESSAGES = {
    "user": "stopped by the user",
    "sigint": "stopped by SIGINT",
    "sigterm": "stopped by SIGTERM",
    "sighup": "stopped by SIGHUP (the terminal went away)",
    "max_seconds": "time limit reached",
    "max_batches": "batch limit reached",
    "memory_budget": "the memory budget was passed",
    "gpu_memory_budget": "the GPU memory budget was passed",
}


class Outbox:
    """Writes events on the events pipe, from any thread, one whole line at a time.

    Before each write it checks that the descriptor is still the pipe the parent gave: a
    pipeline that closes descriptors (``os.closerange``) must not make pipebench write into
    whatever file reuses the number. Once the pipe is gone, events are dropped; the parent
    sees the pipe close early and says so.
    """

    def __init__(self, fd: int):
        self.fd = fd
        self._lock = threading.Lock()
        st = os.fstat(fd)
        self._identity = (st.st_dev, st.st_ino)
        self.broken = False
        self.lost = False  # the descriptor is no longer the pipe (the pipeline closed it)
        #: The thread writing a line now: a stop's signal handler must not raise in it
        #: halfway through (the parent would read the half joined to the next line).
        self.writer: int | None = None

    def _ours(self) -> bool:
        try:
            st = os.fstat(self.fd)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == self._identity

    def _write(self, data: bytes, *, wait: bool) -> bool:
        with self._lock:
            self.writer = threading.get_ident()
            try:
                return self._write_locked(data, wait=wait)
            finally:
                self.writer = None

    def _write_locked(self, data: bytes, *, wait: bool) -> bool:
        if self.broken:
            return False
        if not self._ours():
            self.broken = self.lost = True
            return False
        if not wait:
            try:
                _r, ready, _x = select.select([], [self.fd], [], 0)
            except (OSError, ValueError):
                ready = []
            if not ready:
                return False  # the parent is behind: the next offer carries newer values
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self.fd, view) :]
        except OSError:
            self.broken = True
            return False
        return True

    def still_ours(self) -> bool:
        """Whether the descriptor is still the parent's pipe (if not, ``lost`` is set)."""
        with self._lock:
            if not self.lost and not self._ours():
                self.broken = self.lost = True
            return not self.lost

    def post(self, event: Event) -> None:
        """Send ``event`` (waits while the pipe is full)."""
        self.write_text(encode(event), wait=True)

    def offer(self, event: Event) -> bool:
        """Send ``event`` if the pipe has room now; False if it was dropped."""
        return self.write_text(encode(event), wait=False)

    def write_text(self, line: str, *, wait: bool) -> bool:
        """Send an event already encoded (``protocol.encode``); ``wait``: as ``post``, else
        as ``offer``. True if it was written."""
        return self._write(line.encode("utf-8"), wait=wait)


#: How long the end of a run waits for a reading of the child-only sections.
STOP_WAIT_S = 5.0


class SectionsThread:
    """Reads the child-only sections at the snapshot rate and offers them to the parent.

    Started only when a run has such a section (a cache found, a parallel stage, torch
    imported, a resource context entered), so a plain pipeline runs with nothing of
    pipebench's in its process but the probes. The thread reads when it is handed the GIL:

    - by the chain, at the first stage boundary a snapshot period after the last reading
      (``Clock.set_publish``): the chain's thread hands the reading over and waits for it,
      up to ``HANDOFF_WAIT_S``, with the GIL released, so the thread has it at once. On its
      own clock the thread had to win the GIL from the chain: a chain reading a text file
      releases and retakes it at every read, and each release woke the waiting thread only
      for it to lose again (1,600 context switches a second, ~5% of jsonl_tokens' CPU);
    - or by itself, when the chain handed nothing over for ``STALL_PERIODS`` periods (it
      is inside one long stage, or not built yet).

    The reading is never made on the chain's thread: it calls user code (``cache_info``)
    that may wait for a lock the chain holds across a boundary. Such a reading makes the
    chain wait ``HANDOFF_WAIT_S`` once, and the thread reads when the lock is let go.
    """

    #: Periods without a handed-over reading after which the thread reads on its own.
    STALL_PERIODS = 1.5
    #: The most the chain's thread waits for a reading it handed over.
    HANDOFF_WAIT_S = 0.01
    #: The readings take at most 1/SPACING of the chain's time: after one that cost c
    #: seconds, the next is handed over no sooner than SPACING × c later.
    SPACING = 20

    def __init__(self, run: Run):
        self.run = run
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # starting, arming and stopping
        self._sending = threading.Lock()  # one reading at a time
        self._asked = threading.Event()  # the chain handed a reading over (set until made)
        self._done = threading.Event()  # ... and it was made
        self._armed: Any = None  # the clock that calls publish() at boundaries
        self._every = run.config.snapshot_s  # the period in force (SPACING can lengthen it)
        self._pid = os.getpid()
        self._last_sent: SnapshotSections | None = None
        self.stuck = False  # the thread did not end when stopped: a reading never returned
        self.abandoned = False  # the run ended without the final reading

    def start(self) -> None:
        with self._lock:
            if self._thread is not None or self._stop.is_set():
                return
            self._thread = threading.Thread(
                target=self._loop, name="pipebench-sections", daemon=True
            )
            self._thread.start()
        self.arm()

    def arm(self) -> None:
        """Have the chain's clock call ``publish`` at boundaries, once the thread is started
        and the clock exists (either can come first)."""
        with self._lock:
            clock = self.run.clock
            if self._thread is None or self._stop.is_set() or clock is None:
                return
            if self._armed is not clock:
                clock.set_publish(max(1, int(self._every * _ticks_per_s())), self.publish)
                self._armed = clock

    def publish(self) -> None:
        """The clock calls this on the chain's thread at a boundary when a reading is due:
        hand it to the thread and wait for it (the GIL released). A stop's signal handler
        raising in here goes on up the chain, as at any boundary."""
        if os.getpid() != self._pid or self._asked.is_set():
            return  # a forked process crossing a boundary; or the last reading still going
        t0 = time.perf_counter()
        self._done.clear()
        self._asked.set()
        self._done.wait(self.HANDOFF_WAIT_S)
        every = max(self.run.config.snapshot_s, self.SPACING * (time.perf_counter() - t0))
        if not self._every / 1.25 <= every <= self._every * 1.25:
            self._every = every
            with self._lock:
                if self._armed is not None:
                    self._armed.set_publish(max(1, int(every * _ticks_per_s())), self.publish)

    def _loop(self) -> None:
        while True:
            asked = self._asked.wait(self.STALL_PERIODS * self._every)
            if self._stop.is_set():
                self._done.set()
                return
            try:
                self.send(final=False)
            finally:
                if asked:
                    self._asked.clear()
                    self._done.set()
            clock = self.run.clock
            if not asked and clock is not None:
                clock.published()  # the chain's next hand-over is a period from now

    def send(self, *, final: bool) -> None:
        # The final reading waits for one still being made (a user's lock), but not forever.
        held = self._sending.acquire(timeout=STOP_WAIT_S) if final else self._sending.acquire(False)
        if not held and not final:
            return
        try:
            values = self.run.read_sections(final=final)
            if values.is_empty() or (values == self._last_sent and not final):
                return  # unchanged: not encoded again (field by field, same values first)
            text = encode(Sections(values))
            if self.abandoned:
                return  # too late: the run ended without it (Run.finish_sections)
            if self.run.outbox.write_text(text, wait=final):
                self._last_sent = values  # one dropped (the pipe full) is offered again
        finally:
            if held:
                self._sending.release()

    def stop(self) -> None:
        """No more readings but the final one (``send(final=True)``); the thread ends."""
        self._stop.set()
        with self._lock:
            thread, clock, self._armed = self._thread, self._armed, None
            if clock is not None:
                clock.set_publish(0, None)
        if thread is None:
            return
        self._asked.set()  # wakes the thread, which sees the stop
        thread.join(STOP_WAIT_S)
        self.stuck = thread.is_alive()


def _ticks_per_s() -> float:
    return 1e9 / probe.ns_per_tick(1 if probe.TICKS == "tsc" else 0)


class Run:
    """One run of one pipeline in this process."""

    def __init__(self, config: RunConfig, outbox: Outbox, block: probe.Block | None = None):
        self.config = config
        self.outbox = outbox
        self.block = block if block is not None else probe.Block.private()
        self.clock: Any = None
        self.stage_names: tuple[str, ...] = ()
        self.probes: list[Any] = []
        self.sections: list[SectionSampler] = []
        self.sections_thread = SectionsThread(self)
        self.running = False
        self._main_ident = threading.main_thread().ident

    # ---- stopping -------------------------------------------------------------------
    @property
    def stop_reason(self) -> str | None:
        return self.block.stop_reason

    def make_stop(self) -> StopRun:
        """The exception a stop raises (the probe calls this at a boundary)."""
        self.block.stop_taken()
        return StopRun(self.block.stop_reason or "user")

    def on_signal(self, signum: int, frame: Any) -> None:
        """SIGINT/SIGTERM: the parent's stop request (or someone else's signal)."""
        reason = {int(signal.SIGINT): "sigint", int(signal.SIGTERM): "sigterm"}.get(signum, "user")
        self.block.request_stop(reason)  # kept if the parent asked first, with its reason
        self.block.stop_taken()  # Python code runs: the child is not stuck in one C call
        here = threading.get_ident()
        if (
            self.running
            and here == self._main_ident
            and self.outbox.writer != here  # halfway through a line: the next boundary
            and not _unwinding()
        ):
            raise self.make_stop()

    # ---- sections ---------------------------------------------------------------------
    def read_sections(self, *, final: bool = False) -> SnapshotSections:
        values: dict[str, Any] = {}
        unavailable: dict[str, str] = {}
        for sampler in list(self.sections):
            try:
                values[sampler.section] = sampler.read_final() if final else sampler.read()
            except StopRun:
                raise
            except BaseException as exc:  # one broken sampler (user code that raised
                # SystemExit in its cache_info, say) must not end the run
                unavailable[sampler.section] = exception_text(exc)
        return SnapshotSections(**values, unavailable=unavailable)

    def finish_sections(self) -> None:
        """Close the section samplers and send their final reading: on a thread of its own,
        waited for ``STOP_WAIT_S`` at most. Both call user code (``cache_info``), which
        may wait for a lock that a thread of the pipeline keeps forever; the run must still
        end (the parent then keeps the last live reading)."""
        self.sections_thread.stop()

        def finish() -> None:
            for section in self.sections:
                try:
                    section.close()
                except Exception as exc:
                    self.outbox.post(
                        Log("pipebench", f"{section.section} sampler: {exception_text(exc)}")
                    )
            if self.clock is not None and not self.sections_thread.stuck:
                self.sections_thread.send(final=True)

        if not self.sections:
            return
        done = threading.Thread(target=finish, name="pipebench-final", daemon=True)
        done.start()
        done.join(STOP_WAIT_S)
        if done.is_alive() or self.sections_thread.stuck:
            self.sections_thread.abandoned = True
            self.outbox.post(
                Log(
                    "pipebench",
                    f"the last reading of caches and contexts did not return within "
                    f"{STOP_WAIT_S:g} s (a cache_info() that blocks?): the report has the "
                    "last live reading",
                )
            )

    def wake_sections(self) -> None:
        """Something only the child can read appeared: start the sections thread."""
        if self.sections:
            self.sections_thread.start()

    # ---- the run --------------------------------------------------------------------
    def load(self) -> tuple[Any, dict[str, Any]]:
        target = parse_target(self.config.target)
        time_lru_cache_misses(target)  # lru_cache misses of the user's code are timed
        module = load_module(target)
        pipe = select_pipeline(module, target)
        reason = missing_requirement(pipe)
        if reason:
            raise UserError(f"pipeline {pipe.name} cannot run here: it {reason}")
        params = resolve_params(pipe, self.config.params)
        self.sections = section_samplers(SamplerContext(module, pipe, params), self)
        return pipe, params

    def build(self, pipe: Any, params: dict[str, Any]) -> Iterator[Any]:
        # The module's own contexts and cached_property values report (before the factory).
        found = autofind.instrument(sys.modules.get(pipe.factory.__module__), self.config.options)
        try:
            parts = pipe(**params)
        except StopRun:
            raise
        except BaseException as exc:
            raise UserError(
                f"pipeline {pipe.name}: its factory raised {exception_text(exc)}",
                traceback=traceback.format_exc(),
            ) from None
        if not isinstance(parts, tuple | list) or not parts:
            raise UserError(
                f"pipeline {pipe.name} returned {type(parts).__name__}: a factory returns "
                "the source followed by the stages, e.g. `return source, stage1, stage2`"
            )
        source, *stages = parts
        for s in stages:
            if not callable(s):
                raise UserError(
                    f"pipeline {pipe.name}: stage {s!r} is not callable; a stage is a "
                    "function from an iterator to an iterator (a generator function)"
                )
        names = (stage_name(source),) + tuple(stage_name(s) for s in stages)
        chain = AsyncChain(pipe.name)  # async sources and stages run on an event loop
        upstream = chain.source(source, names[0])
        self.stage_names = _unique(names)
        if len(names) > probe.CAP:
            raise UserError(f"pipeline {pipe.name} has {len(names)} stages; at most {probe.CAP}")
        module = sys.modules.get(pipe.factory.__module__)
        self.outbox.post(
            Hello(
                pid=os.getpid(),
                pipeline=pipe.name,
                module=pipe.factory.__module__,
                path=getattr(module, "__file__", None) or "",
                params=params,
                stages=self.stage_names,
                probe=probe.IMPLEMENTATION,
                python=sys.version.split()[0],
                started_at=time.time(),
            )
        )
        upstream, stages = self.instrument(upstream, stages)
        default_items = getattr(pipe, "items", None)
        items = [stage_items(source, default_items)] + [
            stage_items(s, default_items) for s in stages
        ]
        self.clock = probe.make_clock(self.block, len(names), self.make_stop)
        self.sections_thread.arm()  # started by the factory's resource context, say
        _watch_compiles(self.clock)
        self.probes = [probe.make_probe(self.clock, 0, upstream, items[0])]
        for i, s in enumerate(stages, start=1):
            out = chain.call(s, self.probes[-1], self.stage_names[i])
            self.clock.charge(i)  # a stage that does work when called (not a generator)
            out = chain.output(out, self.stage_names[i])  # UserError if not an iterator
            self.probes.append(probe.make_probe(self.clock, i, out, items[i]))
        autofind.announce(self.outbox, found, autofind.chain_notes(source, chain))
        if any(s.active() for s in self.sections):
            # Read once now, before the chain's start reading of memory, so that a first
            # reading's imports and caches are not counted as the run's.
            self.read_sections()
            self.sections_thread.start()
        return self.probes[-1]  # type: ignore[no-any-return]

    def instrument(
        self, source: Iterator[Any], stages: list[Any]
    ) -> tuple[Iterator[Any], list[Any]]:
        """Hook for modes that watch stages (``lines``): the source iterator and the stage
        callables to build the chain from, after their names are known and Hello is sent."""
        return source, stages

    def drive(self, chain: Iterator[Any]) -> None:
        limit = self.config.max_batches
        if limit is not None:
            for _ in islice(chain, limit):
                pass
            if not self.block.words[probe.DONE + len(self.probes) - 1]:
                self.block.request_stop("max_batches")
        else:
            for _ in chain:
                pass

    def close_chain(self) -> None:
        """Close every stage, last first, so that their finally blocks and with-blocks run."""
        from workbench.authoring.recording import REGISTRY

        REGISTRY.stopped_by = self.stop_reason  # what a context the close ends was ended by
        if self.clock is not None:
            self.clock.set_closing(True)
        for p in reversed(self.probes):
            try:
                p.close()
            except BaseException as exc:  # a finally block that raises
                self.outbox.post(
                    Log("pipebench", f"closing stage {p.index} raised {exception_text(exc)}")
                )
        # An iterator without close() (a DataLoader's, map, zip) still holds the generator it
        # wraps: let go of the chain so that such generators are finalized, and their
        # finally blocks and with-blocks run, now rather than never (the child ends with
        # os._exit, which runs no finalizers).
        self.probes.clear()

    def execute(self) -> int:
        self.running = True  # a stop while the module imports ends the run too
        self.block.phase = probe.LOADING  # the parent may signal now: the handler is set
        try:
            if self.block.stop_reason is not None:
                raise self.make_stop()  # asked for before the handler was set
            pipe, params = self.load()
        except UserError as exc:
            self.running = False
            return self.fail_user("load", exc)
        except StopRun:
            self.running = False
            reason = self.stop_reason or "user"
            self.outbox.post(
                Finished(STOPPED, reason, f"{self.stop_message(reason)} (while the module loaded)")
            )
            return EXIT_OK
        status, code = FINISHED, EXIT_OK
        message: str | None = None
        chain: Iterator[Any] | None = None
        try:
            try:
                chain = self.build(pipe, params)
                self.block.phase = probe.RUNNING_PHASE
                self.outbox.post(Started(*own_memory(reset_hwm=True)))
                self.drive(chain)
            finally:
                self.running = False
                chain = None  # self.probes alone holds the chain now (see close_chain)
        except UserError as exc:
            self.block.phase = probe.CLOSING
            self.close_chain()
            return self.fail_user("build", exc)
        except StopRun:
            pass
        except BaseException as exc:
            status, code = FAILED, EXIT_FAILED
            failed = self.block.words[probe.FAILED] if self.clock is not None else -1
            where = self.stage_names[failed] if 0 <= failed < len(self.stage_names) else None
            message = exception_text(exc)
            if where:
                message = f"stage {where} raised {message}"
            self.outbox.post(
                Failure(
                    "run",
                    type(exc).__name__,
                    exception_message(exc),
                    traceback.format_exc(),
                    where,
                    False,
                )
            )
        self.block.phase = probe.CLOSING
        if self.clock is not None:
            self.clock.finish()
        self.close_chain()
        end_memory, peak_rss = own_memory()  # the chain's, not pipebench's work below
        self.block.phase = probe.CLOSED
        self.finish_sections()
        stopped_by = self.stop_reason
        if status == FINISHED and stopped_by is not None:
            status = BUDGET_EXCEEDED if stopped_by == "memory_budget" else STOPPED
            message = self.stop_message(stopped_by)
            if self.clock is None:
                message += " (before the first batch, while the pipeline's factory ran"
                if stopped_by == "max_seconds":  # see runner.LOAD_ALLOWANCE_S
                    message += ", which the limit gives 120 s more"
                message += ")"
        self.block.phase = probe.DONE_PHASE
        self.outbox.post(Finished(status, stopped_by, message, peak_rss, end_memory))
        return code

    def stop_message(self, reason: str) -> str:
        cfg = self.config
        if reason == "max_seconds" and cfg.max_seconds is not None:
            return f"time limit of {cfg.max_seconds:g} s reached"
        if reason == "max_batches":
            return f"limit of {cfg.max_batches} batches reached"
        return STOP_MESSAGES.get(reason, f"stopped ({reason})")

    def fail_user(self, phase: str, exc: UserError) -> int:
        self.outbox.post(Failure(phase, "UserError", exc.message, exc.traceback, None, True))
        self.outbox.post(Finished(FAILED, None, exc.message))
        return EXIT_USER_ERROR


def _unwinding() -> bool:
    """Whether a ``StopRun`` is already on its way up the main thread: a ``finally`` block or
    an ``__exit__`` runs while it propagates (the exception being handled is the stop, or
    was raised while handling it). The parent signals a stop again until the chain closes;
    raising another one there would cut the pipeline's own cleanup short."""
    exc = sys.exc_info()[1]
    for _ in range(32):  # a __context__ chain is short; never loop on a cycle
        if exc is None:
            return False
        if isinstance(exc, StopRun):
            return True
        exc = exc.__context__
    return False


def section_samplers(ctx: SamplerContext, run: Run) -> list[SectionSampler]:
    """The child-only section samplers of this run (each factory may return None)."""
    from workbench.engine.sections import caches, parallel_sampler, resources
    from workbench.engine.sections.torch_cuda import make_torch_sampler

    factories: list[Callable[[SamplerContext], SectionSampler | None]] = [
        resources.make_sampler,
        make_torch_sampler,
        caches.make_sampler,
        parallel_sampler.make_sampler,
    ]
    out = []
    for make in factories:
        sampler = make(ctx)
        if sampler is not None:
            sampler.wake = run.wake_sections
            out.append(sampler)
    return out


def _watch_compiles(clock: Any) -> None:
    """Charge Numba's compilations to the stage running while they happen (if the pipeline
    imported Numba), so the compile time can be shown apart from the stage's own work."""
    if "numba" not in sys.modules:
        return
    try:
        from numba.core import event
    except ImportError:
        return

    class CompileListener(event.Listener):  # type: ignore[misc]
        def __init__(self) -> None:
            self.depth = 0
            self.started = 0

        def on_start(self, ev: Any) -> None:
            if self.depth == 0:
                self.started = time.perf_counter_ns()
            self.depth += 1

        def on_end(self, ev: Any) -> None:
            self.depth -= 1
            if self.depth == 0:
                clock.add_compile(time.perf_counter_ns() - self.started)

    event.register("numba:compile", CompileListener())


def _unique(names: tuple[str, ...]) -> tuple[str, ...]:
    """Stage names made unique (``tokenize``, ``tokenize#2``) so rows never merge."""
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}#{seen[n]}")
    return tuple(out)


def _prctl(option: int, value: int) -> None:
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(option, value)
    except (OSError, AttributeError):
        pass


def _record_roles(block: probe.Block) -> None:
    """Record what the processes the pipeline starts with ``multiprocessing`` are (a
    DataLoader worker, a plain child), for the parent's memory rows."""
    try:
        from multiprocessing import process
    except ImportError:  # pragma: no cover
        return
    original = process.BaseProcess.start

    def start(self: Any) -> None:
        target = getattr(self, "_target", None)  # start() deletes it
        where = f"{getattr(target, '__module__', '')}.{getattr(target, '__qualname__', '')}"
        original(self)
        role = (
            1 if "torch.utils.data" in where
            else 3 if "loky" in where
            else 4 if "distributed" in where
            else 2
        )  # fmt: skip
        if self.pid is not None:
            block.set_role(self.pid, role)

    process.BaseProcess.start = start  # type: ignore[method-assign]


def _mode_main(mode: str, cfg: RunConfig, outbox: Outbox, block: probe.Block) -> int:
    """Run one of the runner's other modes; returns the exit code."""
    if mode == "kernels":
        from workbench.engine.kernels.child import child_main as kernels_main

        return kernels_main(cfg, outbox)
    if mode == "lines":
        from workbench.engine.lines.child import child_main as lines_main

        return lines_main(cfg, outbox, block)
    raise ValueError(f"unknown runner mode {mode!r}")


def _default_signals() -> None:
    """In a process the pipeline forks (a multiprocessing producer, a DataLoader worker):
    SIGINT and SIGTERM do what they do without pipebench. Inherited, the runner's stop
    handler made ``terminate()`` raise a stop there instead of ending it, and its exit
    could then wait forever on a full queue."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def run_config(cfg: RunConfig, *, warm: bool = False) -> int:
    """Run what ``cfg`` asks in this process, its module imported already or not (a warm
    runner was forked from a process that imported it); returns the exit code."""
    if sys.platform.startswith("linux"):
        _prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: end with pipebench (or the warm server)
        _prctl(36, 1)  # PR_SET_CHILD_SUBREAPER: orphaned descendants stay in our tree
    if not warm and cfg.parent_pid is not None and os.getppid() != cfg.parent_pid:
        return EXIT_FAILED  # pipebench was gone before the signal was armed
    block = probe.Block.attach(cfg.block_fd)
    faulthandler.enable(file=2)  # the raw stderr pipe: crash messages
    install_streams(1)
    outbox = Outbox(cfg.events_fd)
    progress.set_sink(lambda what, done, total, unit: outbox.post(
        Progress(what, done, total, unit)))  # fmt: skip
    _record_roles(block)
    os.register_at_fork(after_in_child=_default_signals)
    # Whatever was inherited (`nohup … &` leaves SIGINT ignored, and a stop would never be
    # taken), SIGINT raises KeyboardInterrupt until a mode sets its own handler.
    _default_signals()
    try:
        if cfg.mode != "pipeline":
            if cfg.mode == "kernels":  # it takes SIGINT as KeyboardInterrupt, from now on
                block.phase = probe.LOADING
            code = _mode_main(cfg.mode, cfg, outbox, block)
        else:
            run = Run(cfg, outbox, block)
            signal.signal(signal.SIGINT, run.on_signal)
            signal.signal(signal.SIGTERM, run.on_signal)
            code = run.execute()
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    left = _left_running()
    if left:
        outbox.post(LeftRunning(left))
    return code if outbox.still_ours() else EXIT_EVENTS_CLOSED


def _left_running() -> tuple[int, ...]:
    """The processes below this runner still running (a server the pipeline started, a
    ``setsid`` helper): as it is their subreaper, none has escaped to init yet."""
    import psutil

    with contextlib.suppress(psutil.Error):
        return tuple(p.pid for p in psutil.Process().children(recursive=True))
    return ()


def read_request(fd: int = 0) -> dict[str, Any] | None:
    """The request ``engine.spawn`` sends on ``fd`` (stdin), read to end-of-file, then
    ``/dev/null`` in its place, as the pipeline's stdin; None when none came (the runner
    was not needed). Applies the request's changes to the environment."""
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, fd)
    os.close(null)
    if not chunks:
        return None
    request: dict[str, Any] = json.loads(b"".join(chunks))
    os.environ.update(request.get("env_set") or {})
    for key in request.get("env_unset") or ():
        os.environ.pop(key, None)
    return request


def main() -> int:
    request = read_request()  # waits here, the engine imported, for the run to be known
    if request is None:
        return EXIT_OK  # spawned ahead of a run that was not asked for
    return run_config(RunConfig(**request["config"]))


if __name__ == "__main__":
    # os._exit: a pipeline's leftover non-daemon threads must not keep the run alive.
    os._exit(main())
