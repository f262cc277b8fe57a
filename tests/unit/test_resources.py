"""The resource context managers: what each one does, records and reports, in plain Python."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest

from workbench import experiment_log, gpu_memory, sqlite_transaction, timed, track
from workbench.authoring.recording import MAX_CLOSED, REGISTRY, cuda_torch, describe_exit
from workbench.authoring.resources import records


@pytest.fixture(autouse=True)
def fresh_registry() -> Iterator[None]:
    REGISTRY.begin_run(in_run=False)
    yield
    REGISTRY.begin_run(in_run=False)


def by_name(name: str) -> list[dict[str, Any]]:
    return [r for r in records() if r["name"] == name]


def one(name: str) -> dict[str, Any]:
    found = by_name(name)
    assert len(found) == 1, (name, found)
    return found[0]


def rows(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT * FROM t ORDER BY i").fetchall()


# ---- timed ------------------------------------------------------------------------------
def test_timed_as_a_context_records_duration_rss_and_outcome() -> None:
    with timed("block") as t:
        time.sleep(0.02)
        assert t.elapsed_s is not None and t.elapsed_s > 0
    r = one("block")
    assert r["kind"] == "timed" and r["outcome"] == "ok" and r["exits"] == 1
    assert r["duration_s"] >= 0.02 and t.elapsed_s == r["duration_s"]
    assert isinstance(r["rss_delta_bytes"], int)
    # N/A unless this process uses CUDA (as it does after tests/gpu ran in it)
    assert r["gpu_delta_bytes"] == (None if cuda_torch() is None else 0)


def test_timed_records_the_exception_type_and_lets_it_through() -> None:
    with pytest.raises(ValueError), timed("bad"):
        raise ValueError("x")
    r = one("bad")
    assert (r["outcome"], r["exception"], r["exits"]) == ("ValueError", "ValueError", 1)


def test_timed_as_a_decorator_records_every_call() -> None:
    @timed("step")
    def step(x: int) -> int:
        return x * 2

    @timed
    def bare() -> str:
        return "ok"

    assert [step(i) for i in range(3)] == [0, 2, 4]
    assert bare() == "ok"
    assert len(by_name("step")) == 3
    assert one(bare.__qualname__)["outcome"] == "ok"


def test_a_timed_generator_function_is_timed_to_its_end() -> None:
    @timed("gen")
    def gen() -> Iterator[int]:
        yield 1
        time.sleep(0.01)
        yield 2

    it = gen()
    assert next(it) == 1
    assert one("gen")["outcome"] == "open"
    assert list(it) == [2]
    r = one("gen")
    assert r["outcome"] == "ok" and r["duration_s"] >= 0.01


# ---- nesting ----------------------------------------------------------------------------
def test_nesting_follows_with_blocks_and_calls() -> None:
    def inner() -> None:
        with timed("c"):
            pass

    with timed("a"), timed("b"):
        inner()
    a, b, c = one("a"), one("b"), one("c")
    assert a["parent"] is None and a["depth"] == 0
    assert b["parent"] == a["id"] and b["depth"] == 1
    assert c["parent"] == b["id"] and c["depth"] == 2


def test_a_generator_s_contexts_do_not_nest_under_whoever_resumes_it() -> None:
    def upstream() -> Iterator[int]:
        with timed("up"):
            yield from range(3)

    def downstream(items: Iterator[int]) -> Iterator[int]:
        with timed("down"):
            yield from items

    assert list(downstream(upstream())) == [0, 1, 2]
    assert one("up")["parent"] is None and one("down")["parent"] is None


def test_contextlib_helpers_keep_the_nesting() -> None:
    @contextmanager
    def mine() -> Iterator[None]:
        with timed("inside mine"):
            yield

    with timed("outer"):
        with mine():
            pass
        with ExitStack() as stack:
            stack.enter_context(timed("stacked"))
            with timed("after stacked"):
                pass
    outer = one("outer")["id"]
    assert one("inside mine")["parent"] == outer
    assert one("stacked")["parent"] == outer
    assert one("after stacked")["parent"] == one("stacked")["id"]


# ---- sqlite_transaction -----------------------------------------------------------------
def test_sqlite_transaction_commits_on_success(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    with sqlite_transaction(db) as conn:
        conn.execute("CREATE TABLE t(i INT)")
        conn.executemany("INSERT INTO t VALUES (?)", [(1,), (2,)])
    assert rows(db) == [(1,), (2,)]
    r = one("sqlite_transaction(t.db)")
    assert r["outcome"] == "committed" and r["exception"] is None
    assert r["detail"]["changes"] == 2 and r["note"] == "2 row changes committed"


def test_sqlite_transaction_rolls_back_on_error_and_closes(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    with sqlite_transaction(db) as conn:
        conn.execute("CREATE TABLE t(i INT)")
    with pytest.raises(RuntimeError), sqlite_transaction(db) as conn:
        conn.execute("INSERT INTO t VALUES (1)")
        raise RuntimeError("mid-transaction")
    assert rows(db) == []
    r = by_name("sqlite_transaction(t.db)")[-1]
    assert (r["outcome"], r["exception"], r["exits"]) == ("rolled back", "RuntimeError", 1)
    with pytest.raises(sqlite3.ProgrammingError):
        conn.execute("SELECT 1")  # closed


def test_sqlite_transaction_in_a_closed_generator_rolls_back(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    with sqlite_transaction(db) as conn:
        conn.execute("CREATE TABLE t(i INT)")

    def writer() -> Iterator[int]:
        with sqlite_transaction(db) as c:
            for i in range(100):
                c.execute("INSERT INTO t VALUES (?)", (i,))
                yield i

    gen = writer()
    assert [next(gen) for _ in range(3)] == [0, 1, 2]
    gen.close()  # what the runner does to every stage when a run ends early
    assert rows(db) == []
    r = by_name("sqlite_transaction(t.db)")[-1]
    assert (r["outcome"], r["exception"]) == ("rolled back", "GeneratorExit")


# ---- experiment_log ---------------------------------------------------------------------
def test_experiment_log_writes_the_file_and_always_removes_its_handler(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "logs" / "exp.log"
    with experiment_log(path, name="exp-ok") as log:
        log.info("training with configuration X")
    logger = logging.getLogger("exp-ok")
    assert logger.handlers == []
    lines = path.read_text().splitlines()
    assert "experiment started" in lines[0] and "configuration X" in lines[1]
    assert lines[-1].endswith("experiment ended: ok")
    with pytest.raises(KeyError), experiment_log(path, name="exp-ok"):
        raise KeyError("boom")
    assert logger.handlers == [] and logger.propagate is True
    assert path.read_text().splitlines()[-1].endswith("experiment ended: KeyError")
    r = by_name("experiment_log(exp.log)")[-1]
    assert r["outcome"] == "KeyError" and r["detail"]["handler_removed"] is True
    assert r["detail"]["lines"] == 2 and "handler removed" in r["note"]
    assert capsys.readouterr().err == ""  # no echo outside a run


def test_experiment_log_echoes_to_the_run_log_in_a_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    REGISTRY.in_run = True
    with experiment_log(tmp_path / "exp.log", name="exp-echo") as log:
        log.info("epoch 1 done")
    assert "exp.log: INFO epoch 1 done" in capsys.readouterr().err


# ---- gpu_memory (no CUDA here; tests/gpu has the real path) ----------------------------
def test_gpu_memory_on_the_cpu_says_so_and_runs_the_block() -> None:
    ran = False
    with gpu_memory("cpu") as g:
        ran = True
    assert ran and g.torch is None
    r = one("gpu_memory(cpu)")
    assert r["outcome"] == "ok" and r["detail"]["cuda"] is False
    assert "no CUDA memory" in r["note"] or "not CUDA" in r["note"]


def test_gpu_memory_without_cuda_says_why() -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; tests/gpu covers it")
    with gpu_memory("cuda"):
        pass
    r = one("gpu_memory(cuda)")
    assert r["outcome"] == "ok" and r["note"].startswith("torch has no CUDA")


# ---- track: a user's own context manager ------------------------------------------------
class DatabaseConnection:
    """The seed's own context manager: rollback on error, commit otherwise."""

    def __init__(self, db_path: Path):
        self.db_path = db_path

    def __enter__(self) -> sqlite3.Cursor:
        self.conn = sqlite3.connect(self.db_path)
        self.cursor = self.conn.cursor()
        return self.cursor

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        if exc_type:
            self.conn.rollback()
        else:
            self.conn.commit()
        self.cursor.close()
        self.conn.close()


