"""Argument types and exit codes shared by every ``pipebench`` subcommand."""

from __future__ import annotations

import argparse
import json
import math
import os
import stat
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


#: The shortest snapshot interval: below it the runner's own readings (made on the chain's
#: thread, 0.05-0.3 ms each) become a share of the run they measure, and the parent reads
#: memory only every 50 ms anyway.
MIN_SNAPSHOT_S = 0.01


def snapshot_interval(text: str) -> float:
    """Seconds between live snapshots: at least ``MIN_SNAPSHOT_S``."""
    return number_of_seconds(text, least=MIN_SNAPSHOT_S, strict=False)


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


def json_path(text: str) -> Path:
    """``--json FILE``, checked before anything runs (a report must not be lost to a path
    found bad at the end): ``-``, an existing regular file (or a link to one), a device or
    a pipe (written through, as a shell redirection would), or a new file in an existing
    folder pipebench can write to.

    Raises:
        argparse.ArgumentTypeError: one line saying what is wrong with the path.
    """
    if text == STDOUT:
        return Path(text)
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path: give a file, or - for stdout")
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder: give a file in it")
    if path.exists():
        if not os.access(path, os.W_OK):
            raise argparse.ArgumentTypeError(f"{text} cannot be written (permission denied)")
        return path
    folder = path.parent
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"no folder {folder} to write {path.name} in")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"cannot write in {folder} (permission denied)")
    return path


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON (two-space indent, one trailing newline) to stdout for ``-``,
    through to ``path`` where it is a device or a pipe, else atomically to the regular file
    (a link's target, the link kept).

    Raises:
        UserError: one line naming the path and why it cannot be written.
    """
    if str(path) == STDOUT:
        json.dump(data, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        sys.stdout.flush()
        return
    target = path.resolve() if path.is_symlink() else path
    try:
        special = target.exists() and not stat.S_ISREG(target.stat().st_mode)
    except OSError:
        special = False
    if not special:
        records.write_atomic(target, data, make_parents=False)
        return
    try:
        with open(target, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, default=str)
            f.write("\n")
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
