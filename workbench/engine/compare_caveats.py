"""What makes a compare of recorded runs unfair, said before any figure is read.

- **different pipelines**: another pipeline or module, or other stages (by name, in order).
  The module's path may differ (a CI checkout elsewhere): the pipeline and module names
  are what make it the same pipeline.
- **partial**: a run that did not end by itself or at its own limit (``--max-batches``,
  ``--max-seconds``): stopped by the user or a signal, cancelled before its first batch,
  failed, crashed, or ended for its memory budget. Its figures cover only what ran.
- **too short to tell**: fewer than ``MIN_BATCHES`` batches out of the last stage, or
  under ``MIN_SECONDS`` of run time. The first batches carry the warm-up (imports done
  lazily, caches filling, JIT compiles, the allocator growing) and the rate is counted in
  whole batches, so below that a few percent of change is noise, not a finding.
- **old record**: a schema 1 record counted a tuple by its length (a ``(x, y, label)``
  row was 3 items) and measured the runner's RSS only; its items/s is not comparable with
  a newer run's where batches hold tuples, and its other memory figures are N/A.

Pure: used by ``pipebench compare``, its gate (``engine.gate``) and the TUI.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from workbench.engine.compare import LETTERS, batches, get, schema_of
from workbench.text import printable
from workbench.units import format_seconds

#: A run shorter than this (batches out of the last stage, or seconds) is too short to tell.
MIN_BATCHES = 10
MIN_SECONDS = 1.0
#: Stop reasons of a run that ended at a limit it was given (a sample, not a partial run).
LIMITS = ("max_batches", "max_seconds")

DIFFERENT, PARTIAL, SHORT, OLD = "different", "partial", "short", "old record"


@dataclass(frozen=True)
class Caveat:
    """One reason the figures of some runs are not like for like.

    ``kind``: ``DIFFERENT``, ``PARTIAL``, ``SHORT`` or ``OLD``; ``runs``: the indices of
    the runs it is about (0 is the base); ``text``: one line, user text made printable.
    """

    kind: str
    runs: tuple[int, ...]
    text: str


def _identity(rep: dict[str, Any]) -> tuple[str, str]:
    return str(rep.get("pipeline") or rep.get("target")), str(rep.get("module"))


def _stages(rep: dict[str, Any]) -> tuple[str, ...]:
    stages = rep.get("stages")
    return (
        tuple(str(s.get("name")) for s in stages if isinstance(s, dict))
        if isinstance(stages, list)
        else ()
    )


def _pipeline_text(ident: tuple[str, str]) -> str:
    pipeline, module = ident
    return f"{printable(pipeline)} (module {printable(module) if module != 'None' else '?'})"


def _stages_text(stages: tuple[str, ...]) -> str:
    return " → ".join(printable(s) for s in stages) or "none"


def _grouped(keys: Sequence[Any], text: Callable[[Any], str]) -> str:
    """``A, B jsonl_tokens; C numpy_batches``: the runs grouped by what they have."""
    groups: dict[Any, list[str]] = {}
    for i, k in enumerate(keys):
        groups.setdefault(k, []).append(LETTERS[i])
    return "; ".join(f"{', '.join(letters)} {text(k)}" for k, letters in groups.items())


def _how_many(rep: dict[str, Any]) -> str:
    n = batches(rep)
    d = get(rep, "duration_s")
    b = "? batches" if n is None else f"{n:,.0f} batch{'' if n == 1 else 'es'}"
    return f"{b} in {format_seconds(d)}"


def partial_reason(rep: dict[str, Any]) -> str | None:
    """Why a run is partial (a phrase after "A "), or None when it ended by itself or at
    a limit it was given."""
    status = rep.get("status")
    reason = rep.get("stop_reason")
    if status == "finished":
        return None
    n = batches(rep) or 0
    if status == "stopped":
        if rep.get("cancelled") or n == 0:
            return "was cancelled before its first batch: it has nothing to compare"
        if reason in LIMITS:
            return None
        who = "by the user" if reason in (None, "user") else f"({printable(reason)})"
        return f"was stopped {who} after {_how_many(rep)}"
    err: dict[str, Any] = rep["error"] if isinstance(rep.get("error"), dict) else {}
    where = f" in stage {printable(err['stage'])}" if err.get("stage") else ""
    what = {
        "failed": "failed",
        "crashed": "crashed",
        "budget_exceeded": "passed its memory budget",
    }.get(str(status))
    if what is None:
        return f"has no final status ({printable(status)})"
    return f"{what}{where} after {_how_many(rep)}"


def too_short(
    rep: dict[str, Any], min_batches: int = MIN_BATCHES, min_s: float = MIN_SECONDS
) -> bool:
    """Fewer than ``min_batches`` batches out of the last stage, or under ``min_s`` seconds
    (a record that lacks one of the two is judged on the other)."""
    n, d = batches(rep), get(rep, "duration_s")
    return (n is not None and n < min_batches) or (d is not None and d < min_s)


def caveats(
    reports: Sequence[dict[str, Any]],
    min_batches: int = MIN_BATCHES,
    min_s: float = MIN_SECONDS,
) -> list[Caveat]:
    """Every caveat of comparing ``reports`` (the first the base), in the order: different
    pipelines, different stages, partial runs, short runs, old records."""
    rs = list(reports)
    out: list[Caveat] = []
    ids = [_identity(r) for r in rs]
    if len(set(ids)) > 1:
        out.append(
            Caveat(
                DIFFERENT,
                tuple(i for i, x in enumerate(ids) if x != ids[0]),
                f"different pipelines: {_grouped(ids, _pipeline_text)}; the figures are side "
                "by side, not a like-for-like compare",
            )
        )
    stages = [_stages(r) for r in rs]
    if len(set(stages)) > 1:
        out.append(
            Caveat(
                DIFFERENT,
                tuple(i for i, st in enumerate(stages) if st != stages[0]),
                f"different stages: {_grouped(stages, _stages_text)}; a stage is compared "
                "where its name is in both runs",
            )
        )
    for i, r in enumerate(rs):
        why = partial_reason(r)
        if why is not None:
            out.append(
                Caveat(
                    PARTIAL, (i,), f"{LETTERS[i]} is partial: it {why}; its figures cover what ran"
                )
            )
    for i, r in enumerate(rs):
        if too_short(r, min_batches, min_s) and partial_reason(r) is None:
            n, d = batches(r), get(r, "duration_s")
            short = (
                [f"fewer than {min_batches} batches"] if n is not None and n < min_batches else []
            )
            short += [f"under {format_seconds(min_s)}"] if d is not None and d < min_s else []
            out.append(
                Caveat(
                    SHORT,
                    (i,),
                    f"{LETTERS[i]} is too short to tell: {_how_many(r)}, {' and '.join(short)} "
                    f"(a fair compare needs at least {min_batches} batches and "
                    f"{format_seconds(min_s)})",
                )
            )
    if any(schema_of(r) >= 2 for r in rs):
        for i, r in enumerate(rs):
            if schema_of(r) < 2:
                out.append(
                    Caveat(
                        OLD,
                        (i,),
                        f"{LETTERS[i]} is a schema 1 record: it counted a tuple by its length "
                        "and measured RSS and USS only, so its items/s may not match a newer "
                        "run's and its other memory figures are N/A",
                    )
                )
    return out
