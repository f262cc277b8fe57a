"""Batch-size tuning of one pipeline from what is already measured: its run records and its
saved sweeps, one point per batch size, items/s and peak private memory on a log2 axis.

Shared by the TUI's tuning view (``t``); pure functions of the records, so a test can feed
them constructed records. Which runs count:

- a **result** is a run that finished, or that was stopped (by hand, or by ``+``/``-``)
  after enough batches to tell (``compare_caveats.too_short``: 10 batches and 1 s); a run
  cancelled before its first batch (report field ``cancelled``; older records: stopped
  with no item out) is never one, nor a run that failed, crashed or passed its budget
  (those mark their size as failed: ✗ on the axis);
- only runs with the same other parameters as asked (``rows=…``) are compared; the others
  are counted and said;
- a run of a sweep counts once: with the sweep's items/s after its warm-up (the run's
  record has the whole run's average), and its record's peak private memory.

Per size, items/s is the median over its results, memory the largest peak.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from workbench.engine.compare_caveats import MIN_BATCHES, MIN_SECONDS, too_short
from workbench.engine.records import is_cancelled, is_result
from workbench.units import format_bytes, format_rate
from workbench.views.curve import chart
from workbench.views.text import user_text

#: Statuses whose run says nothing of the size's throughput but that it failed there.
FAILED_STATUSES = ("failed", "crashed", "budget_exceeded")


def _batch_size(params: Any) -> int | None:
    if not isinstance(params, dict):
        return None
    try:
        size = int(str(params.get("batch_size")))
    except ValueError:
        return None
    return size if size > 0 else None


def _others(params: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in params.items() if k != "batch_size"}


def _number(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok and math.isfinite(value) else None


@dataclass(frozen=True)
class TuningPoint:
    """One batch size: what its results measured."""

    batch_size: int
    items_per_s: float | None  # median over its results (items/s); None: no result
    results: int  # runs that count (see the module's docstring)
    failures: int  # runs at this size that failed, crashed or passed a budget
    private_peak_bytes: int | None  # the largest peak private memory of its results
    rss_peak_bytes: int | None  # the largest peak RSS of its results
    from_sweep: int = 0  # of ``results``, how many were runs of a sweep

    @property
    def ok(self) -> bool:
        return self.items_per_s is not None

    @property
    def failed(self) -> bool:
        """Failed there and never measured: drawn as ✗ on the axis."""
        return self.items_per_s is None and self.failures > 0


@dataclass(frozen=True)
class Tuning:
    """The points of one pipeline, the best among them and the budget they are held to."""

    points: tuple[TuningPoint, ...]
    best: TuningPoint | None  # the fastest size within the budget
    budget: int | None  # bytes of private memory, or None
    cancelled: int = 0  # runs cancelled before their first batch (left out)
    too_short: int = 0  # runs stopped too early to tell (left out)
    other_params: int = 0  # runs with other parameters (left out)
    others_seen: tuple[str, ...] = ()  # those parameters, as "rows=5", each once
    sweeps: int = 0  # sweeps that contributed
    over_budget: tuple[int, ...] = field(default_factory=tuple)  # sizes whose peak passed it


@dataclass
class _Acc:
    rates: list[float] = field(default_factory=list)
    private: list[int] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)
    failures: int = 0
    from_sweep: int = 0


def tuning(
    records: Iterable[Mapping[str, Any]],
    sweeps: Iterable[Mapping[str, Any]] = (),
    *,
    params: Mapping[str, Any] | None = None,
    budget: int | None = None,
) -> Tuning:
    """The tuning points of one pipeline.

    Args:
        records: its run records (``engine.records``), any order.
        sweeps: its saved sweeps (``engine.records.read_sweeps``).
        params: the other parameters the runs must have had (batch_size ignored); None
            takes every run.
        budget: private memory budget in bytes, or None; the best size stays within it.
    """
    want = _others(params) if params is not None else None
    by_run: dict[str, tuple[Mapping[str, Any], int]] = {}  # run id -> sweep point, size
    used_sweeps = 0
    acc: dict[int, _Acc] = {}
    recorded = {str(r.get("run_id")): r for r in records}
    for sw in sweeps:
        if want is not None and _others(sw.get("params") or {}) != want:
            continue
        used = False
        for p in sw.get("points") or []:
            size = _batch_size(p) if isinstance(p, dict) else None
            if size is None:  # not a batch size (a damaged or foreign sweep file)
                continue
            run_id = str(p.get("run_id"))
            by_run[run_id] = (p, size)
            used = True
            if run_id not in recorded:  # the record is gone: the sweep's figures alone
                a = acc.setdefault(size, _Acc())
                rate = _number(p.get("items_per_s"))
                if p.get("outcome") == "ok" and rate is not None:
                    a.rates.append(rate)
                    a.from_sweep += 1
                    rss = _number(p.get("rss_peak_bytes"))
                    if rss is not None:
                        a.rss.append(int(rss))
                elif p.get("outcome") in ("out_of_memory", "over_budget", "failed"):
                    a.failures += 1
        used_sweeps += used
    cancelled = other = short = 0
    seen: list[str] = []
    for run_id, rec in recorded.items():
        batch = _batch_size(rec.get("params"))
        if batch is None:
            continue
        if want is not None and _others(rec.get("params") or {}) != want:
            other += 1
            differ = _others(rec.get("params") or {})
            text = " ".join(f"{k}={v}" for k, v in differ.items() if want.get(k) != v)
            if text not in seen:
                seen.append(text)
            continue
        if is_cancelled(rec):
            cancelled += 1
            continue
        swept = by_run.get(run_id)
        if rec.get("status") in FAILED_STATUSES or (
            swept is not None and swept[0].get("outcome") in ("out_of_memory", "over_budget")
        ):
            acc.setdefault(batch, _Acc()).failures += 1
            continue
        if not is_result(rec):
            continue
        if swept is None and rec.get("status") == "stopped" and too_short(dict(rec)):
            short += 1
            continue
        rate = _number(rec.get("items_per_s"))
        if swept is not None:
            rate = _number(swept[0].get("items_per_s"))
        if rate is None:
            continue
        a = acc.setdefault(batch, _Acc())
        a.from_sweep += swept is not None
        a.rates.append(rate)
        mem = rec.get("memory")
        mem = mem if isinstance(mem, dict) else {}
        private, rss = _number(mem.get("private_peak_bytes")), _number(mem.get("rss_peak_bytes"))
        if private is not None:
            a.private.append(int(private))
        if rss is not None:
            a.rss.append(int(rss))
    points = tuple(
        TuningPoint(
            size,
            statistics.median(a.rates) if a.rates else None,
            len(a.rates),
            a.failures,
            max(a.private) if a.private else None,
            max(a.rss) if a.rss else None,
            a.from_sweep,
        )
        for size, a in sorted(acc.items())
    )
    over = tuple(
        p.batch_size
        for p in points
        if budget and p.private_peak_bytes is not None and p.private_peak_bytes > budget
    )
    fits = [p for p in points if p.ok and p.batch_size not in over]
    best = max(fits, key=lambda p: (p.items_per_s or 0.0, -p.batch_size)) if fits else None
    return Tuning(
        points,
        best,
        budget,
        cancelled=cancelled,
        too_short=short,
        other_params=other,
        others_seen=tuple(seen),
        sweeps=used_sweeps,
        over_budget=over,
    )


def tuning_table(t: Tuning) -> Table:
    """One row per size: runs, median items/s, share of the best, peak private and RSS."""
    table = Table(box=None, pad_edge=False, expand=False, padding=(0, 1), show_edge=False)
    for name in ("batch", "", "runs", "items/s", "vs best", "peak private", "peak RSS"):
        table.add_column(name, justify="left" if name == "" else "right", no_wrap=True)
    best = t.best.items_per_s if t.best else None
    for p in t.points:
        mark = "★" if p is t.best else ("▲" if p.batch_size in t.over_budget else "")
        if p.failed:
            mark = "✗"
        runs = f"{p.results}" + (f"+{p.failures}✗" if p.failures else "")
        share = f"{100 * p.items_per_s / best:.0f}%" if best and p.items_per_s else "–"
        table.add_row(
            str(p.batch_size),
            mark,
            runs,
            format_rate(p.items_per_s) if p.ok else "–",
            share,
            format_bytes(p.private_peak_bytes) if p.private_peak_bytes is not None else "–",
            format_bytes(p.rss_peak_bytes) if p.rss_peak_bytes is not None else "–",
            style="bold" if p is t.best else None,
        )
    return table


def tuning_notes(t: Tuning) -> Text:
    """What the figures are, what was left out and why, the marks used."""
    out = Text(style="dim")
    out.append(
        "items/s: median of the runs at each size (a sweep's runs after their warm-up); "
        "memory: the largest peak of the run's processes (private: anonymous + shared, what "
        "a budget holds)"
    )
    marks = ["★ best within the budget" if t.budget else "★ fastest"]
    if t.over_budget:
        marks.append("▲ peak private over the budget")
    if any(p.failed or p.failures for p in t.points):
        marks.append("✗ failed there (error, crash or budget)")
    out.append("\n" + " · ".join(marks))
    left = []
    if t.cancelled:
        left.append(f"{t.cancelled} cancelled before their first batch")
    if t.too_short:
        left.append(f"{t.too_short} stopped before {MIN_BATCHES} batches and {MIN_SECONDS:g} s")
    if t.other_params:
        which = "; ".join(t.others_seen[:3]) + ("; …" if len(t.others_seen) > 3 else "")
        left.append(f"{t.other_params} with other parameters ({which})")
    if left:
        out.append("\nleft out: " + ", ".join(left) + " (not results)")
    return out


def tuning_view(
    t: Tuning, *, width: int, height: int, rss: bool | None = None, title: Text | None = None
) -> Group:
    """The two curves (items/s, peak private memory; peak RSS too when ``rss`` or when
    ``height`` leaves room), the table of sizes and the notes, for a console ``width`` wide
    and about ``height`` lines high."""
    mark = t.best.batch_size if t.best else None
    parts: list[Any] = [title] if title is not None else []
    if not t.points:
        parts.append(
            Text(
                "nothing measured yet: run the pipeline at a few batch sizes (+ and - "
                "double and halve it) or sweep it (w)",
                style="dim",
            )
        )
        parts.append(tuning_notes(t))
        return Group(*parts)
    # The curves get what the table (a header and a row a size) and the notes leave; a
    # curve is its bars plus a title and an axis line.
    spare = height - (len(t.points) + 1) - 4
    show_rss = rss if rss is not None else spare >= 3 * 5 + 6
    curves = 3 if show_rss else 2
    bars = max(2 * curves, spare - 2 * curves)
    mem_h = max(2, min(6, bars // (curves + 1)))
    rate_h = max(2, min(10, bars - mem_h * (curves - 1)))
    parts.append(
        chart(
            t.points,
            lambda p: p.items_per_s,
            width=width,
            height=rate_h,
            title="items/s vs batch size (log2)",
            fmt=format_rate,
            mark=mark,
        )
    )
    parts.append(
        chart(
            t.points,
            lambda p: p.private_peak_bytes,
            width=width,
            height=mem_h,
            title="peak private memory",
            fmt=format_bytes,
            mark=mark,
            limit=t.budget,
            limit_label="budget",
        )
    )
    if show_rss:
        parts.append(
            chart(
                t.points,
                lambda p: p.rss_peak_bytes,
                width=width,
                height=mem_h,
                title="peak RSS",
                fmt=format_bytes,
                mark=mark,
            )
        )
    parts += [tuning_table(t), tuning_notes(t)]
    return Group(*parts)


def tuning_title(name: str, params: Mapping[str, Any] | None, t: Tuning) -> Text:
    """The view's title line: the pipeline, the parameters held fixed, what it draws on."""
    out = Text()
    out.append_text(user_text(name, "bold"))
    others = " ".join(f"{k}={v}" for k, v in _others(params or {}).items())
    if others:
        out.append_text(user_text(f"  {others}", "dim"))
    runs = sum(p.results for p in t.points)
    out.append(
        f"\n{runs} result{'' if runs == 1 else 's'} at {len(t.points)} size"
        f"{'' if len(t.points) == 1 else 's'}"
        + (f", {t.sweeps} sweep{'' if t.sweeps == 1 else 's'}" if t.sweeps else "")
        + (f"; budget {format_bytes(t.budget)} private" if t.budget else "; no memory budget"),
        style="dim",
    )
    if t.best is not None:
        out.append("\nbest: batch_size ", style="bold")
        out.append(str(t.best.batch_size), style="bold green")
        out.append(f", {format_rate(t.best.items_per_s)} items/s")
        if t.best.private_peak_bytes is not None:
            out.append(f", peak private {format_bytes(t.best.private_peak_bytes)}")
    return out
