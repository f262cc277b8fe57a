"""The regression gate of ``pipebench compare --fail-if``: a change of a figure past a
threshold fails CI, as pytest-benchmark's ``--benchmark-compare-fail`` does.

A threshold is ``NAME:CHANGE``: ``items_per_s:-5%`` fails when items/s of a run falls more
than 5% below the base's; ``peak_private:+10%`` when peak private memory rises more than
10%; an unsigned ``5%`` fails in the figure's worse direction. ``NAME`` is one of
``GATE_FIGURES``; ``self_per_item`` and ``hit_rate`` take a stage or cache in brackets
(``self_per_item[parse]``), and without one apply to every stage or cache in both runs.

Every run after the first is checked against the first. Where the compare is unfair (the
runs are of different pipelines, one is partial or too short to tell: see
``engine.compare_caveats``) or a figure is missing from a run, the gate cannot tell: it
says so, and fails only when asked to be strict.

Pure: ``parse_threshold`` reads the option, ``check`` applies it to ``compare_reports``'s
figures.
"""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from workbench.engine.compare import HIGHER, LOWER, NEUTRAL, Figure
from workbench.engine.compare_caveats import Caveat
from workbench.errors import UserError
from workbench.text import printable

#: The figures the gate takes: name -> (which way is better, what it is).
GATE_FIGURES: dict[str, tuple[str, str]] = {
    "items_per_s": (HIGHER, "items per second out of the last stage, over the run"),
    "batches_per_s": (HIGHER, "batches per second out of the last stage, over the run"),
    "items_per_batch": (NEUTRAL, "items per batch out of the last stage"),
    "cpu_per_item": (LOWER, "CPU seconds of the run's process tree per item"),
    "first_batch_s": (LOWER, "seconds from starting the runner to the first batch out"),
    "duration_s": (NEUTRAL, "wall time of the chain"),
    "self_per_item": (
        LOWER,
        "a stage's self time (JIT compilation left out) per item out of the last stage; "
        "self_per_item[STAGE] for one stage, else every stage",
    ),
    "peak_private": (LOWER, "peak private memory (anonymous + shared) of the process tree"),
    "memory_per_item": (
        LOWER,
        "peak private memory above the chain's start, per item of a batch",
    ),
    "peak_rss": (LOWER, "peak RSS of the process tree"),
    "peak_uss": (LOWER, "peak USS of the process tree"),
    "peak_pss": (LOWER, "peak PSS of the process tree"),
    "peak_file": (NEUTRAL, "peak file-backed memory of the process tree"),
    "peak_gpu": (LOWER, "peak GPU memory (torch's allocated peak, else NVML's)"),
    "hit_rate": (HIGHER, "a cache's hit rate; hit_rate[CACHE] for one cache, else every cache"),
}
#: Figures that name a stage or a cache in brackets.
PER_NAME = ("self_per_item", "hit_rate")

_SPEC = re.compile(r"([a-z_]+)(?:\[(.+)\])?")
_CHANGE = re.compile(r"([+-]?)(\d+(?:\.\d+)?|\.\d+)%")


@dataclass(frozen=True)
class Threshold:
    """One ``--fail-if``: ``name`` (``self_per_item``), ``which`` (a stage or cache, or
    None for every one), ``limit`` as a fraction (0.05), and ``direction``: -1 fails when
    the figure falls by more than ``limit``, +1 when it rises by more."""

    text: str
    name: str
    which: str | None
    limit: float
    direction: int

    @property
    def change_text(self) -> str:
        return f"{'+' if self.direction > 0 else '-'}{_pct(self.limit)}"

    def applies_to(self, f: Figure) -> bool:
        if self.which is not None:
            return f.key == f"{self.name}[{self.which}]"
        return f.key == self.name or f.key.startswith(f"{self.name}[")


def names_help(width: int = 88) -> str:
    """The figure names and what each is, for ``--help`` (wrapped to ``width``)."""
    return "\n".join(
        textwrap.fill(what, width, initial_indent=f"  {name:17}", subsequent_indent=" " * 19)
        for name, (_, what) in GATE_FIGURES.items()
    )


