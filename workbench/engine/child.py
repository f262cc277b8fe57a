"""The runner child: loads one pipeline, runs its probed chain, reports on its own pipe.

Started by ``runner.py`` as ``python -m workbench.engine.child`` with its configuration in
the environment. The main thread runs the pipeline and does nothing else; a sampler thread
reads the counters and memory and hands snapshots to a writer thread, which keeps only the
latest unsent one, so a slow reader never blocks the pipeline.
"""

from __future__ import annotations

import contextlib
import faulthandler
import json
import os
import signal
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from workbench.authoring.pipeline import stage_name
from workbench.engine import probe
from workbench.engine.loader import (
    load_module,
    missing_requirement,
    parse_target,
    resolve_params,
    select_pipeline,
)
from workbench.engine.protocol import (
    BUDGET_EXCEEDED,
    FAILED,
    FINISHED,
    STOPPED,
    Event,
    Failure,
    Finished,
    Hello,
    Log,
    Snapshot,
    StageSample,
    encode,
)
from workbench.engine.sections import SamplerContext, SectionSampler, section_samplers
from workbench.engine.sections.lru_timing import install as time_lru_cache_misses
from workbench.engine.sections.memory import MemorySampler
from workbench.errors import StopRun, UserError

CONFIG_ENV = "PIPEBENCH_RUN_CONFIG"
#: The GIL switch interval in the child. With CPython's default (5 ms), the sampler thread
#: waits up to 5 ms for the GIL after each of its small /proc reads while a stage loops in
#: pure Python, and snapshots came seconds apart. A shorter interval costs the pipeline
#: nothing while no other thread asks for the GIL.
SWITCH_INTERVAL_S = 0.0005
EXIT_OK, EXIT_FAILED, EXIT_USER_ERROR = 0, 1, 2


@dataclass(frozen=True)
class RunConfig:
    """What the parent asks of one run."""

    target: str
    params: dict[str, str]
    events_fd: int
    snapshot_s: float = 0.1
    sample_s: float = 0.02
    uss_s: float = 0.25
    max_batches: int | None = None
    max_seconds: float | None = None
    memory_budget: int | None = None
    parent_pid: int | None = None
    pdeathsig: bool = False
    mode: str = "pipeline"  # a key of MODES
    options: dict[str, Any] = field(default_factory=dict)  # mode-specific


#: What a runner child can do besides running a pipeline: mode -> "module:function", the
#: function taking (RunConfig, Outbox) and returning the exit code.
MODES: dict[str, str] = {}
MODES["kernels"] = "workbench.engine.kernels.child:child_main"
MODES["lines"] = "workbench.engine.lines.child:child_main"


class Outbox:
    """Writes events on the events pipe from its own thread.

    Ordinary events are all delivered in order; of the snapshots, only the latest
    unsent one is kept, so a reader that falls behind costs nothing but resolution.
    """

    def __init__(self, fd: int):
        self._file = os.fdopen(fd, "w", buffering=1 << 16, encoding="utf-8")
        self._cond = threading.Condition()
        self._queue: deque[Event] = deque()
        self._snapshot: Snapshot | None = None
        self._closed = False
        self._broken = False
        self.beat: Any = None  # called after each write: see Clock.set_starve
        self._thread = threading.Thread(target=self._loop, name="pipebench-writer", daemon=True)
        self._thread.start()

    def post(self, event: Event) -> None:
        with self._cond:
            self._queue.append(event)
            self._cond.notify()

    def offer(self, snapshot: Snapshot) -> None:
        with self._cond:
            self._snapshot = snapshot
            self._cond.notify()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue and self._snapshot is None and not self._closed:
                    self._cond.wait()
                batch: list[Event] = list(self._queue)
                self._queue.clear()
                if self._snapshot is not None:
                    # A snapshot goes before the events queued with it: the final
                    # snapshot is offered before the Finished event is posted.
                    batch.insert(0, self._snapshot)
                    self._snapshot = None
                closing = self._closed
            if batch and not self._broken:
                try:
                    self._file.write("".join(encode(e) for e in batch))
                    self._file.flush()
                    if self.beat is not None:
                        self.beat()
                except (BrokenPipeError, OSError):
                    self._broken = True  # the parent is gone; keep running, drop events
            if closing and not batch:
                return

    def close(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout)
        with contextlib.suppress(OSError):
            self._file.close()


