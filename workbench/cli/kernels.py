"""``pipebench kernels``: time a module's kernel sets headless and print their tables.

Exit codes as for ``pipebench run``: 0 every implementation ran and agreed with its
reference, 1 one failed or disagreed (the rows say which), 2 bad input (one line on
stderr), 130 stopped with Ctrl-C, 143 with SIGTERM, 129 with SIGHUP (what was measured
is still printed).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from typing import Any

from rich.console import Console
from rich.text import Text

from workbench.cli.args import (
    EXIT_OK,
    EXIT_RUN_FAILED,
    EXIT_USAGE,
    JSON_HELP,
    json_path,
    positive_int,
    seconds,
    time_limit,
    write_json,
)
from workbench.cli.follow import follow
from workbench.cli.signals import SIGNAL_EXIT
from workbench.cli.targets import check_target
from workbench.engine.kernels.env import parse_threads
from workbench.engine.kernels.runner import RIGOROUS_PROCESSES, KernelOptions, KernelsJob
from workbench.engine.kernels.session import KernelState, kernel_report, kernel_rows
from workbench.engine.kernels.timing import TimingSettings
from workbench.errors import UserError
from workbench.views.kernels import kernels_view
from workbench.views.text import user_text

_SUFFIX = {"": 1, "k": 1_000, "m": 1_000_000, "g": 1_000_000_000}


def _count(text: str) -> int:
    """A size such as ``1000``, ``10_000``, ``1e6``, ``100k`` or ``2M``."""
    m = re.fullmatch(r"\s*([0-9_]*\.?[0-9_]+(?:e[0-9]+)?)\s*([kKmMgG]?)\s*", text)
    try:
        if not m:
            raise ValueError
        value = float(m.group(1).replace("_", "")) * _SUFFIX[m.group(2).lower()]
        if not 1 <= value <= 2**63 or value != int(value):  # also nan and inf (1e400)
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a size: a whole number like 1000, 1e6 or 100k"
        ) from None
    return int(value)


def _threads(text: str) -> str:
    try:
        parse_threads(text)
    except UserError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None
    return text.strip().lower()


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``kernels`` command to the ``pipebench`` parser."""
    d = TimingSettings()
    p = subparsers.add_parser(
        "kernels",
        help="time a module's kernel sets: correctness, compile time, speedups",
        description="Run every implementation of each kernel set at each size in a fresh "
        "process: checked against the reference, compile time apart, timed.",
    )
    p.add_argument("target", help="path/to/module.py[:kernel] or package.module[:kernel]")
    p.add_argument("--kernel", metavar="NAME", help="only this kernel set")
    p.add_argument(
        "--impl",
        action="append",
        default=[],
        metavar="LABEL",
        help="only this implementation (repeatable; the reference always runs)",
    )
    p.add_argument(
        "--sizes",
        nargs="+",
        type=_count,
        metavar="N",
        help="sizes to sweep instead of the kernel's own (1000 1e5 1M ...)",
    )
    p.add_argument(
        "--threads",
        type=_threads,
        default="1",
        metavar="N|all",
        help="threads for BLAS, OpenMP, Numba and torch (default 1)",
    )
    p.add_argument(
        "--parallel-threads",
        type=_threads,
        default="all",
        metavar="N|all",
        help="threads for implementations marked parallel (impl(..., parallel=True) or "
        "a Numba parallel=True dispatcher) (default all usable CPUs)",
    )
    p.add_argument(
        "--rigorous",
        action="store_true",
        help=f"repeat in {RIGOROUS_PROCESSES} fresh processes and pool the samples",
    )
    p.add_argument(
        "--processes",
        type=positive_int,
        metavar="N",
        help=f"fresh processes to repeat in (--rigorous: at least {RIGOROUS_PROCESSES})",
    )
    p.add_argument(
        "--samples",
        type=positive_int,
        default=d.samples,
        metavar="N",
        help=f"samples per implementation and size (default {d.samples})",
    )
    p.add_argument(
        "--min-time",
        type=seconds,
        default=d.min_sample_s,
        metavar="S",
        help=f"each sample lasts at least S seconds (default {d.min_sample_s:g})",
    )
    p.add_argument(
        "--warmup",
        type=seconds,
        default=d.warmup_s,
        metavar="S",
        help=f"warm-up before timing, in seconds (default {d.warmup_s:g})",
    )
    p.add_argument(
        "--max-time",
        type=seconds,
        default=d.max_time_s,
        metavar="S",
        help="seconds of samples per row; slower rows get fewer ('low n') "
        f"(default {d.max_time_s:g})",
    )
    p.add_argument(
        "--cutoff",
        type=seconds,
        default=d.cutoff_s,
        metavar="S",
        help="skip timing a call slower than S seconds, measured or predicted "
        f"from the previous size (default {d.cutoff_s:g})",
    )
    p.add_argument(
        "--first-call-limit",
        type=seconds,
        default=d.first_call_limit_s,
        metavar="S",
        help="end a first call (compile included) that runs longer than S seconds and "
        f"report the row as skipped (default {d.first_call_limit_s:g})",
    )
    p.add_argument("--no-gemm", action="store_true", help="skip the GEMM probe")
    p.add_argument(
        "--max-seconds",
        type=time_limit,
        metavar="S",
        help="stop a process that runs longer than S seconds",
    )
    p.add_argument(
        "--json",
        type=json_path,
        metavar="FILE",
        help="also write the report (raw samples, machine) to FILE" + JSON_HELP,
    )
    return p


