"""``pipebench lines``: line-level hot spots of chosen stages, and the cost of looking.

Runs the pipeline in a runner child with ``line_profiler`` (or, ``--functions``,
``cProfile``) on the chosen stages, then once more without it, and prints each profiled
function's lines with hits, time, time per hit and share, the hottest marked, and both
throughputs. Exit codes: 0 done, 1 the pipeline failed, 2 bad input (one line on stderr
each; what could be profiled is still printed), 130 stopped with Ctrl-C, 143 with
SIGTERM, 129 with SIGHUP.
"""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console, RenderableType
from rich.spinner import Spinner
from rich.text import Text

from workbench.cli.args import (
    EXIT_OK,
    EXIT_RUN_FAILED,
    EXIT_USAGE,
    JSON_HELP,
    json_path,
    param,
    pipeline_params,
    positive_int,
    time_limit,
    write_json,
)
from workbench.cli.follow import echo, follow
from workbench.cli.signals import SIGNAL_EXIT
from workbench.cli.targets import check_target
from workbench.engine.follow import Update
from workbench.engine.lines.runner import LinesJob, LinesRequest
from workbench.engine.lines.session import (
    BASELINE,
    PROFILE,
    LinesState,
    lines_report,
    run_of,
    running_phase,
)
from workbench.engine.protocol import FAILED
from workbench.engine.session import stage_rows
from workbench.errors import UserError
from workbench.views.lines import lines_view
from workbench.views.text import user_text


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``lines`` command to the ``pipebench`` parser."""
    p = subparsers.add_parser(
        "lines",
        help="line-level hot spots of chosen stages (line_profiler, cProfile)",
        description="Run a pipeline with line_profiler on chosen stages and print each "
        "line's hits and time, the hottest marked; then run it again without "
        "the profiler and print how much profiling slowed it. With no --stage, "
        "the bottleneck of the unprofiled run is profiled.",
    )
    p.add_argument("target", help="path/to/module.py[:name] or package.module[:name]")
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--stage",
        action="append",
        default=[],
        metavar="NAME",
        help="profile this stage (repeatable; the source too)",
    )
    which.add_argument("--all", action="store_true", help="profile every stage")
    p.add_argument(
        "--function",
        action="append",
        default=[],
        metavar="MODULE:QUALNAME",
        help="also profile a function the stages call (repeatable)",
    )
    p.add_argument(
        "--functions",
        action="store_true",
        help="function view instead: cProfile on the stages, top functions by "
        "own and by cumulative time",
    )
    p.add_argument(
        "--top",
        type=positive_int,
        metavar="N",
        help="show only the N hottest lines of each function (function view: "
        "the top N functions, default 15)",
    )
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
        "--max-batches",
        type=positive_int,
        help="stop each run after N batches out of the last stage",
    )
    p.add_argument(
        "--max-seconds", type=time_limit, metavar="S", help="stop each run after S seconds"
    )
    p.add_argument(
        "--json",
        type=json_path,
        metavar="FILE",
        help="also write the profile, the cost of looking and both runs to FILE" + JSON_HELP,
    )
    return p


def lines_request(args: argparse.Namespace) -> LinesRequest:
    return LinesRequest(
        target=args.target,
        params=pipeline_params(args),
        stages=tuple(args.stage),
        all_stages=args.all,
        functions=tuple(args.function),
        view="functions" if args.functions else "lines",
        max_batches=args.max_batches,
        max_seconds=args.max_seconds,
    )


PHASE_TEXT = {
    BASELINE: "running without the profiler (for the cost of looking)",
    PROFILE: "running with the profiler",
}


def progress(state: LinesState) -> RenderableType:
    """The live line: which run is going and how many items it has put out."""
    phase = running_phase(state)
    run = run_of(state, phase) if phase else None
    rows = stage_rows(run) if run else []
    done = f" · {rows[-1].items:,} items" if rows else ""
    text = PHASE_TEXT[phase] + done if phase else "starting…"
    return Spinner("dots", Text(text))


def execute(request: LinesRequest, console: Console) -> tuple[LinesState, str | None]:
    """Run the job to its end through the one run follower (``cli.follow``), echoing the
    profiled run's output; Ctrl-C, SIGTERM and SIGHUP stop it (a second Ctrl-C kills).
    Returns the final state and the stop reason when a signal stopped it ("user",
    "sigterm", "sighup"), else None."""

    def profiled_output(update: Update[LinesState]) -> None:
        if update.step is not None and update.step.label == PROFILE:
            echo(console, update)  # the baseline prints the same again: shown once

    return follow(
        LinesJob(request),
        console,
        view=progress,
        what="the line profile",
        echo_output=False,
        on_update=profiled_output,
    )


def cmd_lines(args: argparse.Namespace, console: Console) -> int:
    check_target(args.target)
    request = lines_request(args)
    if request.view == "functions" and request.functions:
        raise UserError(
            "--function is for the line view; --functions already shows every "
            "function the stages call"
        )
    state, signalled = execute(request, console)
    run, prof = state.profiled, state.profile
    first = state.baseline if run is None else run
    failure = first.failure if first else None
    if failure is not None and failure.user_error and (prof is None or not prof.stages):
        problems = prof.problems if prof and prof.problems else (failure.message,)
        if len(problems) == 1:
            raise UserError(problems[0])
        _errors(problems)
        return EXIT_USAGE
    if args.json:
        write_json(args.json, lines_report(state))
    if not console.is_terminal:  # a file or a pipe: keep the source lines whole
        console.width = max(console.width, 160)
    console.print(lines_view(state, top=args.top))
    if failure is not None and not failure.user_error:
        console.print(_error(failure.message or failure.type), highlight=False, soft_wrap=True)
    if signalled is not None:
        return SIGNAL_EXIT[signalled]
    if prof is not None and prof.problems:
        _errors(prof.problems)
        return EXIT_USAGE
    if run is None or run.status == FAILED or failure is not None:
        return EXIT_RUN_FAILED
    return EXIT_OK


def _error(message: str) -> Text:
    """``error: MESSAGE`` with the message (user text: names, exception text) as data."""
    return Text.assemble(("error:", "red"), " ", user_text(message))


def _errors(lines: tuple[str, ...]) -> None:
    err = Console(stderr=True, highlight=False)
    for line in lines:
        err.print(_error(line), highlight=False, soft_wrap=True)
