"""Two run reports side by side, pure: every figure of both, with the ratio B / A.

Used by ``pipebench compare`` and the TUI's runs table; ``resolve_run`` turns what a user
types (a run id or its prefix, a history number, a report file) into a report.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.engine.loader import parse_target
from workbench.engine.records import RunHistory, read_record
from workbench.errors import UserError
from workbench.text import printable

HIGHER, LOWER, NEUTRAL = "higher", "lower", ""
#: |ratio - 1| below this reads as "same".
SAME_WITHIN = 0.01


@dataclass(frozen=True)
class Figure:
    """One figure of both runs. ``unit``: "items/s", "s", "bytes", "%", "count"."""

    section: str  # "run", "stage tokenize", "memory", "gpu", "cache lookup"
    label: str
    a: float | None
    b: float | None
    unit: str
    better: str = NEUTRAL  # HIGHER or LOWER is better, or neither

    @property
    def ratio(self) -> float | None:
        """B / A, or None where either is missing or A is 0."""
        if self.a is None or self.b is None or self.a == 0:
            return None
        return self.b / self.a

    @property
    def verdict(self) -> str:
        """ "better", "worse", "same" for B against A, or "" where it has no direction."""
        r = self.ratio
        if r is None or not self.better:
            return ""
        if abs(r - 1) < SAME_WITHIN:
            return "same"
        return "better" if (r > 1) == (self.better == HIGHER) else "worse"


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _get(rep: dict[str, Any], *keys: str) -> float | None:
    value: Any = rep
    for k in keys:
        value = value.get(k) if isinstance(value, dict) else None
    return _num(value)


def _by_name(items: Any) -> dict[str, dict[str, Any]]:
    return {str(x.get("name")): x for x in items or [] if isinstance(x, dict)}


def _names(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    return list(a) + [n for n in b if n not in a]


def compare_reports(a: dict[str, Any], b: dict[str, Any]) -> list[Figure]:
    """Every figure of two reports: the run, per stage, memory, GPU and caches."""
    out = [
        Figure("run", "items/s", _get(a, "items_per_s"), _get(b, "items_per_s"), "items/s", HIGHER),
        Figure("run", "items", _get(a, "items"), _get(b, "items"), "count"),
        Figure("run", "duration", _get(a, "duration_s"), _get(b, "duration_s"), "s"),
    ]
    sa, sb = _by_name(a.get("stages")), _by_name(b.get("stages"))
    for name in _names(sa, sb):
        x, y = sa.get(name, {}), sb.get(name, {})
        sec = f"stage {name}"
        out += [
            Figure(
                sec, "items/s", _get(x, "items_per_s"), _get(y, "items_per_s"), "items/s", HIGHER
            ),
            Figure(sec, "self time", _get(x, "self_s"), _get(y, "self_s"), "s", LOWER),
            Figure(sec, "self %", _get(x, "self_pct"), _get(y, "self_pct"), "%"),
            Figure(sec, "self per batch", _get(x, "mean_batch_s"), _get(y, "mean_batch_s"), "s"),
        ]
    for key, label in (
        ("rss_peak_bytes", "peak RSS"),
        ("uss_peak_bytes", "peak USS"),
        ("rss_start_bytes", "RSS at start"),
    ):
        out.append(
            Figure("memory", label, _get(a, "memory", key), _get(b, "memory", key), "bytes", LOWER)
        )
    if a.get("gpu") or b.get("gpu"):
        for key, label in (
            ("peak_bytes", "peak GPU memory"),
            ("peak_reserved_bytes", "peak reserved (torch)"),
        ):
            out.append(
                Figure("gpu", label, _get(a, "gpu", key), _get(b, "gpu", key), "bytes", LOWER)
            )
    ca = _by_name(
        (a.get("caches") or {}).get("caches") if isinstance(a.get("caches"), dict) else None
    )
    cb = _by_name(
        (b.get("caches") or {}).get("caches") if isinstance(b.get("caches"), dict) else None
    )
    for name in _names(ca, cb):
        x, y = ca.get(name, {}), cb.get(name, {})
        sec = f"cache {name}"
        out += [
            Figure(sec, "hit rate", _pct(x.get("hit_rate")), _pct(y.get("hit_rate")), "%", HIGHER),
            Figure(sec, "hits", _get(x, "hits"), _get(y, "hits"), "count"),
            Figure(sec, "misses", _get(x, "misses"), _get(y, "misses"), "count"),
            Figure(sec, "bytes", _get(x, "bytes"), _get(y, "bytes"), "bytes"),
            Figure(
                sec, "time saved", _get(x, "seconds_saved"), _get(y, "seconds_saved"), "s", HIGHER
            ),
        ]
    return out


def _pct(rate: Any) -> float | None:
    v = _num(rate)
    return None if v is None else 100.0 * v


def load_report(path: Path) -> dict[str, Any]:
    """A report (or run record) from a JSON file.

    Raises:
        UserError: the file cannot be read, is not JSON, or is no run report (and why).
    """
    rep, why = read_record(path)
    if rep is None:
        hint = (
            "give a run report (pipebench run --json)"
            if why and why.startswith(("not JSON", "ends before", "not UTF-8"))
            else "pass a pipebench run --json file, a run id or a number from pipebench history"
        )
        raise UserError(f"{printable(path)} is not a run report: {why}; {hint}")
    rep.setdefault("_file", str(path))
    return rep


def resolve_run(ref: str, history: RunHistory | Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The report ``ref`` names: a JSON file, a history number (1 the oldest, -1 the
    newest), or a run id or a unique prefix of one.

    Args:
        ref: what the user typed.
        history: ``records.read_history()``, or records taken as numbered 1, 2, ... in order.

    Raises:
        UserError: no such file, number or run, a prefix that names several runs, a number
            whose record was skipped, a file that is no report.
    """
    if not isinstance(history, RunHistory):
        history = RunHistory(Path(), tuple(enumerate(history, start=1)), ())
    path = Path(ref)
    if ref.endswith(".json") or path.is_file():
        return load_report(path)
    number = ref[1:] if ref.startswith("#") else ref
    if number.lstrip("-").isdigit():
        return dict(history.by_number(int(number)))
    found = [r for _, r in history.runs if str(r.get("run_id", "")).startswith(ref)]
    if not found:
        raise UserError(
            f"no recorded run {printable(ref)!r}: give a run id, a number or a report file "
            "(see pipebench history)"
        )
    if len(found) > 1:
        raise UserError(f"{printable(ref)!r} names {len(found)} runs: give more of the run id")
    return dict(found[0])


def matches(rec: dict[str, Any], target: str) -> bool:
    """Whether a run record is of ``target``: a pipeline name, or a module (path or
    dotted name) with an optional ``:pipeline``."""
    t = parse_target(target)
    if t.name is None and not t.is_path and "." not in t.module:
        return rec.get("pipeline") == t.module
    if t.name is not None and rec.get("pipeline") != t.name:
        return False
    if t.is_path:
        return bool(rec.get("path")) and os.path.realpath(str(rec.get("path"))) == os.path.realpath(
            t.module
        )
    return rec.get("module") == t.module


def select_runs(
    runs: Sequence[tuple[int, dict[str, Any]]], target: str
) -> list[tuple[int, dict[str, Any]]]:
    """The numbered runs of ``target``; a bare name that is no pipeline's is taken as a
    module name."""
    found = [(n, r) for n, r in runs if matches(r, target)]
    if not found and ":" not in target and not parse_target(target).is_path:
        found = [(n, r) for n, r in runs if r.get("module") == target]
    return found
