"""Parent side of a run: spawn the runner child, measure it from outside, stop or kill it.

A ``RunHandle`` owns one runner child and three things that watch it from the parent:

- the events pipe (``Hello``, ``Sections``, ``Failure``, ``Finished``, ...), read by a thread
  into ``events``;
- the pipeline's output (``output``: one thread, a bounded ring of the newest lines);
- the watcher thread, which reads the shared counter block and the memory of the whole
  process tree (``sections.memory.TreeSampler``) at 20 Hz, enforces ``--max-seconds`` and
  the memory budget, puts a ``Snapshot`` on ``events`` every snapshot interval, and once the
  child is gone ends what it left running, then queues the final ``Snapshot`` and
  ``Exited`` (always last).

Stopping writes the reason into the counter block (the probe raises it at the next stage
boundary) and sends SIGINT (which interrupts a sleep or a blocking call); the child is
killed, with every process of its tree, if it has not ended within the grace period.
"""

from __future__ import annotations

import contextlib
import os
import queue
import select
import signal
import subprocess
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from typing import IO, TYPE_CHECKING, Any

from workbench.engine import probe
from workbench.engine.output import Output
from workbench.engine.protocol import (
    EXIT_EVENTS_CLOSED,
    Event,
    Exited,
    Finished,
    Hello,
    LeftRunning,
    Log,
    ProtocolError,
    RunConfig,
    Sections,
    Snapshot,
    StageSample,
    Started,
    decode,
)
from workbench.engine.reaper import REAPER
from workbench.engine.sections.memory import (
    BUDGET_MEASURES,
    MemorySection,
    MemoryTotals,
    TreeSampler,
)
from workbench.engine.spawn import spawn_runner, take_prestarted
from workbench.units import format_bytes

if TYPE_CHECKING:  # imported once the runner is spawned (see RunHandle.start)
    from workbench.engine.sections.gpu import GpuSampler
    from workbench.engine.sections.parallel import WorkersMemory
    from workbench.engine.sections.snapshot import SnapshotSections

#: How long a child gets to end by itself after a stop request before it is killed.
GRACE_S = 3.0
#: The watcher's tick: memory of the tree and the limits, checked this often.
TICK_S = 0.05
#: How long snapshots wait for the child's Hello after its chain started (a pipeline that
#: closed the events pipe never sends one: it is then measured from outside all the same).
HELLO_WAIT_S = 2.0
#: The tick near or past the memory budget, so that growth inside one C call is caught.
FAST_TICK_S = 0.002
#: Ticks between looks for new processes (and ``smaps_rollup`` reads for USS/PSS).
DISCOVER_EVERY = 5
#: Past the budget the run is stopped at once. Its tree is killed if its memory goes on
#: growing while the child has not taken the stop (no Python code of it has run since: it is
#: inside one C call) and the next reading would pass this factor of the budget, or if
#: ``BUDGET_SETTLE_S`` later it is still rising or still above this factor.
BUDGET_KILL_FACTOR = 1.1
BUDGET_SETTLE_S = 0.5
#: ``max_seconds`` counts from the chain's start; before it (the module's import, the
#: pipeline's factory preparing its data) the run has this much more.
LOAD_ALLOWANCE_S = 120.0
#: A stop not taken yet is signalled again this often until the grace period ends.
REINTERRUPT_S = 0.25