def test_track_wraps_a_class_once_and_records_each_use(tmp_path: Path) -> None:
    Tracked = track(DatabaseConnection)
    db = tmp_path / "t.db"
    with Tracked(db) as cur:
        cur.execute("CREATE TABLE t(i INT)")
        cur.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(ZeroDivisionError), Tracked(db) as cur:
        cur.execute("INSERT INTO t VALUES (2)")
        1 / 0  # noqa: B018
    assert rows(db) == [(1,)]
    outcomes = [r["outcome"] for r in by_name("DatabaseConnection")]
    assert outcomes == ["ok", "ZeroDivisionError"]


def test_track_wraps_contextmanager_functions_and_instances() -> None:
    @track
    @contextmanager
    def lease(n: int) -> Iterator[int]:
        yield n

    @contextmanager
    def quiet() -> Iterator[None]:
        with suppress(ValueError):
            yield

    with lease(3) as n:
        assert n == 3
    with track(quiet(), name="quiet"):
        raise ValueError("swallowed by the user's context manager")
    assert one(lease.__qualname__)["outcome"] == "ok"
    assert one("quiet")["outcome"] == "suppressed ValueError"


# ---- outcomes, bounds, signals ----------------------------------------------------------
def test_outcomes_name_how_a_block_ended() -> None:
    class StopRun(BaseException):
        pass

    assert describe_exit(None) == ("ok", None)
    assert describe_exit(GeneratorExit()) == ("closed", "GeneratorExit")
    assert describe_exit(StopRun("memory_budget")) == ("stopped (memory_budget)", "StopRun")
    assert describe_exit(OSError("x")) == ("OSError", "OSError")


