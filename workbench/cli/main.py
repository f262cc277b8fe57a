"""The ``pipebench`` command: the workbench (TUI) with no command, headless commands else.

Exit codes: 0 the run finished (or reached its limit), 1 it failed, crashed or passed its
memory budget, 2 bad input (one line on stderr), 130 stopped with Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

from rich.console import Console
from rich.live import Live
from rich.markup import escape

from workbench.cli import kernels as cli_kernels
from workbench.cli import lines as cli_lines
from workbench.cli import parallel as cli_parallel
from workbench.cli import sweep as cli_sweep
from workbench.cli.args import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_RUN_FAILED,
    EXIT_USAGE,
    param,
    pipeline_params,
    positive_int,
    seconds,
    size,
    time_limit,
)
from workbench.engine import records
from workbench.engine.catalog import discover
from workbench.engine.loader import default_root
from workbench.engine.protocol import FINISHED, STOPPED, Log
from workbench.engine.runner import RunOptions, start_run
from workbench.engine.session import RunState, apply, report
from workbench.errors import UserError
from workbench.views.run import catalog_table, run_view

COMMANDS = ("list", "run", "kernels", "lines", *cli_sweep.COMMANDS)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # "-5GiB" and "-inf" are (bad) values, not unknown options (Python 3.13's rule, and
        # -inf/-nan), so the type says what is wrong instead of "expected one argument".
        self._negative_number_matcher = re.compile(r"^-(?:\.?\d|inf|nan)", re.IGNORECASE)

    def error(self, message: str) -> NoReturn:
        raise UserError(f"{self.prog}: {message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pipebench",
        description=(
            "A terminal workbench for ML data pipelines. With no command, opens the workbench "
            "on PATH (default ./pipelines, else the bundled examples)."
        ),
    )
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    p = sub.add_parser("list", help="list the pipelines of a folder or module")
    p.add_argument("path", nargs="?", help="folder or .py file (default ./pipelines or examples)")

    p = sub.add_parser("run", help="run a pipeline headless and print its stage report")
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
    p.add_argument("--max-seconds", type=time_limit, help="stop after S seconds")
    p.add_argument(
        "--memory-budget",
        type=size,
        metavar="SIZE",
        help="end the run when its RSS passes SIZE (2GiB, 512MiB, ...)",
    )
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the report to FILE")
    p.add_argument(
        "--snapshot-interval",
        type=seconds,
        default=0.1,
        metavar="S",
        help="seconds between snapshots from the runner (default 0.1)",
    )
    cli_parallel.add_arguments(p)
    cli_kernels.add_parser(sub)
    cli_lines.add_parser(sub)
    cli_sweep.add_parser(sub)
    return parser


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
    cli_parallel.apply(args)  # --backend/--scheduler reach the runner child in its environment
    options = run_options(args)
    state, interrupted = execute(args.target, options, console, live=console.is_terminal)
    failure = state.failure
    if failure is not None and failure.user_error and state.snapshot is None:
        raise UserError(failure.message)
    rep = report(state, finished_at=time.time())
    record = records.save_run(rep)
    if args.json:
        records.write_atomic(args.json, rep)
    console.print(run_view(state, str(record)))
    if failure is not None and not failure.user_error:
        console.print(
            f"[red]error:[/] {failure.message or failure.type} "
            f"(traceback in {args.json or record})",
            highlight=False,
        )
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if state.status in (FINISHED, STOPPED) else EXIT_RUN_FAILED


def cmd_list(args: argparse.Namespace, console: Console) -> int:
    root = Path(args.path) if args.path else default_root()
    modules = discover(root)
    if not modules:
        raise UserError(f"no pipeline modules (*.py) in {root}")
    console.print(f"[bold]{root}[/]")
    console.print(catalog_table(modules))
    return EXIT_OK


def cmd_workbench(path: str | None, console: Console) -> int:
    root = Path(path) if path else default_root()
    if not root.exists():
        raise UserError(f"no such file or folder: {root}")
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        console.print(
            "pipebench: the workbench needs a terminal; headless: `pipebench run TARGET`. "
            "Pipelines here:"
        )
        console.print(catalog_table(discover(root)))
        return EXIT_OK
    from workbench.ui.app import run_app  # Textual is imported only here

    return run_app(root)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    console = Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    try:
        if argv and argv[0] not in COMMANDS and not argv[0].startswith("-"):
            if len(argv) > 1:
                raise UserError(
                    f"pipebench: unexpected {' '.join(argv[1:])!r}; "
                    "usage: pipebench [PATH] or pipebench COMMAND ..."
                )
            return cmd_workbench(argv[0], console)
        args = build_parser().parse_args(argv)
        if args.command == "run":
            return cmd_run(args, console)
        if args.command == "list":
            return cmd_list(args, console)
        if args.command == "kernels":
            return cli_kernels.cmd_kernels(args, console)
        if args.command == "lines":
            return cli_lines.cmd_lines(args, console)
        if args.command in cli_sweep.COMMANDS:
            return cli_sweep.main(args, console)
        return cmd_workbench(None, console)
    except UserError as exc:
        err.print(f"[red]error:[/] {exc.message}", highlight=False, soft_wrap=True)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        os._exit(EXIT_OK)  # `pipebench list | head`


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
