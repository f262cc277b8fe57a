"""Parsing and formatting of byte sizes and durations, shared by the CLI and the UI."""

from __future__ import annotations

import math
import re

from workbench.errors import UserError

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}


def parse_size(text: str) -> int:
    """Bytes in a size such as ``2GiB``, ``512MB`` or ``1000000`` (0 or more: no sign).

    Raises:
        UserError: one line saying how to write a size.
    """
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", text)
    unit = m.group(2).lower() if m else ""
    if not m or unit not in _UNITS:
        raise UserError(f"{text!r} is not a size: write it like 2GiB, 512MiB or 800MB")
    value = float(m.group(1)) * _UNITS[unit]
    if not math.isfinite(value):
        raise UserError(f"{text!r} is too large to be a size: write it like 2GiB or 512MiB")
    return int(value)


def format_bytes(n: float | None) -> str:
    """``1.5 GiB``-style text for a byte count, ``N/A`` for None."""
    if n is None:
        return "N/A"
    sign = "-" if n < 0 else ""
    n = abs(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{sign}{n:.0f} {unit}" if unit == "B" else f"{sign}{n:.1f} {unit}"
        n /= 1024
    return f"{sign}{n:.1f} TiB"


def format_seconds(s: float | None) -> str:
    """A duration with a unit that keeps three significant figures."""
    if s is None:
        return "N/A"
    if s >= 100:
        return f"{s:.0f} s"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    if s >= 1e-6:
        return f"{s * 1e6:.3g} µs"
    return f"{s * 1e9:.0f} ns"


def format_rate(r: float | None) -> str:
    """Items per second with a k/M suffix."""
    if r is None:
        return "N/A"
    if r >= 1e6:
        return f"{r / 1e6:.2f}M"
    if r >= 1e4:
        return f"{r / 1e3:.1f}k"
    if r >= 100:
        return f"{r:.0f}"
    return f"{r:.2f}"