class Run:
    """One run of one pipeline in this process."""

    def __init__(self, config: RunConfig, outbox: Outbox):
        self.config = config
        self.outbox = outbox
        self.memory = MemorySampler()
        self.clock: Any = None
        self.stage_names: tuple[str, ...] = ()
        self.probes: list[Any] = []
        self.sections: list[SectionSampler] = []
        self.running = False
        self.stop_reason: str | None = None
        self.budget_batch: int | None = None
        self._main_ident = threading.main_thread().ident
        self._sampler_stop = threading.Event()

    # ---- stopping -------------------------------------------------------------------
    def request_stop(self, reason: str) -> None:
        """Ask the main thread to end the run (from any thread)."""
        if self.stop_reason is None:
            self.stop_reason = reason
        if threading.get_ident() == self._main_ident:
            if self.running:
                raise StopRun(reason)
        else:
            signal.pthread_kill(self._main_ident, signal.SIGINT)  # type: ignore[arg-type]

    def on_signal(self, signum: int, frame: Any) -> None:
        self.request_stop(self.stop_reason or "user")

    # ---- sampling -------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        r = probe.read(self.clock)
        stages = tuple(
            StageSample(r.items[i], r.batches[i], r.self_ns[i], r.done[i])
            for i in range(len(r.items))
        )
        sections = {}
        for sampler in self.sections:
            try:
                sections[sampler.section] = sampler.read()
            except Exception as exc:  # one broken sampler must not end the run
                sections[sampler.section] = {"unavailable": f"{type(exc).__name__}: {exc}"}
        # A stop raises through the stages too: that is no stage failing.
        failed = r.failed if self.stop_reason is None else -1
        return Snapshot(
            r.elapsed_ns, stages, r.self_ns[-1], self.memory.reading(), failed, sections
        )

    def _sampler(self) -> None:
        cfg = self.config
        start = time.monotonic()
        next_snapshot = next_uss = start
        while not self._sampler_stop.wait(cfg.sample_s):
            now = time.monotonic()
            rss = self.memory.sample_rss()
            if cfg.memory_budget and rss > cfg.memory_budget and self.stop_reason is None:
                self.budget_batch = probe.read(self.clock).batches[-1]
                self.request_stop("memory_budget")
            elapsed = now - start
            if cfg.max_seconds is not None and elapsed >= cfg.max_seconds and not self.stop_reason:
                self.request_stop("max_seconds")
            if cfg.parent_pid is not None and os.getppid() != cfg.parent_pid:
                os._exit(EXIT_FAILED)  # the parent is gone: nobody to report to
            if now >= next_uss:
                self.memory.sample_uss()
                next_uss = max(next_uss + cfg.uss_s, now)
            if now >= next_snapshot - cfg.sample_s / 2:  # on the nearest sampling tick
                self.outbox.offer(self.snapshot())
                next_snapshot = max(next_snapshot + cfg.snapshot_s, now)
            self.clock.beat()

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
        self.sections = section_samplers(SamplerContext(module, pipe, params))
        return pipe, params

    def build(self, pipe: Any, params: dict[str, Any]) -> Iterator[Any]:
        try:
            parts = pipe(**params)
        except StopRun:
            raise
        except BaseException as exc:
            raise UserError(
                f"pipeline {pipe.name}: its factory raised {type(exc).__name__}: {exc}",
                traceback=traceback.format_exc(),
            ) from None
        if not isinstance(parts, (tuple, list)) or not parts:
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
        try:
            upstream = iter(source)
        except TypeError:
            raise UserError(
                f"pipeline {pipe.name}: the source ({type(source).__name__}) is not iterable"
            ) from None
        names = (stage_name(source),) + tuple(stage_name(s) for s in stages)
        self.stage_names = _unique(names)
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
        self.memory.mark_start()
        self.clock = probe.make_clock(len(names))
        # If the sampler and writer threads go this long without the GIL, the probe steps
        # aside for 0.1 ms at the next stage boundary so that they get it.
        self.clock.set_starve(int(max(0.05, 2.5 * self.config.sample_s) * 1e9))
        self.outbox.beat = self.clock.beat
        self.probes = [probe.make_probe(self.clock, 0, upstream)]
        for i, s in enumerate(stages, start=1):
            out = s(self.probes[-1])
            self.clock.charge(i)  # a stage that does work when called (not a generator)
            if not isinstance(out, Iterator):
                raise UserError(
                    f"stage {self.stage_names[i]} returned {type(out).__name__}, not an "
                    "iterator: make it a generator (use yield) or return iter(...)"
                )
            self.probes.append(probe.make_probe(self.clock, i, out))
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
            if not probe.read(self.clock).done[-1]:
                self.stop_reason = self.stop_reason or "max_batches"
        else:
            for _ in chain:
                pass

    def close_chain(self) -> None:
        """Close every stage, last first, so that their finally blocks and with-blocks run."""
        for p in reversed(self.probes):
            try:
                p.close()
            except BaseException as exc:  # a finally block that raises
                self.outbox.post(
                    Log("pipebench", f"closing stage {p.index} raised {type(exc).__name__}: {exc}")
                )
        # An iterator without close() (a DataLoader's, map, zip) still holds the generator it
        # wraps: let go of the chain so that such generators are finalized, and their
        # finally blocks and with-blocks run, now rather than never (the child ends with
        # os._exit, which runs no finalizers).
        self.probes.clear()

    def execute(self) -> int:
        self.running = True  # a stop while the module imports ends the run too
        try:
            pipe, params = self.load()
        except UserError as exc:
            self.running = False
            return self.fail_user("load", exc)
        except StopRun:
            self.running = False
            self.outbox.post(Finished(STOPPED, self.stop_reason, "stopped while loading"))
            return EXIT_OK
        sampler = threading.Thread(target=self._sampler, name="pipebench-sampler", daemon=True)
        status, message, code = FINISHED, None, EXIT_OK
        chain: Iterator[Any] | None = None
        try:
            self.running = True
            try:
                chain = self.build(pipe, params)
                sampler.start()
                self.drive(chain)
            finally:
                self.running = False
                chain = None  # self.probes alone holds the chain now (see close_chain)
        except UserError as exc:
            return self.fail_user("build", exc)
        except StopRun:
            pass
        except BaseException as exc:
            status, code = FAILED, EXIT_FAILED
            failed = self.clock.read()[5] if self.clock is not None else -1
            where = self.stage_names[failed] if 0 <= failed < len(self.stage_names) else None
            message = f"{type(exc).__name__}: {exc}"
            if where:
                message = f"stage {where} raised {message}"
            self.outbox.post(
                Failure(
                    "run",
                    type(exc).__name__,
                    str(exc),
                    traceback.format_exc(),
                    where,
                    False,
                )
            )
        if self.clock is not None:
            self.clock.finish()
        self.close_chain()
        self._sampler_stop.set()
        if sampler.is_alive():
            sampler.join()
        for section in self.sections:
            try:
                section.close()
            except Exception as exc:
                self.outbox.post(Log("pipebench", f"{section.section} sampler: {exc}"))
        if self.clock is not None:
            self.memory.sample_rss()
            self.memory.sample_uss()
            self.outbox.offer(self.snapshot())
        if status == FINISHED and self.stop_reason is not None:
            status = BUDGET_EXCEEDED if self.stop_reason == "memory_budget" else STOPPED
            message = self.stop_message()
        self.outbox.post(Finished(status, self.stop_reason, message))
        return code

    def stop_message(self) -> str:
        reason = self.stop_reason
        cfg = self.config
        if reason == "memory_budget":
            from workbench.units import format_bytes

            return (
                f"RSS passed the memory budget of {format_bytes(cfg.memory_budget)} "
                f"at batch {self.budget_batch} (peak {format_bytes(self.memory.rss_peak)})"
            )
        if reason == "max_seconds":
            return f"time limit of {cfg.max_seconds:g} s reached"
        if reason == "max_batches":
            return f"limit of {cfg.max_batches} batches reached"
        return "stopped by the user"

    def fail_user(self, phase: str, exc: UserError) -> int:
        self.outbox.post(Failure(phase, "UserError", exc.message, exc.traceback, None, True))
        self.outbox.post(Finished(FAILED, None, exc.message))
        return EXIT_USER_ERROR


