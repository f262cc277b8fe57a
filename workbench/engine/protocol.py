"""The runner protocol: frozen events and their JSON-lines form, one event per line.

The child writes these on a pipe of its own (never stdout, which belongs to user code);
the parent adds ``Log`` events for the child's stdout/stderr and one ``Exited`` event when
the process is gone. Every line carries the protocol version ``v``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Union

VERSION = 1

#: Final statuses of a run.
FINISHED, STOPPED, FAILED, BUDGET_EXCEEDED, CRASHED = (
    "finished", "stopped", "failed", "budget_exceeded", "crashed",
)
FINAL_STATUSES = (FINISHED, STOPPED, FAILED, BUDGET_EXCEEDED, CRASHED)


class ProtocolError(ValueError):
    """A line from the child that is not a valid event of this protocol version."""


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
class StageSample:
    """Counters of one stage (position 0 is the source) at one moment."""

    items: int
    batches: int
    self_ns: int
    done: bool


@dataclass(frozen=True)
class MemorySample:
    """Process memory of the runner child, in bytes. RSS is not the Python heap."""

    rss: int
    uss: int | None
    rss_start: int
    rss_peak: int  # the larger of the sampled peak and the kernel's high-water mark
    rss_peak_sampled: int
    rss_hwm: int | None  # the kernel's own high-water mark (VmHWM), where it has one
    uss_peak: int | None


@dataclass(frozen=True)
class Snapshot:
    """All counters of the run at one moment; at most one every snapshot interval."""

    elapsed_ns: int
    stages: tuple[StageSample, ...]
    sink_ns: int
    memory: MemorySample
    failed_stage: int = -1
    sections: dict[str, Any] = field(default_factory=dict)  # e.g. "caches", "gpu", "contexts"


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


@dataclass(frozen=True)
class Exited:
    """Synthesised by the parent when the child process is gone."""

    returncode: int
    signal: str | None = None
    killed_by: str | None = None  # why the parent killed it, if it did
    stderr_tail: tuple[str, ...] = field(default_factory=tuple)


Event = Union[Hello, Snapshot, Log, Failure, Finished, Exited]
_KINDS: dict[str, type] = {
    "hello": Hello, "snapshot": Snapshot, "log": Log, "failure": Failure,
    "finished": Finished, "exited": Exited,
}
_NAMES = {cls: name for name, cls in _KINDS.items()}


def encode(event: Event) -> str:
    """One JSON line (with its newline) for ``event``."""
    body = asdict(event)
    body["v"] = VERSION
    body["e"] = _NAMES[type(event)]
    return json.dumps(body, separators=(",", ":")) + "\n"


def decode(line: str | bytes) -> Event:
    """The event on one line; raises ProtocolError for anything else."""
    try:
        body = json.loads(line)
        if body.pop("v") != VERSION:
            raise ProtocolError(f"protocol version {body.get('v')} is not {VERSION}")
        cls = _KINDS[body.pop("e")]
        if cls is Snapshot:
            body["stages"] = tuple(StageSample(**s) for s in body["stages"])
            body["memory"] = MemorySample(**body["memory"])
        elif cls is Hello:
            body["stages"] = tuple(body["stages"])
        elif cls is Exited:
            body["stderr_tail"] = tuple(body["stderr_tail"])
        return cls(**body)  # type: ignore[no-any-return]
    except ProtocolError:
        raise
    except Exception as exc:  # malformed JSON, unknown kind, wrong fields
        raise ProtocolError(f"not a pipebench event: {str(line)[:120]!r} ({exc})") from None
