"""Argument types and exit codes shared by every ``pipebench`` subcommand."""

from __future__ import annotations

import argparse

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
