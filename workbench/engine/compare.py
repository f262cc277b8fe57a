"""Recorded runs side by side, pure: every figure of each run, with its ratio to the first
run (the base, A).

Used by ``pipebench compare`` (and its regression gate, ``engine.gate``) and the TUI's
runs table; ``engine.compare_caveats`` says what makes a compare unfair (different
pipelines, a partial or short run, an old record). ``resolve_run`` turns what a user types
(a run id or its prefix, a history number, a report file) into a report.

Totals (items, self time) grow with the length of a run, so runs of different lengths are
compared on rates and **per-item** figures:

- *self time per item* of a stage: its self time, JIT compilation left out, divided by the
  items out of the **last stage** (the pipeline's items). The stages' figures add up to
  the run's wall time per item, whatever each stage yields.
- *private memory per item*: the peak private memory (anonymous + shared, what the kernel
  cannot drop) above its level when the chain started, divided by the items in one batch
  out of the last stage (its items / its batches): what each item of a batch costs at the
  peak, the figure that decides how far the batch size can grow.
- *CPU per item*: CPU seconds of the run's process tree divided by the pipeline's items.

Records of schema 1 (before the item model and the process-tree memory) still compare:
the figures they lack are None, shown as N/A; so is a memory figure of 0 bytes (no sample
was taken).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.engine.loader import parse_target
from workbench.engine.records import RunHistory, read_record
from workbench.errors import UserError
from workbench.text import names_match, printable

HIGHER, LOWER, NEUTRAL = "higher", "lower", ""
#: |ratio - 1| below this reads as "same".
SAME_WITHIN = 0.01
#: Most runs shown side by side (A to H).
MAX_RUNS = 8
LETTERS = "ABCDEFGH"

Report = dict[str, Any]


@dataclass(frozen=True)
class Figure:
    """One figure of every run compared (``values[0]`` is the base, A).

    ``unit``: "items/s", "batches/s", "s", "bytes", "%" or "count". ``key``: the name the
    regression gate takes for it (``items_per_s``, ``self_per_item[parse]``), "" for none.
    """

    section: str  # "run", "stage tokenize", "memory", "gpu", "cache lookup"
    label: str
    values: tuple[float | None, ...]
    unit: str
    better: str = NEUTRAL  # HIGHER or LOWER is better, or neither
    key: str = ""

    @property
    def a(self) -> float | None:
        return self.values[0]

    @property
    def b(self) -> float | None:
        return self.values[1] if len(self.values) > 1 else None

    def ratio(self, i: int = 1) -> float | None:
        """Run ``i``'s value / the base's, or None where either is missing or the base
        is 0 (or ``i`` is the base)."""
        a, v = self.values[0], self.values[i] if i < len(self.values) else None
        if i == 0 or a is None or v is None or a == 0:
            return None
        return v / a

    def verdict(self, i: int = 1) -> str:
        """ "better", "worse" or "same" for run ``i`` against the base, "" where there is
        no ratio or the figure has no direction."""
        r = self.ratio(i)
        if r is None or not self.better:
            return ""
        if abs(r - 1) < SAME_WITHIN:
            return "same"
        return "better" if (r > 1) == (self.better == HIGHER) else "worse"


def num(value: Any) -> float | None:
    """``value`` when it is a number (not a bool), else None."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def get(rep: Any, *keys: str) -> float | None:
    """The number at ``rep[k1][k2]...``, or None where any step is missing."""
    value: Any = rep
    for k in keys:
        value = value.get(k) if isinstance(value, dict) else None
    return num(value)


def by_name(items: Any) -> dict[str, dict[str, Any]]:
    """Entries of a list of objects (stages, caches) by their ``name``."""
    return {str(x.get("name")): x for x in items or [] if isinstance(x, dict)}


