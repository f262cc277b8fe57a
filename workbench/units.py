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


def significant(x: float, digits: int = 3) -> str:
    """``x`` with ``digits`` significant digits, trailing zeros kept: ``1.00``, ``18.5``,
    ``250``, ``0.0123``; a number of ``digits`` or more whole digits is shown whole
    (``1,234``), never in exponent form."""
    if x != x or x in (float("inf"), float("-inf")):
        return str(x)
    if x == 0:
        return "0"
    if abs(x) >= 10 ** (digits - 1) and abs(round(x)) >= 10**digits - 0.5:
        return f"{x:,.0f}"
    text = f"{x:#.{digits}g}"
    if "e" in text:  # tiny: |x| < 1e-4
        mantissa, _, exponent = text.partition("e")
        return f"{mantissa.rstrip('.')}e{int(exponent)}"
    return text.rstrip(".")


def _scaled(value: float, units: tuple[tuple[float, str], ...], digits: int = 3) -> str:
    """``value`` in the largest of ``units`` (factor, suffix; largest first) in which it
    is at least 1 once rounded to ``digits`` significant digits, else the smallest; where
    that unit would need more digits (1000 to 1023 KiB), the next one up (0.977 MiB)."""
    sign = "-" if value < 0 else ""
    value = abs(value)
    for i, (factor, suffix) in enumerate(units):
        scaled = value / factor
        if float(f"{scaled:.{digits}g}") >= 1:
            if i > 0 and float(f"{scaled:.{digits}g}") >= 10**digits:
                factor, suffix = units[i - 1]
                scaled = value / factor
            return f"{sign}{significant(scaled, digits)}{suffix}"
    factor, suffix = units[-1]
    return f"{sign}{significant(value / factor, digits)}{suffix}"


_SECONDS = ((1.0, " s"), (1e-3, " ms"), (1e-6, " µs"), (1e-9, " ns"))
_BYTES = ((1024.0**4, " TiB"), (1024.0**3, " GiB"), (1024.0**2, " MiB"), (1024.0, " KiB"))
_COUNTS = ((1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""))


def format_bytes(n: float | None) -> str:
    """A byte count with three significant digits in binary units: ``512 B``,
    ``1.50 KiB``, ``18.5 MiB``, ``250 GiB``; ``N/A`` for None."""
    if n is None:
        return "N/A"
    if abs(n) < 1024:
        return f"{n:.0f} B"
    return _scaled(n, _BYTES)


def format_seconds(s: float | None) -> str:
    """A duration with three significant digits and an SI unit: ``1.00 ms``, ``1.87 ms``,
    ``3.90 µs``, ``250 ns``, ``12.0 s`` (``1,234 s`` past 999); ``N/A`` for None."""
    if s is None:
        return "N/A"
    if s == 0:
        return "0 s"
    return _scaled(s, _SECONDS)


def format_rate(r: float | None) -> str:
    """A rate (per second; the caller adds the unit) with three significant digits and a
    k/M/G suffix: ``0.500``, ``18.5``, ``999``, ``18.5k``, ``1.20M``; ``N/A`` for None."""
    if r is None:
        return "N/A"
    if r == 0:
        return "0"
    return _scaled(r, _COUNTS)


def format_count(x: float | None, suffix: str = "") -> str:
    """Any other figure (GFLOP/s, speedups, ratios) with three significant digits:
    ``0.494``, ``40.5``, ``1,600``; ``suffix`` appended (``x``); empty for None."""
    if x is None:
        return ""
    return f"{significant(x)}{suffix}"
