"""The function view's rows: pipebench's own calls and frames out, upstream waits out."""

from __future__ import annotations

import os

import workbench
from workbench.engine.lines.calls import function_rows, pipebench_file

GATE = (
    os.path.join(os.path.dirname(workbench.__file__), "engine", "lines", "tracers.py"),
    1,
    "__next__",
)
STAGE = ("/u/mod.py", 10, "stage")
HELPER = ("/u/mod.py", 20, "helper")
APPEND = ("~", 0, "<method 'append' of 'list' objects>")
GETFRAME = ("~", 0, "<built-in method sys._getframe>")
NEXT = ("~", 0, "<built-in method builtins.next>")


def test_own_files_are_the_package_but_not_its_examples():
    root = os.path.dirname(workbench.__file__)
    assert pipebench_file(os.path.join(root, "engine", "lines", "tracers.py"))
    assert not pipebench_file(os.path.join(root, "examples", "jsonl_tokens.py"))
    assert not pipebench_file("/u/mod.py") and not pipebench_file("~")


def test_pipebench_calls_and_upstream_waits_are_taken_out():
    stats = {
        # The stage: 2 s cumulative, 1.5 s of it waiting on its upstream (measured).
        STAGE: (10, 10, 0.3, 2.0, {GATE: (10, 10, 0.3, 2.0)}),
        HELPER: (10, 10, 0.2, 0.2, {STAGE: (10, 10, 0.2, 0.2)}),
        # append: 5 calls by the user's stage, 100 by pipebench's gate.
        APPEND: (
            105,
            105,
            0.011,
            0.011,
            {STAGE: (5, 5, 0.001, 0.001), GATE: (100, 100, 0.01, 0.01)},
        ),
        GETFRAME: (10, 10, 0.001, 0.001, {GATE: (10, 10, 0.001, 0.001)}),
        # next(upstream) in the user's helper: its 0.4 s are spent in the gate.
        NEXT: (4, 4, 0.0, 0.4, {HELPER: (4, 4, 0.0, 0.4)}),
        GATE: (14, 14, 0.05, 1.9, {STAGE: (10, 10, 0.04, 1.5), NEXT: (4, 4, 0.01, 0.4)}),
    }
    rows = {(r.path, r.line, r.name): r for r in function_rows(stats, {STAGE: 1.5})}
    assert set(rows) == {STAGE, HELPER, APPEND}  # no gate, no _getframe, next had only waits
    assert abs(rows[STAGE].cum_s - 0.5) < 1e-12 and rows[STAGE].own_s == 0.3
    assert rows[HELPER].cum_s == 0.2
    append = rows[APPEND]
    assert append.calls == 5 and abs(append.own_s - 0.001) < 1e-12
