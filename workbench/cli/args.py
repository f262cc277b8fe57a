"""Argument types and exit codes shared by every ``pipebench`` subcommand."""

from __future__ import annotations

import argparse
import json
import math
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


#: The longest duration an option takes, in seconds (about 31 years); a number that large
#: would overflow the waits it ends up in.
MAX_SECONDS = 1e9
_NO_LIMIT = " (leave the option out for no limit)"


def number_of_seconds(
    text: str, *, least: float = 0.0, strict: bool = True, limit: bool = False
) -> float:
    """A finite number of seconds: above ``least`` (at least it, unless ``strict``), at most
    ``MAX_SECONDS``; ``limit``: the option is a time limit that is off when left out (the
    errors say so).

    Raises:
        argparse.ArgumentTypeError: one line; ``nan`` and ``inf`` are refused.
    """
    hint = _NO_LIMIT if limit else ""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of seconds: give a finite number such as 2.5{hint}"
        )
    if v < least or (strict and v == least):
        raise argparse.ArgumentTypeError(
            f"{text} must be {'more than' if strict else 'at least'} {least:g} seconds"
        )
    if v > MAX_SECONDS:
        raise argparse.ArgumentTypeError(
            f"{text} seconds is more than {MAX_SECONDS:,.0f} (about 31 years){hint}"
        )
    return v


def seconds(text: str) -> float:
    """A finite number of seconds above 0 (see ``number_of_seconds``)."""
    return number_of_seconds(text)


def time_limit(text: str) -> float:
    """A time limit: a finite number of seconds above 0; no limit is the option left out."""
    return number_of_seconds(text, limit=True)


def size(text: str) -> int:
    """Bytes above 0, written like 2GiB or 512MB; 0 or a negative size is refused (there is
    no "0 means no limit": leave the option out)."""
    stripped = text.strip()
    if stripped.startswith("-"):
        raise argparse.ArgumentTypeError(
            f"{text!r} is negative: give a size above 0 such as 2GiB or 512MiB"
        )
    try:
        v = parse_size(stripped)
    except UserError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None
    if v <= 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is 0 bytes: give a size above 0 such as 2GiB{_NO_LIMIT}"
        )
    return v


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