def _names(groups: Sequence[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    for g in groups:
        out += [n for n in g if n not in out]
    return out


def schema_of(rep: Report) -> int:
    """The record's schema version (records before versioning read as 1)."""
    v = num(rep.get("schema"))
    return int(v) if v is not None else 1


# ---- figures of one run ---------------------------------------------------------------------


def batches(rep: Report) -> float | None:
    """Batches out of the last stage (schema 1: from the last stage's row)."""
    v = get(rep, "batches")
    if v is None:
        stages = rep.get("stages")
        if isinstance(stages, list) and stages and isinstance(stages[-1], dict):
            v = get(stages[-1], "batches")
    return v


def batches_per_s(rep: Report) -> float | None:
    v = get(rep, "batches_per_s")
    if v is None:
        n, d = batches(rep), get(rep, "duration_s")
        v = n / d if n is not None and d else None
    return v


def items_per_batch(rep: Report) -> float | None:
    """Items per batch out of the last stage: its items / its batches."""
    n, b = get(rep, "items"), batches(rep)
    return n / b if n is not None and b else None


def _per_item(value: float | None, rep: Report) -> float | None:
    n = get(rep, "items")
    return value / n if value is not None and n else None


def cpu_s(rep: Report) -> float | None:
    """CPU seconds of the run's process tree; None where missing or 0 (the kernel counts
    CPU time in clock ticks of 10 ms: 0 means too short to measure)."""
    return get(rep, "cpu_s") or None


def cpu_per_item(rep: Report) -> float | None:
    """CPU seconds of the run's process tree per item out of the last stage."""
    return _per_item(cpu_s(rep), rep)


def stage_work_s(stage: dict[str, Any]) -> float | None:
    """A stage's self time without JIT compilation (schema 1 had no compile time apart)."""
    s = get(stage, "self_s")
    return None if s is None else max(0.0, s - (get(stage, "compile_s") or 0.0))


def self_per_item(rep: Report, stage: dict[str, Any]) -> float | None:
    """The stage's self time (compilation left out) per item out of the last stage."""
    return _per_item(stage_work_s(stage), rep) if stage else None


def memory(rep: Report, field: str) -> float | None:
    """A figure of the report's "memory" in bytes; None where it is missing or 0 (a
    process always has pages: 0 means no sample was taken, as in a run of a few ms)."""
    return get(rep, "memory", field) or None


#: Growth of private memory under this is the interpreter's and the allocator's own churn
#: (a few pages come and go in any run), not the pipeline's: it reads as none.
GROWTH_FLOOR = 2**20


def memory_per_item(rep: Report) -> float | None:
    """Peak private memory above the chain's start, per item of a batch (module doc), in
    bytes; growth under ``GROWTH_FLOOR`` reads 0. None where a reading is missing."""
    peak, start = memory(rep, "private_peak_bytes"), memory(rep, "private_start_bytes")
    per_batch = items_per_batch(rep)
    if peak is None or start is None or not per_batch:
        return None
    grown = peak - start
    return (grown if grown >= GROWTH_FLOOR else 0.0) / per_batch


def _pct(rate: Any) -> float | None:
    v = num(rate)
    return None if v is None else 100.0 * v


# ---- every run side by side -----------------------------------------------------------------

_Get = Callable[[Report], float | None]

#: The run's own figures: (label, unit, better, gate key, how it is read).
RUN_FIGURES: tuple[tuple[str, str, str, str, _Get], ...] = (
    ("items/s", "items/s", HIGHER, "items_per_s", lambda r: get(r, "items_per_s")),
    ("batches/s", "batches/s", HIGHER, "batches_per_s", batches_per_s),
    ("items per batch", "count", NEUTRAL, "items_per_batch", items_per_batch),
    ("CPU per item", "s", LOWER, "cpu_per_item", cpu_per_item),
    ("to first batch", "s", LOWER, "first_batch_s", lambda r: get(r, "to_first_batch_s")),
    ("items", "count", NEUTRAL, "", lambda r: get(r, "items")),
    ("batches", "count", NEUTRAL, "", batches),
    ("duration", "s", NEUTRAL, "duration_s", lambda r: get(r, "duration_s")),
    ("CPU time", "s", NEUTRAL, "", cpu_s),
)

#: Memory figures: (label, key in the report's "memory", better, gate key); schema 1 had
#: RSS and USS only.
MEMORY_FIGURES: tuple[tuple[str, str, str, str], ...] = (
    ("peak private", "private_peak_bytes", LOWER, "peak_private"),
    ("peak RSS", "rss_peak_bytes", LOWER, "peak_rss"),
    ("peak USS", "uss_peak_bytes", LOWER, "peak_uss"),
    ("peak PSS", "pss_peak_bytes", LOWER, "peak_pss"),
    ("peak file-backed", "file_peak_bytes", NEUTRAL, "peak_file"),
    ("private at start", "private_start_bytes", NEUTRAL, ""),
    ("RSS at start", "rss_start_bytes", NEUTRAL, ""),
)


def compare_reports(reports: Sequence[Report]) -> list[Figure]:
    """Every figure of the runs, in order: the run, per stage, memory, GPU and caches.

    Args:
        reports: two or more run reports or records (any schema); the first is the base.
    """
    rs = list(reports)
    out = [
        Figure("run", label, tuple(fn(r) for r in rs), unit, better, key)
        for label, unit, better, key, fn in RUN_FIGURES
    ]
    stages = [by_name(r.get("stages")) for r in rs]
    for name in _names(stages):
        rows = [s.get(name, {}) for s in stages]
        sec = f"stage {name}"
        out += [
            Figure(
                sec,
                "self per item",
                tuple(self_per_item(r, x) for r, x in zip(rs, rows, strict=True)),
                "s",
                LOWER,
                f"self_per_item[{name}]",
            ),
            Figure(sec, "compile", tuple(get(x, "compile_s") for x in rows), "s"),
            Figure(sec, "self %", tuple(get(x, "self_pct") for x in rows), "%"),
            Figure(sec, "self per batch", tuple(get(x, "mean_batch_s") for x in rows), "s"),
        ]
    for label, field, better, key in MEMORY_FIGURES:
        out.append(
            Figure("memory", label, tuple(memory(r, field) for r in rs), "bytes", better, key)
        )
        if key == "peak_private":
            out.append(
                Figure(
                    "memory",
                    "private per item",
                    tuple(memory_per_item(r) for r in rs),
                    "bytes",
                    LOWER,
                    "memory_per_item",
                )
            )
    if any(r.get("gpu") for r in rs):
        for field, label, key in (
            ("peak_bytes", "peak GPU memory", "peak_gpu"),
            ("peak_reserved_bytes", "peak reserved (torch)", ""),
        ):
            out.append(
                Figure("gpu", label, tuple(get(r, "gpu", field) for r in rs), "bytes", LOWER, key)
            )
    caches = [
        by_name(r["caches"].get("caches")) if isinstance(r.get("caches"), dict) else {} for r in rs
    ]
    for name in _names(caches):
        rows = [c.get(name, {}) for c in caches]
        sec = f"cache {name}"
        out += [
            Figure(
                sec,
                "hit rate",
                tuple(_pct(x.get("hit_rate")) for x in rows),
                "%",
                HIGHER,
                f"hit_rate[{name}]",
            ),
            Figure(sec, "hits", tuple(get(x, "hits") for x in rows), "count"),
            Figure(sec, "misses", tuple(get(x, "misses") for x in rows), "count"),
            Figure(sec, "bytes", tuple(get(x, "bytes") for x in rows), "bytes"),
            Figure(sec, "time saved", tuple(get(x, "seconds_saved") for x in rows), "s"),
        ]
    return out


# ---- naming the runs to compare -------------------------------------------------------------


def load_report(path: Path) -> Report:
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


def resolve_run(ref: str, history: RunHistory | Sequence[Report]) -> Report:
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


def matches(rec: Report, target: str) -> bool:
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


def select_runs(runs: Sequence[tuple[int, Report]], target: str) -> list[tuple[int, Report]]:
    """The numbered runs of ``target``; a bare name that is no pipeline's is taken as a
    module name."""
    found = [(n, r) for n, r in runs if matches(r, target)]
    if not found and ":" not in target and not parse_target(target).is_path:
        found = [(n, r) for n, r in runs if r.get("module") == target]
    if not found:  # a pipeline called anything ('[/x]', 'a/b'), as recorded or as shown
        found = [(n, r) for n, r in runs if names_match(target, str(r.get("pipeline") or ""))]
    return found
