"""``pipebench sweep``: find the fastest batch size that fits the memory budgets.

Exit codes: 0 with a recommendation, 1 when no size could be recommended, 2 bad input
(one line on stderr), 130 stopped with Ctrl-C (what was measured is still printed and
saved).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from rich.console import Console, Group
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from workbench.cli.args import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    JSON_HELP,
    json_path,
    number_of_seconds,
    param,
    size,
    write_json,
)
from workbench.cli.follow import follow
from workbench.cli.signals import SIGNAL_EXIT
from workbench.cli.targets import check_target
from workbench.engine.records import check_home
from workbench.engine.session import throughput
from workbench.engine.sweep.points import max_runs
from workbench.engine.sweep.run import SweepJob, SweepState, finish
from workbench.engine.sweep.search import SweepSettings, full_sweep_runs
from workbench.errors import UserError
from workbench.units import format_rate, format_seconds
from workbench.views.run import progress_text
from workbench.views.sweep import answer_text, curve, points_table, sweep_header
from workbench.views.text import user_text

EXIT_NO_ANSWER = 1


def _whole(text: str, least: int = 1) -> int:
    try:
        v = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if v < least:
        raise argparse.ArgumentTypeError(f"{text} must be at least {least}")
    return v


def _count(text: str) -> int:
    return _whole(text, 0)


def _sizes(text: str) -> tuple[int, ...]:
    parts = [p for p in text.replace(" ", "").split(",") if p]
    if not parts:
        raise argparse.ArgumentTypeError("give sizes like 8,16,32")
    sizes = tuple(_whole(p) for p in parts)
    if len(set(sizes)) != len(sizes):
        raise argparse.ArgumentTypeError(f"{text!r} repeats a size")
    return sizes


def _seconds(text: str, least: float = 0.0, strict: bool = True) -> float:
    return number_of_seconds(text, least=least, strict=strict)


def _fraction(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= v < 1:  # nan fails this too
        raise argparse.ArgumentTypeError(f"{text} must be a fraction below 1 (0.2 is 20%)")
    return v


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``sweep`` command to the ``pipebench`` parser."""
    d = SweepSettings()
    p = subparsers.add_parser(
        "sweep",
        help="find the fastest batch size that fits the memory budgets",
        description="Run the pipeline at several batch sizes, each several times in "
        "short interleaved runs (a fresh process each), leave the warm-up out of the "
        "throughput, and recommend the size with the highest median items/s that "
        "fits, with a margin below any size that failed.",
    )
    p.add_argument("target", help="path/to/module.py[:name] or package.module[:name]")
    how = p.add_mutually_exclusive_group()
    how.add_argument(
        "--batch-sizes", type=_sizes, metavar="8,16,32,...", help="run exactly these sizes"
    )
    how.add_argument(
        "--auto",
        action="store_true",
        help=f"grow by x{d.growth} from --min until a size is clearly below the best "
        "(a plateau does not stop it), fails or passes a budget, then run the powers "
        "of two and the midpoint next to the best (the default)",
    )
    p.add_argument(
        "--min", type=_whole, metavar="N", help=f"--auto: first size (default {d.min_size})"
    )
    p.add_argument(
        "--max", type=_whole, metavar="N", help=f"--auto: largest size (default {d.max_size})"
    )
    p.add_argument(
        "--memory-budget",
        type=size,
        metavar="SIZE",
        help="RSS budget of each run (2GiB, 512MiB, ...): passing it ends the "
        "run and fails the size",
    )
    p.add_argument(
        "--gpu-memory-budget",
        type=size,
        metavar="SIZE",
        help="peak GPU memory budget of each run: passing it fails the size",
    )
    p.add_argument(
        "--seconds-per-run",
        type=_seconds,
        default=d.seconds_per_run,
        metavar="S",
        help="seconds each run (one sample) goes on after its first batch is asked for; "
        f"the factory's time is not counted (default {d.seconds_per_run:g})",
    )
    p.add_argument(
        "--samples",
        type=_whole,
        default=d.samples,
        metavar="N",
        help="runs per size at least, interleaved with the other sizes' runs; a size "
        "under half the best even allowing for noise gets no more (default "
        f"{d.samples})",
    )
    p.add_argument(
        "--max-samples",
        type=_whole,
        default=d.max_samples,
        metavar="N",
        help="runs per size at most: the best size and its closest rival get more while "
        f"their median is known less well than --precision (default {d.max_samples})",
    )
    p.add_argument(
        "--precision",
        type=_fraction,
        default=d.precision,
        metavar="F",
        help="how well the best sizes' medians should be known: 0.03 is ±3%% "
        f"(default {d.precision:g})",
    )
    p.add_argument(
        "--growth",
        type=lambda t: _whole(t, 2),
        default=d.growth,
        metavar="K",
        help=f"--auto: grow by this factor before filling in (default {d.growth})",
    )
    p.add_argument(
        "--max-batches", type=_whole, metavar="N", help="also stop each run after N batches"
    )
    p.add_argument(
        "--warmup-batches",
        type=_count,
        default=d.warmup_batches,
        metavar="N",
        help="batches left out of the throughput at the start of each run "
        f"(default {d.warmup_batches})",
    )
    p.add_argument(
        "--warmup-seconds",
        type=lambda t: _seconds(t, strict=False),
        default=d.warmup_s,
        metavar="S",
        help="seconds left out of the throughput at the start of each run "
        "(default 0; both warm-ups apply)",
    )
    p.add_argument(
        "--margin",
        type=_fraction,
        default=d.margin,
        metavar="F",
        help="the recommendation stays this fraction below any size that failed "
        f"(default {d.margin:g})",
    )
    p.add_argument(
        "--param",
        type=param,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set another pipeline parameter (repeatable)",
    )
    p.add_argument(
        "--json",
        type=json_path,
        metavar="FILE",
        help="also write the sweep (every run, each size's median, the answer) to FILE" + JSON_HELP,
    )
    return p