def _unique(names: tuple[str, ...]) -> tuple[str, ...]:
    """Stage names made unique (``tokenize``, ``tokenize#2``) so rows never merge."""
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}#{seen[n]}")
    return tuple(out)


def _set_pdeathsig() -> None:
    """Linux: have the kernel kill this process when the parent thread that started it dies."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def main() -> int:
    cfg = RunConfig(**json.loads(os.environ.pop(CONFIG_ENV)))
    if cfg.pdeathsig and sys.platform.startswith("linux"):
        _set_pdeathsig()
    if cfg.parent_pid is not None and os.getppid() != cfg.parent_pid:
        return EXIT_FAILED
    faulthandler.enable()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    outbox = Outbox(cfg.events_fd)
    try:
        if cfg.mode != "pipeline":
            module_name, _, func = MODES[cfg.mode].partition(":")
            import importlib

            code = getattr(importlib.import_module(module_name), func)(cfg, outbox)
        else:
            run = Run(cfg, outbox)
            signal.signal(signal.SIGINT, run.on_signal)
            signal.signal(signal.SIGTERM, run.on_signal)
            code = run.execute()
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        outbox.close()
    sys.stdout.flush()
    sys.stderr.flush()
    return code


if __name__ == "__main__":
    # os._exit: a pipeline's leftover non-daemon threads must not keep the run alive.
    os._exit(main())
