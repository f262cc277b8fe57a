"""The function view's rows: cProfile's table of the chosen stages, with user code only and
each function's upstream waits taken out, as the line view does.

cProfile sees everything that runs while a chosen stage works, pipebench's own tracing
included (the gate a stage pulls through, its clock reads, the stacks it keeps), and a
stage's cumulative time holds the time its upstream stages took to make the items it
pulled. ``function_rows`` removes both:

- rows of pipebench's own code (any file of the ``workbench`` package but the bundled
  examples) are left out, and the calls pipebench made to builtins (``sys._getframe``,
  ``_thread.get_ident``, ``list.append``...) are taken out of those builtins' rows, from
  cProfile's caller-callee edges: a builtin that user code calls too keeps its user calls;
- a function's cumulative time loses the upstream waits it was on the stack for: measured
  by the tracer on the profiler's own clock at each pull (``CallTracer.waits``, by
  function, for the Python frames from the gate up to the stage), and, for a builtin that
  pulled (``next``, ``np.fromiter``), its edge to the gate.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from workbench.engine.protocol_tools import CallStat

#: pstats' key of a function: (file, first line, name); builtins have file "~".
Key = tuple[str, int, str]
#: cProfile's row: (primitive calls, calls, own s, cumulative s, {caller: (pc, nc, tt, ct)}).
Row = tuple[int, int, float, float, Mapping[Key, tuple[int, int, float, float]]]

_PACKAGE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_EXAMPLES = os.path.join(_PACKAGE, "examples")


def pipebench_file(path: str) -> bool:
    """Whether ``path`` is pipebench's own code (not the bundled example pipelines)."""
    if path == "~" or not path:
        return False
    full = os.path.abspath(path)
    return full.startswith(_PACKAGE + os.sep) and not full.startswith(_EXAMPLES + os.sep)


def function_rows(
    stats: Mapping[Key, Row],
    waits: Mapping[Key, float],
    own: Any = pipebench_file,
) -> list[CallStat]:
    """User code's rows of a cProfile table, pipebench's calls and upstream waits out.

    Args:
        stats: ``pstats.Stats(profile).stats``, timed on the tracer's stage clock.
        waits: seconds of upstream waits each Python function was on the stack for.
        own: tells pipebench's files (by path) from the user's.

    Returns:
        One ``CallStat`` per user function or builtin with calls left, in seconds.
    """
    # What pipebench's own functions did to the builtins they called, and what the
    # builtins that pulled through a gate (pipebench's) spent in it.
    mine: dict[Key, list[float]] = defaultdict(lambda: [0, 0, 0.0, 0.0])
    pulled: dict[Key, float] = defaultdict(float)
    for key, (_, _, _, _, callers) in stats.items():
        if key[0] == "~":
            for caller, (pc, nc, tt, ct) in callers.items():
                if own(caller[0]):
                    m = mine[key]
                    m[0] += pc
                    m[1] += nc
                    m[2] += tt
                    m[3] += ct
        elif own(key[0]):
            for caller, (_, _, _, ct) in callers.items():
                if caller[0] == "~":
                    pulled[caller] += ct
    rows = []
    for key, (pc, nc, tt, ct, _) in stats.items():
        path, line, name = key
        if own(path) or "_lsprof" in name:
            continue
        if path == "~":
            theirs = mine.get(key)
            if theirs is not None:
                pc, nc = pc - int(theirs[0]), nc - int(theirs[1])
                tt, ct = tt - theirs[2], ct - theirs[3]
            ct -= pulled.get(key, 0.0)
        else:
            ct -= waits.get(key, 0.0)
        if nc <= 0:
            continue
        tt = max(tt, 0.0)
        ct = max(ct, tt)
        if tt <= 0 and ct <= 0:
            continue
        rows.append(CallStat(name, path, line, nc, pc, tt, ct))
    return rows
