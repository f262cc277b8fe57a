"""``pipebench run``: run a pipeline headless and print its stage report.

Exit codes: 0 the run finished (or reached its limit), 1 it failed, crashed or passed its
memory budget, 2 bad input (one line on stderr), 130 stopped with Ctrl-C, 143 with SIGTERM,
129 with SIGHUP (each still prints and records the report).
"""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING, Any, NamedTuple

from workbench.cli import parallel as cli_parallel
from workbench.cli.args import (
    EXIT_OK,
    EXIT_RUN_FAILED,
    EXIT_USAGE,
    JSON_HELP,
    MIN_SNAPSHOT_S,
    json_path,
    json_to_stdout,
    param,
    pipeline_params,
    positive_int,
    size,
    snapshot_interval,
    time_limit,
    write_json,
)
from workbench.cli.signals import SIGNAL_EXIT, HeldSignals
from workbench.cli.targets import check_target
from workbench.engine import records
from workbench.engine.runner import RunHandle, RunOptions, start_run
from workbench.engine.sections.memory import BUDGET_HELP, BUDGET_MEASURES
from workbench.errors import UserError

if TYPE_CHECKING:
    from rich.console import Console


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
    p.add_argument("--max-seconds", type=time_limit, help="stop after S seconds")
    p.add_argument(
        "--memory-budget",
        type=size,
        metavar="SIZE",
        help="stop the run when the memory of its process tree passes SIZE (2GiB, 512MiB, "
        "...); what is counted is --budget-on",
    )
    p.add_argument(
        "--budget-on",
        choices=BUDGET_MEASURES,
        default="private",
        help="what --memory-budget applies to: "
        + "; ".join(f"{k}: {v}" for k, v in BUDGET_HELP.items())
        + " (default private)",
    )
    p.add_argument(
        "--json", type=json_path, metavar="FILE", help="also write the report to FILE" + JSON_HELP
    )
    p.add_argument(
        "--snapshot-interval",
        type=snapshot_interval,
        default=0.1,
        metavar="S",
        help=f"seconds between live snapshots (default 0.1, at least {MIN_SNAPSHOT_S:g})",
    )
    add_instrument_argument(p)
    cli_parallel.add_arguments(p)
    return p


def add_instrument_argument(p: argparse.ArgumentParser) -> None:
    """``--no-instrument``: leave the module's own context managers and ``cached_property``
    values as they are (by default they report to the run without code changes)."""
    p.add_argument(
        "--no-instrument",
        dest="instrument",
        action="store_false",
        help="do not record the module's own context managers (classes, @contextmanager "
        "functions) or count its cached_property values; the report lists what was "
        "recorded this way",
    )


def run_options(args: argparse.Namespace) -> RunOptions:
    return RunOptions(
        params=pipeline_params(args),
        max_batches=args.max_batches,
        max_seconds=args.max_seconds,
        memory_budget=args.memory_budget,
        budget_on=args.budget_on,
        snapshot_s=args.snapshot_interval,
        mode_options={} if args.instrument else {"instrument": False},
    )


class Begun(NamedTuple):
    """A run started by ``begin_run``: its runner, what is to be said about the home, and
    the stop signals held since it started (acted on once it is followed)."""

    handle: RunHandle
    home_problem: str | None
    held: HeldSignals


def begin_run(args: argparse.Namespace) -> Begun:
    """Check the target and the home, and spawn the runner child: called by ``pipebench``'s
    dispatch before Rich and the views are imported (``main.Command``).

    Raises:
        UserError: a target that names nothing (``check_target``), an unsafe home
            (``records.check_home``), a runner that cannot be spawned (no descriptors or
            processes left): nothing is started then.
    """
    check_target(args.target)
    # An unsafe home is refused before anything runs; one that cannot keep the record is
    # said (before the run's output, and again at the end), and the run goes ahead.
    home_problem = records.check_home()
    cli_parallel.apply(args)  # --backend/--scheduler reach the runner child in its environment
    options = run_options(args)
    held = HeldSignals()  # a Ctrl-C from now on stops the run, once it is followed
    try:
        handle = start_run(args.target, options)
    except OSError as exc:
        held.release()
        raise UserError(f"the runner could not be started: {exc.strerror or exc}") from None
    return Begun(handle, home_problem, held)


def cmd_run(args: argparse.Namespace, console: Console, begun: Begun) -> int:
    """``pipebench run``: follow the run ``begin_run`` started to its end, print its report
    and keep its record; returns the exit code."""
    handle, options = begun.handle, begun.handle.options
    if begun.home_problem:
        from rich.console import Console

        from workbench.views.text import user_text

        Console(stderr=True, highlight=False).print(
            user_text(f"warning: {begun.home_problem}", "yellow"), soft_wrap=True
        )
    from rich.text import Text

    from workbench.cli.follow import follow
    from workbench.engine.follow import RunJob
    from workbench.engine.protocol import FINISHED, STOPPED
    from workbench.engine.session import report
    from workbench.views.run import live_view, run_view
    from workbench.views.text import user_text

    state, signalled = follow(
        RunJob(args.target, options),
        console,
        view=(lambda s: live_view(s, width=console.width)) if console.is_terminal else None,
        what="the run",
        starter=lambda target, opts: handle,
        held=begun.held,
    )
    failure = state.failure
    if failure is not None and state.bad_input:
        raise UserError(failure.message)
    rep = report(state, finished_at=time.time())
    unwritten: list[str] = []  # what could not be written; said last, the rest kept
    if args.json:
        try:
            write_json(args.json, rep)
        except UserError as exc:
            unwritten.append(exc.message)
    record: str | None = None
    try:
        record = str(records.save_run(rep))
    except UserError as exc:  # "the run record was not saved: <why>"
        unwritten.append(exc.message)
    except OSError as exc:
        unwritten.append(
            f"the run record was not saved: {exc.strerror or exc} ({records.runs_dir()})"
        )
    # Not cropped: the record line is never folded or cut (a terminal wraps a long path;
    # copied, it is whole); the rest is laid out within the width.
    console.print(run_view(state, record, console.width), crop=False)
    if failure is not None and not failure.user_error:
        where = record if json_to_stdout(args) or not args.json else args.json
        console.print(
            Text.assemble(
                ("error: ", "red"),
                user_text(failure.message or failure.type),
                f" (traceback in {where or 'the log above'})",
            ),
            highlight=False,
            soft_wrap=True,  # one line, however long (a terminal wraps it)
        )
    if unwritten:  # last, one line each: what was measured is printed (and kept) above
        from rich.console import Console

        err = Console(stderr=True, highlight=False)
        for why in unwritten:
            err.print(Text.assemble(("error: ", "red"), user_text(why)), soft_wrap=True)
    if signalled is not None:
        return SIGNAL_EXIT[signalled]
    if state.status not in (FINISHED, STOPPED):
        return EXIT_RUN_FAILED
    return EXIT_USAGE if unwritten else EXIT_OK
