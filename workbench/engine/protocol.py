"""The runner protocol: frozen events and their JSON-lines form, one event per line.

The child writes its events on a pipe of its own (never stdout, which belongs to user code):
``Hello``, ``Sections``, ``Log`` (pipebench's own lines), ``Failure``, ``Finished`` and the
kernels and line-profile results. The parent adds the rest: ``Snapshot`` (built from the
counter block, its own memory readings and the child's latest sections) and one ``Exited``
when the process is gone. The pipeline's own output travels apart (``engine.output``).
Every line carries the protocol version ``v``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Union

if TYPE_CHECKING:  # imported where an event needs them: a runner starts without them
    from workbench.engine.sections.memory import MemorySection
    from workbench.engine.sections.snapshot import SnapshotSections

VERSION = 2

#: Final statuses of a run.
FINISHED, STOPPED, FAILED, BUDGET_EXCEEDED, CRASHED = (
    "finished",
    "stopped",
    "failed",
    "budget_exceeded",
    "crashed",
)
FINAL_STATUSES = (FINISHED, STOPPED, FAILED, BUDGET_EXCEEDED, CRASHED)


class ProtocolError(ValueError):
    """A line from the child that is not a valid event of this protocol version."""


#: The runner's exit code when the pipeline closed (or reused) the events pipe's descriptor:
#: whatever the run did, its own report was lost, and the parent says so (a pipe closed
#: just before an exit looks like the exit itself there).
EXIT_EVENTS_CLOSED = 4


@dataclass(frozen=True)
class RunConfig:
    """What the parent asks of one run."""

    target: str
    params: dict[str, str]
    events_fd: int
    block_fd: int
    snapshot_s: float = 0.1
    max_batches: int | None = None
    max_seconds: float | None = None  # enforced by the parent; kept for messages
    parent_pid: int | None = None
    mode: str = "pipeline"  # "pipeline", "kernels" or "lines"
    options: dict[str, Any] = field(default_factory=dict)  # mode-specific


@dataclass(frozen=True)
class Hello:
    """The child loaded the pipeline and built its chain."""

    pid: int
    pipeline: str
    module: str
    path: str
    params: dict[str, Any]
    stages: tuple[str, ...]
    probe: str  # "c" or "python"
    python: str
    started_at: float  # epoch seconds


@dataclass(frozen=True)
class LeftRunning:
    """The runner's last word before it exits: the processes below it still running (it is
    their subreaper, so none escaped), which the parent ends and names. Consumed by the
    runner handle."""

    pids: tuple[int, ...]


@dataclass(frozen=True)
class Started:
    """The chain's first ``next()`` comes now. ``memory``: the runner's own reading of its
    memory just before it (``MemoryTotals`` fields, bytes: rss, anon, file, shmem, uss, pss;
    from ``/proc/self/status`` and ``smaps_rollup``), the start of the run's memory figures.
    Consumed by the runner handle."""

    memory: dict[str, int | None]
    #: The runner's RSS high-water mark before the chain (import and data preparation,
    #: VmHWM read just before the runner reset it to cover the chain only), bytes.
    startup_peak_rss_bytes: int | None = None


@dataclass(frozen=True)
class StageSample:
    """Counters of one stage (position 0 is the source) at one moment; times in ns."""

    items: int
    batches: int
    self_ns: int
    done: bool
    compile_ns: int = 0  # JIT (Numba) compilation inside this stage's self time


@dataclass(frozen=True)
class Snapshot:
    """All counters of the run at one moment, built by the parent at the snapshot rate."""

    elapsed_ns: int
    stages: tuple[StageSample, ...]
    sink_ns: int
    memory: MemorySection | None
    failed_stage: int = -1
    sections: SnapshotSections = field(default_factory=lambda: _sections().SnapshotSections())
    running: int = -1  # the stage running at this moment (len(stages): the sink)
    idle_ns: int = 0  # time since the last stage boundary was crossed
    spawned_ns: int | None = None  # CLOCK_MONOTONIC when the runner process was started
    first_batch_ns: int | None = None  # CLOCK_MONOTONIC when the first batch left the chain


@dataclass(frozen=True)
class Sections:
    """The child's latest values of the sections only it can read (caches, contexts,
    torch.cuda, parallel stages); sent at most once per snapshot interval."""

    values: SnapshotSections


@dataclass(frozen=True)
class Progress:
    """A long step of the pipeline before its batches (``workbench.progress``)."""

    what: str
    done: float
    total: float | None = None
    unit: str = ""


@dataclass(frozen=True)
class Log:
    """A line the pipeline printed (stream "stdout" or "stderr"), or one of pipebench's."""

    stream: str
    text: str


