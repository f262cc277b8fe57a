"""Parent side of a kernels run: one runner child, or several fresh ones for --rigorous.

``KernelsJob`` is the kernels run as a job of the one run follower (``engine.follow``):
the CLI (``cli.follow.follow``) and the kernels screen (a ``Follower`` in a thread worker)
both follow it. Rounds run one after the other, never at once, so they do not compete for
the CPU; each is a fresh runner child in mode "kernels", folded into one ``KernelState``
by ``session.apply_kernel_event``.

When an implementation's first call holds the GIL past its limit, the runner ends itself
(``limit.py``'s hard limit); the job then reports that row as skipped and starts a fresh
runner for the same round, told which rows were sent already, so the rest are measured.
The state sees one round: the ended runner's ``Exited`` and the fresh one's
``KernelEnvironment`` are not folded, a ``Log`` line says what happened.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from workbench.engine.follow import Step
from workbench.engine.kernels.limit import current_path, read_current, read_watchdog
from workbench.engine.kernels.rowinfo import RowInfo, pack, unpack
from workbench.engine.kernels.session import KernelState, apply_kernel_event, with_output
from workbench.engine.kernels.timing import TimingSettings
from workbench.engine.output import LogLine
from workbench.engine.protocol import Event, Exited, Failure, Log
from workbench.engine.protocol_tools import KernelEnvironment, KernelResult
from workbench.engine.runner import RunOptions
from workbench.units import format_seconds

#: Fresh processes a --rigorous run takes at least.
RIGOROUS_PROCESSES = 3


@dataclass(frozen=True)
class KernelOptions:
    """Everything about a kernels run besides its target."""

    kernel: str | None = None
    impls: tuple[str, ...] = ()
    sizes: tuple[int, ...] = ()
    threads: str = "1"  # a count or "all"
    parallel_threads: str = "all"  # for implementations marked parallel
    processes: int = 1  # fresh processes, one after the other (--rigorous: at least 3)
    gemm: bool = True
    timing: TimingSettings = field(default_factory=TimingSettings)
    max_seconds: float | None = None  # per process
    cwd: str | None = None

    def mode_options(self, round_: int) -> dict[str, object]:
        return {
            "kernel": self.kernel,
            "impls": list(self.impls),
            "sizes": list(self.sizes),
            "threads": self.threads,
            "parallel_threads": self.parallel_threads,
            "round": round_,
            "gemm": self.gemm,
            **asdict(self.timing),
        }

    def as_dict(self) -> dict[str, object]:
        d = self.mode_options(0)
        d.pop("round")
        d["processes"] = self.processes
        return d


#: What each way of dying usually means, for the row of the implementation it died in.
_DEATHS = {
    "SIGSEGV": "a segmentation fault (native code read or wrote memory it does not own)",
    "SIGBUS": "a bus error (native code, or a memory-mapped file that shrank)",
    "SIGABRT": "an abort (a failed assertion or check in native code)",
    "SIGFPE": "a floating-point exception in native code",
    "SIGILL": "an illegal instruction (code built for another CPU)",
    "SIGKILL": "SIGKILL (the kernel's OOM killer, or kill -9)",
}


def death_text(ex: Exited) -> str:
    """How the runner died in an implementation, in one line: the signal and what it
    usually means, or the exit code, and where in the user's code when Python's crash
    report says (faulthandler's innermost frame)."""
    if ex.signal:
        how = f"the runner died of {_DEATHS.get(ex.signal, ex.signal)}"
    else:
        code = ex.returncode
        how = f"the runner exited with code {code} in it (os._exit, or an exit in native code)"
    lines = list(ex.stderr_tail)
    current = [i for i, line in enumerate(lines) if "Current thread" in line]
    # faulthandler prints the innermost frame first: File "path", line N in name; the
    # user's own frame (not the standard library's or a package's) says most
    frames = [
        text.removeprefix("File ")
        for text in (line.strip() for line in (lines[current[-1] + 1 :] if current else lines))
        if text.startswith('File "') and "<frozen" not in text and "/workbench/" not in text
    ]
    own = [f for f in frames if "/lib/python" not in f]
    where = (own or frames)[:1]
    return f"{how}, at {where[0]}" if where else how


class KernelsJob:
    """A kernels run of ``options.processes`` runner children, one after the other, as a
    follower job whose state is a ``KernelState``.

    A round that fails to load (bad input), crashes or is stopped ends the job: no further
    round is started. The temporary folder of the hard first-call limit's watchdog file is
    made with the first step and removed in ``close()``.
    """

    def __init__(self, target: str, options: KernelOptions | None = None):
        self.target = target
        self.options = options or KernelOptions()
        self.restarts = 0  # fresh runners started after a first call was ended
        self.cancelled = False  # asked to stop: no further round or restart
        self._dir: str | None = None  # made with the first step, removed by close()
        self._watchdog = ""  # the hard first-call limit's file in it (see limit.py)
        self._round = 0  # the round the next step runs
        self._over = False  # no further step
        # The round being followed: rows sent, first calls ended, plans; what a fresh
        # runner after a restart must be told; whether the round has failed.
        self._sent: set[tuple[str, int, str]] = set()
        self._timed_out: list[tuple[str, int, str, float]] = []
        self._died: list[tuple[str, int, str]] = []
        self._plans: dict[str, dict[str, Any]] = {}
        self._resume: dict[str, Any] | None = None
        self._failed = False

    @property
    def folder(self) -> str | None:
        """The temporary folder of the watchdog file: made with the first step, None again
        once ``close()`` removed it."""
        return self._dir

    # ---- the Job protocol ---------------------------------------------------------------
    def initial(self) -> KernelState:
        return KernelState(
            self.target,
            rounds=max(1, self.options.processes),
            options=self.options.as_dict(),
            started_at=time.time(),
        )

    def next_step(self, state: KernelState) -> Step | None:
        if self.cancelled or self._over:
            return None
        if self._dir is None:
            self._dir = tempfile.mkdtemp(prefix="pipebench-kernels-")
            self._watchdog = os.path.join(self._dir, "first-call")
        opts = self.options
        mode_options = {**opts.mode_options(self._round), "watchdog": self._watchdog}
        label = f"round {self._round}"
        if self._resume is not None:
            mode_options.update(self._resume, gemm=False)
            label += f" (fresh runner {self.restarts})"
        else:
            self._sent, self._timed_out, self._plans, self._failed = set(), [], {}, False
            self._died = []
        run_options = RunOptions(
            mode="kernels", mode_options=mode_options, max_seconds=opts.max_seconds, cwd=opts.cwd
        )
        return Step(label, self.target, run_options)

    def fold(self, state: KernelState, step: Step, event: Event) -> KernelState:
        if isinstance(event, Failure):
            self._failed = True
        elif isinstance(event, KernelResult):
            self._sent.add((event.kernel, event.size, event.impl))
            ended_after = unpack(event.check)[1].ended_after_s
            if ended_after is not None:  # the soft limit ended it: a fresh runner must know
                self._timed_out.append((event.kernel, event.size, event.impl, ended_after))
        elif isinstance(event, KernelEnvironment):
            if not self._plans:
                self._plans = {p["name"]: p for p in event.kernels}
            if self._resume is not None:
                return state  # the round goes on: one environment per round
        elif isinstance(event, Exited):
            hit = read_watchdog(self._watchdog) if event.returncode != 0 else None
            if hit is not None and not self._failed and not self.cancelled:
                return self._restart(state, hit[0])
            died_in = read_current(self._watchdog) if event.returncode != 0 else None
            with contextlib.suppress(OSError):
                os.remove(current_path(self._watchdog))
            if (
                died_in is not None
                and not self._failed
                and not self.cancelled
                and event.killed_by is None
                and (died_in.get("kernel"), died_in.get("size"), died_in.get("impl"))
                not in {(k, s, i) for k, s, i in self._sent}
            ):
                return self._restart(state, died_in, died=event)
            self._resume = None
            self._round += 1
            if (
                self._round >= max(1, self.options.processes)
                or self._failed
                or event.returncode != 0
            ):
                self._over = True
        return apply_kernel_event(state, event)

    def fold_lines(
        self, state: KernelState, step: Step, lines: list[LogLine], skipped: int
    ) -> KernelState:
        return with_output(state, lines, skipped)

    def check(self, state: KernelState, step: Step) -> str | None:
        return None

    def stopped(self, reason: str) -> None:
        """Stopped: the rows measured so far are kept; no round or restart starts."""
        self.cancelled = True

    def close(self) -> None:
        """Remove the watchdog's temporary folder."""
        if self._dir is not None:
            with contextlib.suppress(OSError):
                shutil.rmtree(self._dir)
            self._dir = None

    # ---- a restart ----------------------------------------------------------------------
    def _restart(
        self, state: KernelState, row: dict[str, Any], died: Exited | None = None
    ) -> KernelState:
        """Report the row whose first call was ended as skipped (or, ``died``: the row the
        runner died in as an error); the next step is a fresh runner for the rest of the
        round."""
        kernel, size, impl = str(row["kernel"]), int(row["size"]), str(row["impl"])
        plan = self._plans.get(kernel) or {}
        threads = plan.get("threads", {}).get(impl)
        parallel = impl in plan.get("parallel", ())
        if died is not None:
            self._died.append((kernel, size, impl))
            row_result = KernelResult(
                kernel=kernel,
                size=size,
                impl=impl,
                round=self._round,
                status="error",
                correct=False,
                error=f"{death_text(died)}; a fresh runner measured the rest",
                check=pack(None, RowInfo(threads=threads, parallel=parallel)),
                reference=bool(row.get("reference")),
            )
            note = Log(
                "pipebench",
                f"{kernel}: {impl} at size {size:,}: {death_text(died)}; started a fresh "
                "runner for the rest",
            )
        else:
            limit = float(row.get("limit_s") or self.options.timing.first_call_limit_s)
            why = (
                f"skipped: its first call ran past the {format_seconds(limit)} limit "
                "(compile time included; --first-call-limit) in code that held the GIL, so "
                "the runner was ended and a fresh one measured the rest"
            )
            row_result = KernelResult(
                kernel=kernel,
                size=size,
                impl=impl,
                round=self._round,
                status="skipped",
                check=pack(None, RowInfo(threads=threads, parallel=parallel, ended_after_s=limit)),
                skipped=why,
                reference=bool(row.get("reference")),
            )
            note = Log(
                "pipebench",
                f"{kernel}: {impl} at size {size:,} held the GIL past the first-call limit; "
                "started a fresh runner for the rest",
            )
            self._timed_out.append((kernel, size, impl, limit))
        self._sent.add((kernel, size, impl))
        self._resume = {
            "done": sorted(self._sent),
            "timed_out": list(self._timed_out),
            "died": list(self._died),
        }
        self.restarts += 1
        with contextlib.suppress(OSError):
            os.remove(self._watchdog)
        return apply_kernel_event(apply_kernel_event(state, row_result), note)
