"""The runner protocol: frozen events and their JSON-lines form, one event per line.

The child writes its events on a pipe of its own (never stdout, which belongs to user code):
``Hello``, ``Sections``, ``Log`` (pipebench's own lines), ``Failure``, ``Finished`` and the
kernels and line-profile results (those classes are in ``protocol_tools``). The parent adds the rest: ``Snapshot`` (built from the
counter block, its own memory readings and the child's latest sections) and one ``Exited``
when the process is gone. The pipeline's own output travels apart (``engine.output``).
Every line carries the protocol version ``v``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Union

if TYPE_CHECKING:  # imported where an event needs them: a runner starts without them
    from workbench.engine.protocol_tools import KernelEnvironment, KernelResult, LineProfile
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
    "KernelEnvironment",
    "KernelResult",
    "LineProfile",
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
_NAMES = {cls: name for name, cls in _KINDS.items()}
#: The kinds of ``protocol_tools`` (the kernels and line-profile runs' events), registered
#: when that module is imported: a pipeline's runner starts without their classes.
TOOL_KINDS = ("kernel_environment", "kernel_result", "line_profile")


def register(name: str, cls: type) -> None:
    """Add an event kind defined outside this module (``protocol_tools``)."""
    _KINDS[name] = cls
    _NAMES[cls] = name


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
        kind = body.pop("e")
        if kind in TOOL_KINDS and kind not in _KINDS:
            from workbench.engine import protocol_tools  # noqa: F401 - registers its kinds
        cls = _KINDS[kind]
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
        return cls(**body)  # type: ignore[no-any-return]
    except ProtocolError:
        raise
    except Exception as exc:  # malformed JSON, unknown kind, wrong fields
        raise ProtocolError(f"not a pipebench event: {str(line)[:120]!r} ({exc})") from None