def parse_threshold(text: str) -> Threshold:
    """``NAME:CHANGE`` as ``--fail-if`` takes it.

    Raises:
        UserError: one line: an unknown figure (the names listed), a change that is no
            percentage, or an unsigned change of a figure with no better direction.
    """
    spec, sep, change = text.rpartition(":")
    m = _SPEC.fullmatch(spec.strip())
    if not sep or m is None:
        raise UserError(
            f"--fail-if {printable(text)!r}: write NAME:CHANGE, such as items_per_s:-5% or "
            "peak_private:+10%"
        )
    name, which = m.group(1), m.group(2)
    if name not in GATE_FIGURES:
        raise UserError(
            f"--fail-if: no figure {printable(name)!r}; the figures are "
            f"{', '.join(GATE_FIGURES)} (see pipebench compare --help)"
        )
    if which is not None and name not in PER_NAME:
        raise UserError(f"--fail-if: {name} takes no [NAME]; only {', '.join(PER_NAME)} do")
    c = _CHANGE.fullmatch(change.strip())
    if c is None:
        raise UserError(
            f"--fail-if {printable(text)!r}: the change {printable(change)!r} is no "
            "percentage; write it like -5%, +10% or 5% (the worse direction)"
        )
    limit = float(c.group(2)) / 100
    better = GATE_FIGURES[name][0]
    if c.group(1):
        direction = 1 if c.group(1) == "+" else -1
    elif better == NEUTRAL:
        raise UserError(
            f"--fail-if {printable(text)!r}: {name} is neither better higher nor lower; "
            f"give the direction that fails: {name}:+{c.group(2)}% or {name}:-{c.group(2)}%"
        )
    else:
        direction = -1 if better == HIGHER else 1
    return Threshold(text, name, which, limit, direction)


#: Outcomes of one check.
PASSED, FAILED, UNKNOWN = "ok", "FAIL", "N/A"


@dataclass(frozen=True)
class Check:
    """One threshold applied to one figure of one run against the base.

    ``outcome``: ``PASSED``, ``FAILED`` or ``UNKNOWN`` (a value is missing, or the base
    is 0); ``change``: (value - base) / base, None when unknown.
    """

    threshold: Threshold
    figure: Figure
    run: int
    base: float | None
    value: float | None
    change: float | None
    outcome: str

    @property
    def name(self) -> str:
        return self.figure.key


def _pct(x: float) -> str:
    v = 100 * x
    return f"{v:.0f}%" if math.isclose(v, round(v), abs_tol=1e-9) else f"{v:.3g}%"


def check(figures: Sequence[Figure], thresholds: Sequence[Threshold], runs: int) -> list[Check]:
    """Each threshold on each figure it names, for each run after the base.

    Raises:
        UserError: a threshold that names a stage or cache in no run (a typo in CI's
            command line should not pass quietly).
    """
    out: list[Check] = []
    for t in thresholds:
        hits = [f for f in figures if t.applies_to(f)]
        if not hits:
            if t.which is not None:
                known = sorted(
                    f.key[len(t.name) + 1 : -1] for f in figures if f.key.startswith(f"{t.name}[")
                )
                what = "stage" if t.name == "self_per_item" else "cache"
                raise UserError(
                    f"--fail-if {printable(t.text)!r}: no {what} {printable(t.which)!r} in "
                    f"these runs; {what}s: {', '.join(printable(k) for k in known) or 'none'}"
                )
            # hit_rate without caches, peak_gpu without a GPU section: nothing to measure
            hits = [Figure("", t.name, (None,) * runs, "", key=t.name)]
        for f in hits:
            for i in range(1, runs):
                base, value = f.values[0], f.values[i]
                if base is None or value is None or base == 0:
                    out.append(Check(t, f, i, base, value, None, UNKNOWN))
                    continue
                change = (value - base) / base
                failed = change * t.direction > t.limit + 1e-12
                out.append(Check(t, f, i, base, value, change, FAILED if failed else PASSED))
    return out


def blocking(found: list[Caveat], run: int) -> list[Caveat]:
    """The caveats that leave a check of ``run`` against the base unable to tell: any about
    that run or the base (an old record included: it may count items otherwise)."""
    return [c for c in found if run in c.runs or 0 in c.runs]


def gate_result(checks: list[Check], found: list[Caveat]) -> tuple[str, list[str]]:
    """("failed" | "passed" | "cannot tell", why the gate cannot tell): failed when a check
    no caveat concerns passed its limit."""
    unsure: list[str] = []
    failed = False
    for c in checks:
        concerns = blocking(found, c.run)
        unsure += [b.text for b in concerns if b.text not in unsure]
        if c.outcome == UNKNOWN and f"{c.name} cannot be checked" not in unsure:
            unsure.append(f"{c.name} cannot be checked")
        elif c.outcome == FAILED and not concerns:
            failed = True
    if failed:
        return "failed", unsure
    return ("cannot tell" if unsure else "passed"), unsure
