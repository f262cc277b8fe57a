"""``pipebench table``: run every pipeline of a module with the same parameters and print
one table of measured figures (items/s, peak private and RSS memory, file-backed pages, CPU
seconds, processes), as seed 000's table compares its techniques.

Each pipeline runs in its own runner child, one after the other, followed and recorded
exactly as ``pipebench run`` follows and records a run. A parameter goes to every pipeline
that declares it; one that no pipeline declares is refused. Exit codes: 0 every run finished
(or reached its limit), 1 one failed or crashed, 2 bad input (one line on stderr), 130/143/129
stopped by a signal (the runs so far are printed and recorded; the rest are not started).
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from workbench.cli import run as cli_run
from workbench.cli.args import (
    EXIT_OK,
    EXIT_RUN_FAILED,
    JSON_HELP,
    json_path,
    param,
    pipeline_params,
    positive_int,
    time_limit,
    write_json,
)
from workbench.cli.follow import follow
from workbench.cli.signals import SIGNAL_EXIT
from workbench.cli.targets import check_target
from workbench.engine import records
from workbench.engine.catalog import ModuleInfo, PipelineInfo, discover
from workbench.engine.follow import RunJob
from workbench.engine.loader import parse_target
from workbench.engine.protocol import FINISHED, STOPPED
from workbench.engine.runner import RunOptions
from workbench.engine.session import report
from workbench.errors import UserError
from workbench.views.run import run_view
from workbench.views.table import comparison_row, comparison_table, unavailable_row
from workbench.views.text import user_text


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``table`` command to the ``pipebench`` parser."""
    p = subparsers.add_parser(
        "table",
        help="run every pipeline of a module with the same parameters and compare them",
        description="Run every pipeline of a module, one after the other, with the same "
        "parameters, and print items/s, peak memory, CPU and processes side by side.",
    )
    p.add_argument("module", help="path/to/module.py or package.module (no :name)")
    p.add_argument("--batch-size", type=positive_int, help="shortcut for --param batch_size=N")
    p.add_argument(
        "--param",
        type=param,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a parameter for every pipeline that declares it (repeatable)",
    )
    p.add_argument("--max-batches", type=positive_int, help="stop each run after N batches")
    p.add_argument("--max-seconds", type=time_limit, help="stop each run after S seconds")
    p.add_argument(
        "--json", type=json_path, metavar="FILE", help="also write the rows to FILE" + JSON_HELP
    )
    cli_run.add_instrument_argument(p)
    return p


def module_path(text: str) -> Path:
    """The file of the module ``text`` names (a path, or a dotted name found without
    running it).

    Raises:
        UserError: a target with ``:name``, a folder, a missing file, an unknown module.
    """
    target = parse_target(text)
    if target.name is not None:
        raise UserError(
            f"pipebench table runs every pipeline of a module: give {target.module} "
            f"without :{target.name}"
        )
    if target.is_path:
        path = Path(text)
        if path.is_dir():
            raise UserError(f"{path} is a folder: name one module in it, e.g. {path}/NAME.py")
        if not path.is_file():
            raise UserError(f"no such file: {path} (give a path to a .py file or a module name)")
        return path
    check_target(text)  # a bare name close to an example gets a hint
    try:
        spec = importlib.util.find_spec(text)
    except (ImportError, ValueError):
        spec = None
    origin = getattr(spec, "origin", None)
    if not origin or not origin.endswith(".py"):
        raise UserError(f"no module named {text!r}: give a path to a .py file")
    return Path(origin)


def _module(path: Path) -> ModuleInfo:
    (info,) = discover(path)
    if info.error:
        raise UserError(info.error)
    if not info.pipelines:
        raise UserError(f"no pipelines in {path}: decorate a factory with @workbench.pipeline")
    return info


def _params_for(p: PipelineInfo, given: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """The given parameters ``p`` declares, and the names of those it does not."""
    declared = {name for name, _default, _kind in p.params}
    return {k: v for k, v in given.items() if k in declared}, [
        k for k in given if k not in declared
    ]


def cmd_table(args: argparse.Namespace, console: Console) -> int:
    path = module_path(args.module)
    records.check_home()
    info = _module(path)
    given = pipeline_params(args)
    declared = {name for p in info.pipelines for name, _d, _k in p.params}
    unknown = [k for k in given if k not in declared]
    if unknown:
        raise UserError(
            f"no pipeline of {path} has a parameter {unknown[0]!r}; their parameters: "
            f"{', '.join(sorted(declared)) or 'none'}"
        )
    rows: list[dict[str, Any]] = []
    reports: list[dict[str, Any]] = []
    signalled: str | None = None
    failed = False
    runnable = [p for p in info.pipelines if p.available]
    for p in info.pipelines:
        if not p.available:
            rows.append(unavailable_row(p.name, p.target, p.reason or "cannot run here"))
            continue
        if signalled is not None:
            continue
        params, not_applied = _params_for(p, given)
        options = RunOptions(
            params=params,
            max_batches=args.max_batches,
            max_seconds=args.max_seconds,
            mode_options={} if args.instrument else {"instrument": False},
        )
        number = runnable.index(p) + 1
        console.print(
            Text.assemble(
                (f"[{number}/{len(runnable)}] ", "dim"),
                user_text(p.name, "bold"),
                user_text("".join(f" {k}={v}" for k, v in params.items()), "dim"),
            )
        )
        state, signalled = follow(
            RunJob(p.target, options),
            console,
            view=(lambda s: run_view(s, width=console.width)) if console.is_terminal else None,
            what=f"the run of {p.name}",
        )
        if state.failure is not None and state.bad_input:
            rows.append(
                {
                    "pipeline": p.name,
                    "target": p.target,
                    "status": "failed",
                    "message": state.failure.message,
                }  # fmt: skip
            )
            failed = True
            continue
        rep = report(state, finished_at=time.time())
        record: str | None = None
        try:
            record = str(records.save_run(rep))
        except UserError as exc:
            console.print(Text.assemble(("error: ", "red"), user_text(exc.message)))
        except OSError as exc:
            console.print(
                Text.assemble(("error: ", "red"), user_text(f"the run record was not saved: {exc}"))
            )
        failed = failed or state.status not in (FINISHED, STOPPED) or record is None
        rows.append(comparison_row(rep, record, tuple(not_applied)))
        reports.append(rep)
    title = f"{path.name}: {len(rows)} pipelines" + (
        f", {' '.join(f'{k}={v}' for k, v in given.items())}" if given else ""
    )
    if args.json:
        write_json(
            args.json,
            {"module": str(path), "params": given, "rows": rows, "reports": reports},
        )
    console.print(comparison_table(rows, title=title))
    if signalled is not None:
        return SIGNAL_EXIT[signalled]
    return EXIT_RUN_FAILED if failed else EXIT_OK
