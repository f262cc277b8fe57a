"""Only the one run follower (``workbench/engine/follow.py``) reads a run's event stream.

A run's event stream is the ``events`` queue of a source: a ``RunHandle``'s
(``engine/runner.py``) or a recorded stream's (``ui/replay.py``). Every other module
follows runs through ``engine.follow`` (``Follower``, ``follow_run``, ``cli.follow.follow``)
and sees the events only as a job's ``fold`` or in a follower's updates, so stopping,
killing, coalescing and output handling are decided in one place.

The rule, checked on the syntax tree of every Python file in ``workbench/``, ``benchmarks/``
and ``tests/``:

- reading the queue — ``<x>.events.get(...)`` and the queue's other reading members (see
  ``READS``), ``for ... in <x>.events`` (also in a comprehension), or ``<x>.events`` handed
  positionally to a call (a helper that would read it) — only in the follower;
- writing it — ``<x>.events.put(...)``, ``put_nowait`` — only in the sources;
- calling or defining ``iter_events(...)`` nowhere (a job of ``engine.follow`` instead).

``events=`` as a keyword and ``<x>.events`` read as a value (``update.events``, a count)
are not a stream and are not flagged.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("workbench", "benchmarks", "tests")
FOLLOWER = "workbench/engine/follow.py"
RUNNER = "workbench/engine/runner.py"
SOURCES = (RUNNER, "workbench/ui/replay.py")
#: Members of ``queue.Queue`` that read it (or look into it).
READS = frozenset(
    {"get", "get_nowait", "empty", "qsize", "full", "queue", "mutex", "not_empty", "join"}
)
WRITES = frozenset({"put", "put_nowait"})


def _is_events(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "events"


def violations(source: str, where: str) -> list[str]:
    """Each place in ``source`` (the file ``where``, relative to the root) that breaks the
    rule, as "path:line: what"."""
    out: list[str] = []
    follower, sources = where == FOLLOWER, where in SOURCES

    def flag(node: ast.AST, what: str) -> None:
        out.append(f"{where}:{getattr(node, 'lineno', '?')}: {what}")

    tree = ast.parse(source, filename=where)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_events(node.value):
            if node.attr in READS and not follower:
                flag(node, f"reads a run's event stream (.events.{node.attr})")
            elif node.attr in WRITES and not sources:
                flag(node, f"writes a run's event stream (.events.{node.attr})")
        elif isinstance(node, ast.For | ast.AsyncFor | ast.comprehension):
            if _is_events(node.iter) and not follower:
                flag(node, "iterates a run's event stream (for ... in .events)")
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name == "iter_events":
                flag(node, "calls iter_events(): follow the run with engine.follow instead")
            if not follower and any(_is_events(a) for a in node.args):
                flag(node, "hands a run's event stream to a call")
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and (
            node.name == "iter_events"
        ):
            flag(node, "defines iter_events(): make it a Job of engine.follow instead")
    return out


def python_files() -> list[Path]:
    files = []
    for top in SCANNED:
        files += sorted((ROOT / top).rglob("*.py"))
    return [f for f in files if ".venv" not in f.parts and "__pycache__" not in f.parts]


def test_only_the_follower_reads_a_runs_event_stream() -> None:
    files = python_files()
    assert any(f.relative_to(ROOT).as_posix() == FOLLOWER for f in files)
    found = []
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        found += violations(path.read_text(encoding="utf-8"), rel)
    assert not found, "\n".join(found)


def test_the_follower_itself_reads_the_stream() -> None:
    """The scan looks where the reading is: the follower does it, by the rule's own terms."""
    text = (ROOT / FOLLOWER).read_text(encoding="utf-8")
    assert violations(text, "workbench/cli/elsewhere.py"), "the rule no longer sees the follower"


@pytest.mark.parametrize(
    "code",
    [
        "ev = handle.events.get(timeout=0.1)",
        "ev = run.events.get_nowait()",
        "done = not run.running and run.events.empty()",
        "for ev in handle.events: pass",
        "evs = [e for e in self.handle.events.queue]",
        "for ev in handle.iter_events(): pass",
        "state = [apply(s, e) for e in run.iter_events(poll_s=1)]",
        "drain(source.events, 100)",
        "self.events.put(ev)",
        "class R:\n    def iter_events(self):\n        yield 1",
    ],
)
def test_each_way_of_reading_the_stream_is_caught(code: str) -> None:
    assert violations(code, "workbench/cli/somewhere.py"), code


@pytest.mark.parametrize(
    "code",
    [
        "RunUpdated(run_id, state, events=self.follower.events)",
        "assert updates[-1].events == 6",
        "state = Follower(RunJob(target, options)).run()",
    ],
)
def test_what_is_no_stream_is_not_flagged(code: str) -> None:
    assert not violations(code, "workbench/cli/somewhere.py"), code
