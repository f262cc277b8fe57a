"""``pipebench run``: run a pipeline headless and print its stage report.

Exit codes: 0 the run finished (or reached its limit), 1 it failed, crashed or passed its
memory budget, 2 bad input (one line on stderr), 130 stopped with Ctrl-C.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.markup import escape

from workbench.cli import parallel as cli_parallel
from workbench.cli.args import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_RUN_FAILED,
    JSON_HELP,
    json_to_stdout,
    param,
    pipeline_params,
    positive_int,
    seconds,
    size,
    write_json,
)
from workbench.cli.targets import check_target
from workbench.engine import records
from workbench.engine.protocol import FINISHED, STOPPED, Log
from workbench.engine.runner import RunOptions, start_run
from workbench.engine.session import RunState, apply, report
from workbench.errors import UserError
from workbench.views.run import run_view


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``run`` command to the ``pipebench`` parser."""
    p = subparsers.add_parser("run", help="run a pipeline headless and print its stage report")
    p.add_argument("target", help="path/to/module.py[:name] or package.module[:name]")
    p.add_argument("--batch-size", type=positive_int, help="shortcut for --param batch_size=N")
    p.add_argument(
        "--param",
        type=param,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a pipeline parameter (repeatable)",
    )
    p.add_argument(
        "--max-batches", type=positive_int, help="stop after N batches out of the last stage"
    )
    p.add_argument("--max-seconds", type=seconds, help="stop after S seconds")
    p.add_argument(
        "--memory-budget",
        type=size,
        metavar="SIZE",
        help="end the run when its RSS passes SIZE (2GiB, 512MiB, ...)",
    )
    p.add_argument(
        "--json", type=Path, metavar="FILE", help="also write the report to FILE" + JSON_HELP
    )
    p.add_argument(
        "--snapshot-interval",
        type=seconds,
        default=0.1,
        metavar="S",
        help="seconds between snapshots from the runner (default 0.1)",
    )
    cli_parallel.add_arguments(p)
    return p


def run_options(args: argparse.Namespace) -> RunOptions:
    return RunOptions(
        params=pipeline_params(args),
        max_batches=args.max_batches,
        max_seconds=args.max_seconds,
        memory_budget=args.memory_budget,
        snapshot_s=args.snapshot_interval,
    )


def execute(
    target: str, options: RunOptions, console: Console, live: bool
) -> tuple[RunState, bool]:
    """Run ``target`` to its end, showing it live on a terminal; Ctrl-C stops it (twice
    kills it). Returns the final state and whether the user interrupted."""
    handle = start_run(target, options)
    state = RunState(target, started_at=time.time(), options=_options_dict(options))
    interrupted = False
    display = (
        Live(run_view(state), console=console, refresh_per_second=4, transient=True)
        if live
        else None
    )
    try:
        if display:
            display.start()
        while not state.ended:
            try:
                # Not handle.iter_events(): a Ctrl-C raised inside a generator ends it.
                ev = handle.events.get()
                state = apply(state, ev)
                if isinstance(ev, Log):
                    console.print(
                        f"[dim]│ {escape(ev.text)}[/]", markup=True, highlight=False, soft_wrap=True
                    )
                elif display and state.hello:
                    display.update(run_view(state))
            except KeyboardInterrupt:
                if interrupted:
                    handle.kill()
                else:
                    interrupted = True
                    console.print("[yellow]stopping the run (Ctrl-C again to kill it)…[/]")
                    handle.stop()
    finally:
        if display:
            display.stop()
        if handle.running:
            handle.kill()
    return state, interrupted


def _options_dict(o: RunOptions) -> dict[str, Any]:
    return {
        "max_batches": o.max_batches,
        "max_seconds": o.max_seconds,
        "memory_budget_bytes": o.memory_budget,
        "snapshot_s": o.snapshot_s,
    }


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    check_target(args.target)
    cli_parallel.apply(args)  # --backend/--scheduler reach the runner child in its environment
    options = run_options(args)
    state, interrupted = execute(args.target, options, console, live=console.is_terminal)
    failure = state.failure
    if failure is not None and failure.user_error and state.snapshot is None:
        raise UserError(failure.message)
    rep = report(state, finished_at=time.time())
    record = records.save_run(rep)
    if args.json:
        write_json(args.json, rep)
    console.print(run_view(state, str(record)))
    if failure is not None and not failure.user_error:
        console.print(
            f"[red]error:[/] {failure.message or failure.type} "
            f"(traceback in {record if json_to_stdout(args) else args.json or record})",
            highlight=False,
        )
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if state.status in (FINISHED, STOPPED) else EXIT_RUN_FAILED