def sweep_settings(args: argparse.Namespace) -> SweepSettings:
    d = SweepSettings()
    if args.batch_sizes and (args.min is not None or args.max is not None):
        raise UserError("pipebench sweep: --min and --max go with --auto, not --batch-sizes")
    lo = d.min_size if args.min is None else args.min
    hi = d.max_size if args.max is None else args.max
    if lo > hi:
        raise UserError(f"pipebench sweep: --min {lo} is above --max {hi}")
    if args.max_samples < args.samples:
        raise UserError(
            f"pipebench sweep: --max-samples {args.max_samples} is below --samples {args.samples}"
        )
    params = dict(args.param)
    if "batch_size" in params:
        raise UserError(
            "pipebench sweep: the sweep sets batch_size itself; use --batch-sizes or --min/--max"
        )
    return SweepSettings(
        sizes=tuple(args.batch_sizes or ()),
        min_size=lo,
        max_size=hi,
        seconds_per_run=args.seconds_per_run,
        max_batches=args.max_batches,
        memory_budget=args.memory_budget,
        gpu_memory_budget=args.gpu_memory_budget,
        warmup_batches=args.warmup_batches,
        warmup_s=args.warmup_seconds,
        margin=args.margin,
        samples=args.samples,
        max_samples=args.max_samples,
        precision=args.precision,
        growth=args.growth,
        params=params,
    )


def progress_line(settings: SweepSettings, state: SweepState, elapsed_s: float) -> Table:
    """How far the sweep is, as rich.progress draws it: runs done of those it runs at most,
    a bar, the time so far, the run going (and what its factory prepares, if it says)."""
    done = len(state.result.points)
    total = max_runs(settings)
    run = state.run
    line = Table.grid(padding=(0, 1))
    line.add_column(no_wrap=True)
    line.add_column(no_wrap=True)
    line.add_column(no_wrap=True)
    line.add_column(overflow="ellipsis", no_wrap=True)
    what = Text("")
    if run is not None and not run.ended:
        size = run.options.get("size")
        what = Text(f"batch_size={size}: ")
        if run.progress is not None and (run.snapshot is None or not run.snapshot.stages):
            what.append_text(progress_text(run.progress))
        else:
            what.append(
                f"{format_seconds(run.elapsed_s)}, {format_rate(throughput(run))} items/s so far"
            )
    line.add_row(
        Text(f"{done}/≤{total} runs", style="bold"),
        ProgressBar(total=max(total, done), completed=done, width=24),
        Text(format_seconds(elapsed_s), style="yellow"),
        what,
    )
    return line


def _live_view(
    target: str, settings: SweepSettings, state: SweepState, width: int, started: float
) -> Group:
    points = state.result.points
    run = state.run
    running = None
    if run is not None and not run.ended:
        size = run.options.get("size")
        running = (int(size), "") if isinstance(size, int) else None
    parts: list[Any] = [
        sweep_header(target, settings),
        points_table(points, None, running),
        progress_line(settings, state, time.monotonic() - started),
    ]
    if points:
        parts.append(curve(points, settings, None, width=min(width, 100) - 2, height=4))
    return Group(*parts)


def cmd_sweep(args: argparse.Namespace, console: Console) -> int:
    check_target(args.target)
    check_home()
    settings = sweep_settings(args)
    job = SweepJob(args.target, settings)
    started = time.monotonic()
    state, signalled = follow(
        job,
        console,
        view=lambda s: _live_view(args.target, settings, s, console.width, started),
        what="the sweep",
        echo_output=False,
        interval=0.25,
    )
    result = finish(state, interrupted=job.cancelled)
    assert result.answer is not None
    data = result.to_json()
    if args.json:
        write_json(args.json, data)
    console.print(sweep_header(args.target, settings))
    console.print(points_table(result.points, result.answer, width=console.width))
    if result.points:
        console.print(
            curve(result.points, settings, result.answer, width=min(console.width, 100) - 2)
        )
    console.print(answer_text(result.answer))
    stop = data.get("growth_stopped")
    n = len(result.points)
    runs = f"{n} run{'' if n == 1 else 's'} of {len(result.answer.sizes)} sizes"
    if settings.auto:
        runs += (
            f" (a full power-of-two sweep with {settings.samples} rounds is "
            f"{full_sweep_runs(settings)}); growth ended: {stop or '–'}; "
            f"{data.get('refinement') or 'no refinement'}"
        )
    console.print(user_text(f"{runs}; sweep: {result.saved_to}", "dim"))
    if result.interrupted:
        how = "with Ctrl-C" if signalled in (None, "user") else f"by {signalled.upper()}"
        console.print(
            Text(
                f"stopped {how} before its end: the answer covers only the sizes measured",
                style="yellow",
            )
        )
        return SIGNAL_EXIT.get(signalled or "user", EXIT_INTERRUPTED)
    return EXIT_OK if result.answer.recommended is not None else EXIT_NO_ANSWER