@dataclass(frozen=True)
class RunOptions:
    """Everything about a run besides its target."""

    params: dict[str, str] = field(default_factory=dict)
    max_batches: int | None = None
    max_seconds: float | None = None
    memory_budget: int | None = None  # bytes of ``budget_on``
    budget_on: str = "private"  # see sections.memory.BUDGET_MEASURES
    snapshot_s: float = 0.1
    grace_s: float = GRACE_S
    cwd: str | None = None
    mode: str = "pipeline"  # "pipeline", "kernels" or "lines"
    mode_options: dict[str, Any] = field(default_factory=dict)
    #: Fork the runner from a process that imported the module already (``engine.warm``):
    #: the same run without the import's wait. Falls back to a cold start, with a note.
    warm: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The options as reports record them."""
        return {
            "params": dict(self.params),  # as given (the report's params: after conversion)
            "max_batches": self.max_batches,
            "max_seconds": self.max_seconds,
            "memory_budget_bytes": self.memory_budget,
            "budget_on": self.budget_on,
            "snapshot_s": self.snapshot_s,
        }


class RunHandle:
    """One runner child process, its events, its output and its measures."""

    def __init__(self, target: str, options: RunOptions | None = None):
        self.target = target
        self.options = options or RunOptions()
        if self.options.budget_on not in BUDGET_MEASURES:
            raise ValueError(f"budget_on must be one of {BUDGET_MEASURES}")
        self.events: queue.Queue[Event] = queue.Queue()
        self.output: Output | None = None
        self.proc: Any = None  # a subprocess.Popen, or a warm server's ForkedProcess
        self.block: probe.Block  # the runner's counter block, set by start()
        self.started_at = 0.0  # monotonic seconds at spawn
        self.spawned_ns = 0  # CLOCK_MONOTONIC just before the runner was forked
        self.warm = False  # forked from a warm server
        self.tree: TreeSampler | None = None
        self.gpu: GpuSampler | None = None  # set by start(), as the two below
        self.sections: SnapshotSections | None = None  # the child's latest Sections values
        self._killed_by: str | None = None
        self._kill_timer: threading.Timer | None = None
        self._exited = threading.Event()
        self._events_done = threading.Event()
        self._events_closed = False  # EOF on the events pipe while the child lived on
        self._finished = False  # the child said Finished
        # The child's Hello passed (or will never come): snapshots go out after it, so a
        # follower never sees figures of stages it has not been told of.
        self._hello = threading.Event()
        self._budget: str | None = None
        self._chain_at: float | None = None  # monotonic seconds when the chain started
        self._held: set[int] = set()  # pids the reaper holds for this run
        self._left_running: tuple[int, ...] = ()  # the runner's last look below itself
        self._interrupted_at: float | None = None  # when the last SIGINT was sent
        self._lock = threading.Lock()

    # ---- lifecycle ------------------------------------------------------------------
    def start(self) -> RunHandle:
        """Start the runner child (a runner ``spawn.prestart`` spawned ahead, else a new one)
        and send it the run, then build what measures it: the runner boots (and imports the
        pipeline) while the parent imports the samplers' modules, which takes that long off
        the time to the first batch."""
        opts = self.options
        config = RunConfig(
            target=self.target,
            params=dict(opts.params),
            events_fd=-1,  # the descriptors are the runner's: filled in where it is started
            block_fd=-1,
            snapshot_s=opts.snapshot_s,
            max_batches=opts.max_batches,
            max_seconds=opts.max_seconds,
            parent_pid=os.getpid(),
            mode=opts.mode,
            options=dict(opts.mode_options),
        )
        started = self._start_warm(config) if opts.warm else None
        events, streams = started if started is not None else self._start_cold(config)
        assert self.proc is not None
        self.started_at = time.monotonic()
        REAPER.hold(self.proc.pid)
        from workbench.engine.sections.gpu import GpuSampler
        from workbench.engine.sections.snapshot import SnapshotSections

        self.gpu = GpuSampler()
        self.sections = SnapshotSections()
        self.tree = TreeSampler(
            self.proc.pid,
            budget=opts.memory_budget,
            budget_on=opts.budget_on,
            interval_s=TICK_S,
            roles=self.block.roles,
        )
        self.output = Output(*streams)
        self._thread(self._read_events, events)
        self._thread(self._watch)
        return self

    def _start_cold(self, config: RunConfig) -> tuple[IO[bytes], tuple[IO[bytes], IO[bytes]]]:
        """A fresh interpreter for the run (``engine.spawn``): the one spawned ahead of it
        where there is one, else a new one. Returns its events pipe and output streams."""
        runner = take_prestarted(self.options.cwd) or spawn_runner(self.options.cwd)
        self.block = runner.block
        self.spawned_ns = runner.spawned_ns
        self.proc = proc = runner.proc
        runner.send(asdict(config))
        assert proc.stdout is not None and proc.stderr is not None
        return os.fdopen(runner.events_fd, "rb"), (proc.stdout, proc.stderr)

    def _start_warm(
        self, config: RunConfig
    ) -> tuple[IO[bytes], tuple[IO[bytes], IO[bytes]]] | None:
        """A runner forked from the module's warm server (``engine.warm``): its events pipe
        and output streams; None, with a note in the log, where one cannot be had and the
        run must start cold."""
        from workbench.engine.warm import POOL

        if self.options.mode != "pipeline":
            return None
        try:
            server = POOL.server(self.target, self.options.cwd)
        except OSError as exc:
            self._note(f"started cold: no warm server ({exc})")
            return None
        if server is None:
            return None  # the first run of this module (or of a new version): cold
        if server.unsafe is not None:
            self._note(f"started cold: {server.unsafe}, so forking a warm copy is unsafe")
            return None
        if not server.usable:
            return None  # the module failed to import there: the cold runner says why
        block = probe.Block.create()
        events_r, events_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        self.spawned_ns = time.monotonic_ns()
        try:
            fds = [out_w, err_w, events_w, -1 if block.fd is None else block.fd]
            self.proc = server.fork(config, fds, self.options.cwd)
        except OSError as exc:
            for fd in (out_r, err_r, events_r):
                os.close(fd)
            block.close()
            self._note(f"started cold: the warm server failed ({exc})")
            return None
        finally:
            for fd in (out_w, err_w, events_w):
                os.close(fd)
        self.block = block
        self.warm = True
        return os.fdopen(events_r, "rb"), (os.fdopen(out_r, "rb"), os.fdopen(err_r, "rb"))

    def _note(self, text: str) -> None:
        self.events.put(Log("pipebench", text))

    def _thread(self, target: Any, *args: Any) -> threading.Thread:
        t = threading.Thread(
            target=target, args=args, daemon=True, name=f"pipebench-{target.__name__.strip('_')}"
        )
        t.start()
        return t

    def stop(self, reason: str = "user") -> None:
        """Ask the child to stop (its chain is closed, finally blocks run); kill it and its
        processes if it has not ended within the grace period. The first reason stays."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        with self._lock:
            first = self.block.stop_reason is None
            self.block.request_stop(reason)
            if self._kill_timer is None:
                why = "max_seconds" if reason == "max_seconds" else "stop_timeout"
                self._kill_timer = threading.Timer(self.options.grace_s, self._kill, (why,))
                self._kill_timer.daemon = True
                self._kill_timer.start()
        if first or reason in ("user", "sigterm", "sighup"):
            self._interrupt()

    def _interrupt(self) -> None:
        """SIGINT the child: its handler raises the stop where the main thread is."""
        proc = self.proc
        self._interrupted_at = time.monotonic()
        if self.block.phase == probe.STARTING:
            return  # no handler yet (a SIGINT would crash it): signalled again once it is set
        with contextlib.suppress(ProcessLookupError):
            if proc is not None:
                proc.send_signal(signal.SIGINT)

    def _interrupt_again(self, now: float) -> None:
        """Send the SIGINT again while a stop is not taken: C code that calls back into
        Python can swallow the exception a signal handler raised (the run then goes on, and
        outside a chain there is no stage boundary to raise it again). Not once the chain
        is closing (its finally blocks must run), nor in kernels mode."""
        if (
            self._interrupted_at is not None
            and self.block.stop_reason is not None
            and self.options.mode != "kernels"
            and self.block.phase < probe.CLOSING
            and now - self._interrupted_at >= REINTERRUPT_S
        ):
            self._interrupt()

    def kill(self, why: str = "user_kill") -> None:
        """Kill the child and every process of its tree now."""
        self._kill(why)

    def _kill(self, why: str) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        self._killed_by = self._killed_by or why
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        self._end_descendants()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the final ``Exited`` event to be queued; True if it was."""
        return self._exited.wait(timeout)

    @property
    def running(self) -> bool:
        return not self._exited.is_set()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    # ---- measuring --------------------------------------------------------------------
    def snapshot(self, now_ns: int | None = None) -> Snapshot | None:
        """The run's counters and measures now; None before the chain is built."""
        r = self.block.read(now_ns)
        if r is None or self.tree is None or self.sections is None or self.gpu is None:
            return None
        stages = tuple(
            StageSample(r.items[i], r.batches[i], r.self_ns[i], r.done[i], r.compile_ns[i])
            for i in range(len(r.items))
        )
        child = self.sections
        memory = self.tree.section()
        parallel = child.parallel
        if parallel is not None:
            parallel = replace(parallel, workers_memory=workers_memory(memory))
        contexts = child.contexts
        if contexts is not None and contexts.now_s is None and contexts.origin_ns is not None:
            # A live reading: the run's clock now (frozen at the chain's end once it ended),
            # for the running time of open contexts.
            clock_ns = self.block.words[probe.START_NS] + r.elapsed_ns
            contexts = replace(contexts, now_s=max(0.0, (clock_ns - contexts.origin_ns) / 1e9))
        sections = replace(
            child,
            contexts=contexts,
            torch_cuda=None,
            gpu=self.gpu.read(set(self.tree.live_pids()), child.torch_cuda),
            parallel=parallel,
        )
        return Snapshot(
            elapsed_ns=r.elapsed_ns,
            stages=stages,
            sink_ns=r.self_ns[-1],
            memory=memory,
            failed_stage=r.failed,
            sections=sections,
            running=r.running,
            idle_ns=r.idle_ns,
            spawned_ns=self.spawned_ns,
            first_batch_ns=r.first_batch_ns,
        )

    # ---- threads --------------------------------------------------------------------
    def _read_events(self, f: IO[bytes]) -> None:
        with f:
            for line in f:
                try:
                    ev = decode(line)
                except ProtocolError as exc:
                    self.events.put(Log("pipebench", f"ignored a bad event line: {exc}"))
                    continue
                if isinstance(ev, Sections):
                    if self.sections is not None:  # set before this thread started
                        self.sections = self.sections.updated(ev.values)
                    continue
                if isinstance(ev, LeftRunning):
                    self._left_running = ev.pids
                    continue
                if isinstance(ev, Hello):
                    self.events.put(ev)
                    self._hello.set()
                    continue
                if isinstance(ev, Started):
                    if self.tree is not None and ev.memory:
                        self.tree.runner_start(
                            MemoryTotals(**ev.memory),  # type: ignore[arg-type]
                            ev.startup_peak_rss_bytes,
                        )
                    continue
                if isinstance(ev, Finished):
                    self._finished = True
                    if self.tree is not None:
                        self.tree.runner_peak_rss = ev.peak_rss_bytes
                        if ev.memory:
                            self.tree.runner_end(MemoryTotals(**ev.memory))  # type: ignore[arg-type]
                self.events.put(ev)
        proc = self.proc
        if proc is not None and not self._finished and _still_running(proc, 0.5):
            self._events_closed = True
            self.events.put(
                Log(
                    "pipebench",
                    "the pipeline closed pipebench's events pipe: its own report is lost; "
                    "the run goes on, measured from outside",
                )
            )
        self._events_done.set()

    def _watch(self) -> None:
        """Sample the tree, enforce the limits, queue snapshots; at the end, clean up."""
        proc, tree, opts = self.proc, self.tree, self.options
        assert proc is not None and tree is not None
        budget = opts.memory_budget
        tick = 0
        next_snapshot = time.monotonic()
        marked = False
        over_since: float | None = None
        over_at = 0  # the most the tree held in the first half of the settling time
        last: int | None = None  # the previous reading
        waiter = _ExitWaiter(proc)
        while proc.poll() is None:
            now = time.monotonic()
            discover = tick % DISCOVER_EVERY == 0 or (budget and opts.budget_on == "pss")
            # Read before the sample: a reading taken once the chain has closed would hold
            # pipebench's own last work in the runner, not the run's.
            closed = self.block.phase >= probe.CLOSED
            if not closed:
                tree.sample(discover=bool(discover))
            if discover:
                self._hold_new()
            tick += 1
            if not marked and self.block.started:
                marked = True
                tree.mark_start()
                self._chain_at = now
            # ---- the memory budget
            measure = tree.measure()
            fast = False
            if budget and measure is not None:
                if over_since is None and measure > budget:
                    over_since, over_at = now, measure
                    tree.budget_crossed_ns = time.monotonic_ns()
                    self._budget = self._budget_message(measure)
                    self.stop("memory_budget")
                if over_since is not None:
                    fast = True
                    step = max(0, measure - last) if last is not None else 0
                    settled = now - over_since >= BUDGET_SETTLE_S
                    # Growth that goes on while the child has not taken the stop (inside
                    # one C call, say) is killed before the next reading would pass the
                    # limit, not after; a child that took it gets BUDGET_SETTLE_S to end by
                    # itself (its finally blocks run).
                    going_on = (
                        now > over_since
                        and step > 0
                        and not self.block.stop_seen_ns
                        and measure + 2 * step > BUDGET_KILL_FACTOR * budget
                    )
                    if not settled and now - over_since < BUDGET_SETTLE_S / 2:
                        over_at = max(over_at, measure)  # where the stop left it
                    late = settled and (
                        measure > over_at + budget // 100 or measure > BUDGET_KILL_FACTOR * budget
                    )
                    if (going_on or late) and tree.budget_killed_ns is None:
                        tree.budget_killed_ns = time.monotonic_ns()
                        tree.budget_at_kill = measure
                        self._budget = self._budget_message(max(measure, over_at))
                        self._kill("memory_budget")
                fast = fast or measure >= 0.75 * budget
                last = measure
            # ---- the time limit: the chain's; its import and data preparation get more
            if opts.max_seconds is not None:
                if self._chain_at is not None:
                    if now - self._chain_at >= opts.max_seconds:
                        self.stop("max_seconds")
                elif now - self.started_at >= opts.max_seconds + LOAD_ALLOWANCE_S:
                    self.stop("max_seconds")
            self._interrupt_again(now)
            # ---- snapshots
            hello = self._hello.is_set() or (
                self._chain_at is not None and now - self._chain_at > HELLO_WAIT_S
            )
            if marked and hello and now >= next_snapshot:
                snap = self.snapshot()
                if snap is not None:
                    self.events.put(snap)
                next_snapshot = max(next_snapshot + opts.snapshot_s, now)
            waiter.wait(FAST_TICK_S if fast else TICK_S)
        waiter.close()
        self._after_exit()

    def _hold_new(self) -> None:
        tree = self.tree
        if tree is None:
            return
        for pid in tree.live_pids():
            if pid not in self._held:
                self._held.add(pid)
                REAPER.hold(pid)

    def _budget_message(self, measure: int) -> str:
        tree = self.tree
        assert tree is not None and self.options.memory_budget is not None
        who = tree.heaviest() if len(tree.procs) > 1 else None
        most = f"; most in the {who[0]}: {format_bytes(who[1])}" if who else ""
        reading = self.block.read()
        at = (
            f" at batch {reading.batches[-1]:,}"
            if reading is not None
            else " before the chain started (the import or the data preparation)"
        )
        held, budget = format_bytes(measure), format_bytes(self.options.memory_budget)
        if held == budget:  # just past it: enough digits to see that it is past
            held, budget = (f"{v / 2**20:,.2f} MiB" for v in (measure, self.options.memory_budget))
        return (
            f"{self.options.budget_on} memory {held} passed the memory budget of {budget}{at}{most}"
        )

    def _budget_passed_between_readings(self) -> None:
        """A peak past the budget that no reading caught (a run that ended within a tick of
        its spike; an RSS peak only the kernel's high-water mark saw) still fails the run:
        a budget is a promise about the peak, not about the readings."""
        tree, budget = self.tree, self.options.memory_budget
        if tree is None or not budget or self._budget is not None:
            return
        peak = tree.peak.measure(self.options.budget_on)
        if peak is not None and peak > budget:
            self._budget = (
                f"{self.options.budget_on} memory peaked at {format_bytes(peak)}, past the "
                f"memory budget of {format_bytes(budget)}, between two readings "
                f"({TICK_S * 1000:.0f} ms apart)"
            )

    def _end_descendants(self) -> list[str]:
        """Kill every process of the run's tree still alive; describe each one ended."""
        tree = self.tree
        ended: list[str] = []
        if tree is None:
            return ended
        tree.discover()
        for pid in self._left_running:  # what the runner saw below it as it exited
            tree.adopt(pid)
        tree.ended()
        for p in tree.procs.values():
            if not p.alive or (self.proc is not None and p.pid == self.proc.pid):
                continue
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(p.pid, signal.SIGKILL)
                ended.append(f"{p.role} {p.name} (pid {p.pid})")
            p.alive = False
        return ended

    def _after_exit(self) -> None:
        proc, tree = self.proc, self.tree
        assert proc is not None and tree is not None
        if self._kill_timer is not None:
            self._kill_timer.cancel()
        tree.ended()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # what is left of its process group
        # The runner's last word (``LeftRunning``: the processes it left below itself, which
        # only it could see) is read before they are ended: the events thread may not have
        # had it yet. A grandchild that inherited the pipe could hold it open: never wait
        # long, and again once it is ended.
        self._events_done.wait(2.0)
        ended = self._end_descendants()
        for pid in [proc.pid, *self._held]:
            REAPER.release(pid)
        self._events_done.wait(2.0)
        if self.output is not None:
            self.output.done.wait(2.0)
        final = self.snapshot()
        if final is not None:
            if tree.procs:
                assert self.gpu is not None and self.sections is not None  # as final is
                gpu = self.gpu.close(set(), self.sections.torch_cuda)
                final = replace(final, sections=replace(final.sections, gpu=gpu))
            self.events.put(final)
        self._budget_passed_between_readings()
        code = proc.returncode
        sig = signal.Signals(-code).name if code < 0 else None
        out = self.output
        self.events.put(
            Exited(
                returncode=code,
                signal=sig,
                killed_by=self._killed_by,
                stderr_tail=tuple(out.stderr_tail) if out else (),
                stop_reason=self.block.stop_reason,
                crash=out.crash_line() if out else None,
                ended=tuple(ended),
                # Said live when the pipeline lived on; known from the exit code when it
                # ended right after closing the pipe.
                events_closed=self._events_closed
                or (code == EXIT_EVENTS_CLOSED and not self._finished),
                budget=self._budget,
            )
        )
        self._exited.set()