def kernel_options(args: argparse.Namespace) -> KernelOptions:
    processes = args.processes or 1
    if args.rigorous:
        processes = max(RIGOROUS_PROCESSES, processes)
    timing = TimingSettings(
        samples=args.samples,
        min_sample_s=args.min_time,
        warmup_s=args.warmup,
        max_time_s=args.max_time,
        cutoff_s=args.cutoff,
        first_call_limit_s=args.first_call_limit,
    )
    return KernelOptions(
        kernel=args.kernel,
        impls=tuple(args.impl),
        sizes=tuple(args.sizes or ()),
        threads=args.threads,
        parallel_threads=args.parallel_threads,
        processes=processes,
        gemm=not args.no_gemm,
        timing=timing,
        max_seconds=args.max_seconds,
    )


def execute(
    target: str, options: KernelOptions, console: Console
) -> tuple[KernelState, str | None]:
    """Run to the end through the one run follower (``cli.follow``): rows filling in live on
    a terminal, the implementations' output echoed above them; Ctrl-C, SIGTERM and SIGHUP
    stop it (a second Ctrl-C kills). Returns the final state and the stop reason when a
    signal stopped it ("user", "sigterm", "sighup"), else None."""
    return follow(
        KernelsJob(target, options),
        console,
        view=lambda state: kernels_view(state, console.width),
        what="the kernels run",
    )


def _failures(state: KernelState) -> list[str]:
    out = []
    for row in kernel_rows(state):
        if row.status == "error" or row.correct is False:
            why = row.error or f"disagrees with {_reference(state, row.kernel)}: {row.check}"
            out.append(f"{row.kernel}:{row.impl} at size {row.size:,} ({why})")
    return out


def _reference(state: KernelState, kernel: str) -> str:
    for plan in state.plans:
        if plan["name"] == kernel:
            return f"the reference {plan.get('reference')}"
    return "the reference"


def _error(message: str) -> Text:
    """``error: MESSAGE`` with the message (user text: names, exception text) as data."""
    return Text.assemble(("error:", "red"), " ", user_text(message))


def cmd_kernels(args: argparse.Namespace, console: Console) -> int:
    check_target(args.target, decorator="kernels")
    options = kernel_options(args)
    state, signalled = execute(args.target, options, console)
    failure = state.failure
    if failure is not None and failure.user_error and not state.results:
        raise UserError(failure.message)
    if args.json:
        write_json(args.json, kernel_report(state, finished_at=time.time()))
    console.print(kernels_view(state, console.width))
    err = Console(stderr=True, highlight=False)
    if failure is not None and failure.user_error:
        err.print(_error(failure.message), soft_wrap=True)
        return EXIT_USAGE
    if signalled is not None:
        return SIGNAL_EXIT[signalled]
    if failure is not None or state.status not in ("finished", "stopped"):
        err.print(_error(state.message or state.status), soft_wrap=True)
        return EXIT_RUN_FAILED
    failed = _failures(state)
    if failed:
        shown = "; ".join(failed[:3]) + (f"; and {len(failed) - 3} more" if len(failed) > 3 else "")
        err.print(
            _error(
                f"{len(failed)} implementation result(s) failed or "
                f"disagree with the reference: {shown}"
            ),
            soft_wrap=True,
        )
        return EXIT_RUN_FAILED
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover - use `pipebench kernels`
    sys.exit("use: pipebench kernels TARGET")
