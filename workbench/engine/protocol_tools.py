"""The events of the kernels and line-profile runs (``RunConfig.mode`` "kernels" and
"lines"), apart from ``protocol`` so that a pipeline's runner starts without creating their
classes (each frozen dataclass costs ~1 ms to create on Python 3.11). Their JSON-lines form
is ``protocol``'s: importing this module registers their kinds there, and
``protocol.decode`` imports it when a line of one of them arrives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workbench.engine import protocol


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

    def __post_init__(self) -> None:  # decoded from JSON: a list
        object.__setattr__(self, "kernels", tuple(self.kernels))


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

    def __post_init__(self) -> None:  # decoded from JSON: a list
        object.__setattr__(self, "samples", tuple(self.samples))


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


protocol.register("kernel_environment", KernelEnvironment)
protocol.register("kernel_result", KernelResult)
protocol.register("line_profile", LineProfile)