#: Roles of the processes that work for parallel stages (``sections.memory``'s roles).
WORKER_ROLES = ("loky worker", "Dask worker", "multiprocessing child")


def workers_memory(memory: MemorySection) -> tuple[WorkersMemory, ...]:
    """The memory of the processes that work for parallel stages, per role, as the parent
    measured it (for the parallel section: its workers' memory, from outside)."""
    from workbench.engine.sections.parallel import WorkersMemory

    return tuple(
        WorkersMemory(role, count, now.private, peak.private, peak.rss)
        for role, count, now, peak in memory.groups()
        if role in WORKER_ROLES
    )


class _ExitWaiter:
    """Waits up to ``wait(timeout)`` seconds for ``proc`` to end in one system call (a
    pidfd, which works for a warm server's child too), so the watcher wakes at its tick and
    not at each of ``Popen.wait``'s polling steps; ``Popen.wait`` where there is no pidfd."""

    def __init__(self, proc: Any):
        self.proc = proc
        self.poller: Any = None
        self.fd = -1
        with contextlib.suppress(AttributeError, OSError):  # not Linux >= 5.3, or gone
            self.fd = os.pidfd_open(proc.pid)
            self.poller = select.poll()
            self.poller.register(self.fd, select.POLLIN)

    def wait(self, timeout: float) -> None:
        if self.poller is not None:
            self.poller.poll(timeout * 1000)
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd, self.poller = -1, None


def _still_running(proc: subprocess.Popen[bytes], wait_s: float) -> bool:
    """Whether ``proc`` is still running ``wait_s`` from now (a process that is exiting
    closes its pipes a moment before it can be waited for)."""
    try:
        proc.wait(wait_s)
    except subprocess.TimeoutExpired:
        return True
    return False


def start_run(target: str, options: RunOptions | None = None) -> RunHandle:
    """Spawn a runner child for ``target`` and return its handle."""
    return RunHandle(target, options).start()