def test_records_are_bounded_and_totals_count_everything() -> None:
    @timed("tick")
    def tick() -> None:
        pass

    for _ in range(MAX_CLOSED + 300):
        tick()
    section = REGISTRY.section()
    assert len(section["records"]) == MAX_CLOSED
    assert section["dropped"] == 300 and section["total"] == MAX_CLOSED + 300
    total = next(t for t in section["totals"] if t["name"] == "tick")
    assert total["count"] == MAX_CLOSED + 300 and total["failed"] == 0
    # A live reading holds the last few closed ones; the final one all that are kept.
    from workbench.engine.sections.resources import LIVE_CLOSED, ContextsSampler

    live = REGISTRY.section(LIVE_CLOSED)
    assert [r["id"] for r in live["records"]] == [r["id"] for r in section["records"]][
        -LIVE_CLOSED:
    ]
    assert live["dropped"] == MAX_CLOSED + 300 - LIVE_CLOSED and live["total"] == section["total"]
    assert REGISTRY.section(0)["records"] == [] and REGISTRY.section(0)["dropped"] == 500
    sampler = ContextsSampler.__new__(ContextsSampler)  # reads this registry as it is
    sampler.registry, sampler._last = REGISTRY, None
    assert len(sampler.read().records) == LIVE_CLOSED
    assert len(sampler.read_final().records) == MAX_CLOSED


class Interrupted(BaseException):
    pass


def test_a_stop_while_entering_releases_the_resource_exactly_once() -> None:
    """A signal landing inside ``__enter__`` is held back until the resource is acquired
    and recorded, then raised; the resource is released and the record closed, once."""
    released = []

    class Slow:
        def __enter__(self) -> Slow:
            os.kill(os.getpid(), signal.SIGINT)  # a stop arrives while acquiring
            time.sleep(0.01)
            return self

        def __exit__(self, *exc: Any) -> None:
            released.append(exc[0])

    def handler(signum: int, frame: Any) -> None:
        raise Interrupted()

    old = signal.signal(signal.SIGINT, handler)
    try:
        with pytest.raises(Interrupted), track(Slow(), name="slow"):
            pytest.fail("the block must not run")  # pragma: no cover
    finally:
        signal.signal(signal.SIGINT, old)
    assert released == [Interrupted]
    r = one("slow")
    assert (r["exits"], r["exception"]) == (1, "Interrupted")


def test_a_stop_while_leaving_is_raised_after_the_exit_is_recorded(tmp_path: Path) -> None:
    def handler(signum: int, frame: Any) -> None:
        raise Interrupted()

    old = signal.signal(signal.SIGINT, handler)
    try:
        with pytest.raises(Interrupted), sqlite_transaction(tmp_path / "s.db") as conn:
            conn.execute("CREATE TABLE t(i INT)")
            conn.set_progress_handler(lambda: os.kill(os.getpid(), signal.SIGINT) or 0, 1)
    finally:
        signal.signal(signal.SIGINT, old)
    r = one("sqlite_transaction(s.db)")
    assert (r["outcome"], r["exits"]) == ("committed", 1)
    assert rows(tmp_path / "s.db") == []


def test_only_a_block_that_failed_by_itself_is_a_failure() -> None:
    from workbench.authoring.recording import failed_outcome

    for expected in ("ok", "committed", "closed", "open", "interrupted", "stopped (user)"):
        assert not failed_outcome(expected), expected
    assert not failed_outcome("rolled back", "StopRun")  # rolled back because the run ended
    assert failed_outcome("rolled back", "ValueError")
    assert failed_outcome("ValueError", "ValueError")


def test_a_context_the_chain_closes_for_a_stop_says_the_stop() -> None:
    """A stop lands in a stage's own code (StopRun there) or at a boundary, and then the
    runner closes the chain for it (GeneratorExit): either way the context says the stop."""

    def stage():
        with timed("held"):
            yield 1
            yield 2

    REGISTRY.begin_run(in_run=False)
    g = stage()
    next(g)
    REGISTRY.stopped_by = "max_seconds"
    g.close()
    (rec,) = REGISTRY.records()
    assert (rec.outcome, rec.exception) == ("stopped (max_seconds)", "GeneratorExit")
    REGISTRY.begin_run(in_run=False)  # a new run: closing is "closed" again
    g = stage()
    next(g)
    g.close()
    assert REGISTRY.records()[0].outcome == "closed"
