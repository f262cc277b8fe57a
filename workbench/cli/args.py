"""Argument types and exit codes shared by every ``pipebench`` subcommand."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from workbench.engine import records
from workbench.errors import UserError
from workbench.units import parse_size

EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def positive_int(text: str) -> int:
    """A whole number of at least 1."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return v


def seconds(text: str) -> float:
    """A number of seconds above 0."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be more than 0")
    return v


def size(text: str) -> int:
    """Bytes, written like 2GiB or 512MB."""
    try:
        return parse_size(text)
    except UserError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def param(text: str) -> tuple[str, str]:
    """A NAME=VALUE pipeline parameter."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    return key.strip(), value


def pipeline_params(args: argparse.Namespace) -> dict[str, str]:
    """``--param`` values, with ``--batch-size`` as the batch_size parameter."""
    params = dict(args.param)
    if getattr(args, "batch_size", None) is not None:
        params["batch_size"] = str(args.batch_size)
    return params


#: ``--json -``: the report goes to stdout, and the human output to stderr.
STDOUT = "-"
JSON_HELP = "; - writes it to stdout (the tables then go to stderr)"


def json_to_stdout(args: argparse.Namespace) -> bool:
    """Whether the command was given ``--json -``."""
    path = getattr(args, "json", None)
    return path is not None and str(path) == STDOUT


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` atomically, or to stdout for ``-`` (the same
    layout: two-space indent, one trailing newline)."""
    if str(path) != STDOUT:
        records.write_atomic(path, data)
        return
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
    sys.stdout.flush()