@dataclass(frozen=True)
class Failure:
    """Something went wrong; ``phase`` is "load", "build" or "run"."""

    phase: str
    type: str
    message: str
    traceback: str | None = None
    stage: str | None = None
    user_error: bool = True  # a bad input (exit 2) rather than a pipeline failing mid-run


@dataclass(frozen=True)
class Finished:
    """The child's last word: how the run ended and why."""

    status: str
    reason: str | None = None  # "user", "max_batches", "max_seconds", "memory_budget"
    message: str | None = None
    #: The runner's own RSS high-water mark at its end (VmHWM, reset at the chain's start):
    #: its peak over the chain even where the run was too short for the parent's readings.
    peak_rss_bytes: int | None = None
    #: The runner's own reading of its memory as its chain had closed (``MemoryTotals``
    #: fields, bytes; empty if unreadable): its end figures, which a parent's reading taken
    #: a tick before could show in the middle of a spike.
    memory: dict[str, int | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Exited:
    """Synthesised by the parent when the child process is gone."""

    returncode: int
    signal: str | None = None
    killed_by: str | None = None  # why the parent killed it, if it did
    stderr_tail: tuple[str, ...] = field(default_factory=tuple)
    stop_reason: str | None = None  # the stop the parent asked for, if any
    crash: str | None = None  # the stderr line that says why the process died
    ended: tuple[str, ...] = ()  # processes of the run pipebench ended after it
    events_closed: bool = False  # the pipeline closed pipebench's events pipe
    budget: str | None = None  # what passed the memory budget, when one was passed


@dataclass(frozen=True)
class KernelEnvironment:
    """A kernels run's machine, thread settings, GEMM probe and plan, before any timing.

    ``round`` is the process's index among the fresh processes of a ``--rigorous`` run.
    ``threads``: requested, blas, openmp, numba, torch; ``gemm``: the probe's n, samples
    and GFLOP/s (or ``error``), with the CUDA device's under "cuda" where one ran; ``kernels``: one dict per kernel set to run (name, doc,
    sizes, impls, reference, unavailable {label: reason}, flops, bytes).
    """

    pid: int
    module: str
    path: str
    round: int
    python: str
    versions: dict[str, str]
    cpu: str
    cpus: int
    threads: dict[str, Any]
    gemm: dict[str, Any] | None
    kernels: tuple[dict[str, Any], ...]
    settings: dict[str, Any]
    started_at: float


@dataclass(frozen=True)
class KernelResult:
    """One implementation of one kernel at one size: measured, or why not.

    ``status`` is "ok" (timed; see ``correct``), "error" (raised, failed to compile or
    returned the wrong shape or type) or "skipped" (too slow: ``skipped`` says why).
    ``samples`` are seconds per call, one per sample of ``loops`` calls.
    """

    kernel: str
    size: int
    impl: str
    round: int
    status: str
    correct: bool | None = None
    check: str | None = None
    error: str | None = None
    traceback: str | None = None
    first_call_s: float | None = None
    compile_s: float | None = None  # time Numba spent compiling in the first call
    compiles: int = 0
    recompiles: int = 0  # compilations seen during warm-up and timing
    warmup_s: float = 0.0
    loops: int = 0
    samples: tuple[float, ...] = ()
    low_n: str | None = None
    skipped: str | None = None
    flops: float | None = None
    bytes: float | None = None
    reference: bool = False
    device: str | None = None  # "cuda" for GPU implementations (GEMM fraction of the GPU)


@dataclass(frozen=True)
class LineStat:
    """One source line of a line-profiled function: its hits and time, in seconds.

    ``upstream_s`` is the time this line spent waiting on upstream stages (pulling the
    next item); it is taken out of ``time_s`` so that a stage's lines add up to its own work.
    """

    line: int
    hits: int
    time_s: float
    upstream_s: float = 0.0


@dataclass(frozen=True)
class ProfiledFunction:
    """One function under ``line_profiler``: its source and the lines that ran."""

    name: str  # qualified name
    module: str
    path: str
    first_line: int
    source: tuple[str, ...]  # the function's lines, from first_line on
    lines: tuple[LineStat, ...]
    stage: str | None = None  # the stage this function is; None for a ``--function``

    def __post_init__(self) -> None:  # decoded from JSON: lists and dicts
        object.__setattr__(self, "source", tuple(self.source))
        object.__setattr__(
            self,
            "lines",
            tuple(s if isinstance(s, LineStat) else LineStat(**s) for s in self.lines),
        )

    @property
    def total_s(self) -> float:
        return sum(s.time_s for s in self.lines)


@dataclass(frozen=True)
class CallStat:
    """One function under ``cProfile``: calls, own time and cumulative time, in seconds."""

    name: str  # the function's name, or pstats' label for a builtin ("<built-in ...>")
    path: str  # "~" for builtins
    line: int
    calls: int
    primitive_calls: int
    own_s: float
    cum_s: float


@dataclass(frozen=True)
class LineProfile:
    """The profile of the chosen stages, sent once when the run is over.

    ``view`` "lines" fills ``functions`` (line_profiler), "functions" fills ``calls``
    (cProfile). ``problems`` are what was asked for and could not be profiled (bad input,
    one line each); ``notes`` say what the reader should know about what was measured.
    """

    view: str
    stages: tuple[str, ...]
    functions: tuple[ProfiledFunction, ...] = ()
    calls: tuple[CallStat, ...] = ()
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:  # decoded from JSON: lists and dicts
        object.__setattr__(self, "stages", tuple(self.stages))
        object.__setattr__(
            self,
            "functions",
            tuple(
                f if isinstance(f, ProfiledFunction) else ProfiledFunction(**f)
                for f in self.functions
            ),
        )
        object.__setattr__(
            self,
            "calls",
            tuple(c if isinstance(c, CallStat) else CallStat(**c) for c in self.calls),
        )
        object.__setattr__(self, "problems", tuple(self.problems))
        object.__setattr__(self, "notes", tuple(self.notes))


Event = Union[  # noqa: UP007 - a runtime alias, kept as typing.Union
    Hello,
    Snapshot,
    Sections,
    Progress,
    Started,
    LeftRunning,
    Log,
    Failure,
    Finished,
    Exited,
    KernelEnvironment,
    KernelResult,
    LineProfile,
]
_KINDS: dict[str, type] = {
    "hello": Hello,
    "snapshot": Snapshot,
    "log": Log,
    "failure": Failure,
    "finished": Finished,
    "exited": Exited,
    "sections": Sections,
    "progress": Progress,
    "started": Started,
    "left_running": LeftRunning,
}
_KINDS.update({"kernel_environment": KernelEnvironment, "kernel_result": KernelResult})
_KINDS["line_profile"] = LineProfile
_NAMES = {cls: name for name, cls in _KINDS.items()}


def _sections() -> Any:
    """``sections.snapshot``, imported on first use: the runner child sends its first events
    (and runs the pipeline's first batch) without the sections' modules."""
    from workbench.engine.sections import snapshot

    return snapshot


def encode(event: Event) -> str:
    """One JSON line (with its newline) for ``event``."""
    if isinstance(event, Sections):
        body: dict[str, Any] = {"values": event.values.to_json()}
    elif isinstance(event, Snapshot):  # sections and memory have JSON forms of their own
        body = asdict(replace(event, memory=None, sections=_sections().SnapshotSections()))
        body["memory"] = event.memory.to_json() if event.memory is not None else None
        body["sections"] = event.sections.to_json()
    else:
        body = asdict(event)
    body["v"] = VERSION
    body["e"] = _NAMES[type(event)]
    return json.dumps(body, separators=(",", ":")) + "\n"


def decode(line: str | bytes) -> Event:
    """The event on one line; raises ProtocolError for anything else."""
    try:
        body = json.loads(line)
        version = body.pop("v", None) if isinstance(body, dict) else None
        if version != VERSION:
            raise ProtocolError(
                f"protocol version {version!r} is not {VERSION} (a runner of another "
                "pipebench version?)"
            )
        cls = _KINDS[body.pop("e")]
        if cls is Snapshot:
            body["stages"] = tuple(StageSample(**s) for s in body["stages"])
            mem = body.get("memory")
            if mem is not None:
                from workbench.engine.sections.memory import MemorySection

                body["memory"] = MemorySection.from_json(mem)
            body["sections"] = _sections().SnapshotSections.from_json(body.get("sections") or {})
        elif cls is Sections:
            body["values"] = _sections().SnapshotSections.from_json(body["values"])
        elif cls is Hello:
            body["stages"] = tuple(body["stages"])
        elif cls is LeftRunning:
            body["pids"] = tuple(int(p) for p in body["pids"])
        elif cls is Exited:
            body["stderr_tail"] = tuple(body["stderr_tail"])
            body["ended"] = tuple(body.get("ended", ()))
        elif cls is KernelResult:
            body["samples"] = tuple(body["samples"])
        elif cls is KernelEnvironment:
            body["kernels"] = tuple(body["kernels"])
        return cls(**body)  # type: ignore[no-any-return]
    except ProtocolError:
        raise
    except Exception as exc:  # malformed JSON, unknown kind, wrong fields
        raise ProtocolError(f"not a pipebench event: {str(line)[:120]!r} ({exc})") from None
