"""Caches seen through real runner children: exact counts, persistence across processes,
byte limits, clearing during and after a run, and each bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.integration.helpers import EXAMPLES, pipebench
from workbench.engine.follow import Follower, RunJob, Update, follow_run
from workbench.engine.runner import RunOptions
from workbench.engine.sections import cache_control
from workbench.engine.sections.caches import CachesSection, ServedClear
from workbench.engine.session import RunState, report

TIMEOUT_S = 60.0


def run(target: Path | str, **params: Any) -> RunState:
    options = RunOptions(params={k: str(v) for k, v in params.items()}, max_seconds=TIMEOUT_S)
    return follow_run(str(target), options)


def rows(state_or_section: RunState | CachesSection) -> dict[str, dict[str, Any]]:
    """Each cache's row, in its JSON form (as the report has it), by name."""
    if isinstance(state_or_section, RunState):
        assert state_or_section.snapshot is not None, state_or_section.log_tail
        section = state_or_section.snapshot.sections.caches
    else:
        section = state_or_section
    assert section is not None
    return {r.name: r.to_json() for r in section.caches}


def counts(r: dict[str, Any]) -> tuple[int, int]:
    return r["hits"], r["misses"]


def test_example_counts_and_second_run_hits(tmp_path: Path) -> None:
    """The docstring's figures: first run, then a fresh process that hits the disk."""
    first = run(EXAMPLES / "cached_features.py")
    assert first.status == "finished", first.message
    c = rows(first)
    assert counts(c["load_shard"]) == (16, 8)
    assert counts(c["tokenize_text"]) == (800, 400)
    assert counts(c["text_features"]) == (800, 400)
    assert (c["load_shard"]["source"], c["load_shard"]["kind"]) == ("joblib", "disk")
    assert (c["tokenize_text"]["source"], c["tokenize_text"]["kind"]) == ("cache_info", "disk")
    assert c["text_features"]["kind"] == "memory" and c["text_features"]["entries"] == 400
    assert c["load_shard"]["seconds_saved"] >= 16 * 0.05  # joblib's record of each shard
    assert c["text_features"]["seconds_saved"] > 0  # misses timed, without a code change
    assert first.snapshot is not None and first.snapshot.sections.caches is not None
    assert report(first)["caches"] == first.snapshot.sections.caches.to_json()

    second = run(EXAMPLES / "cached_features.py")
    c = rows(second)
    assert counts(c["load_shard"]) == (24, 0)
    assert counts(c["tokenize_text"]) == (1200, 0)
    assert counts(c["text_features"]) == (800, 400)  # memory: empty in each new process
    assert c["load_shard"]["seconds_saved"] >= 24 * 0.05


BLOBS = """
from workbench import disk_cached, pipeline

@disk_cached(bytes_limit=60_000)
def blob(i):
    return bytes([i % 256]) * 10_000

def numbers(n):
    yield from range(n)

def use(items):
    for i in items:
        yield len(blob(i))

@pipeline
def blobs(n: int = 30):
    return numbers(n), use
"""


def test_byte_limit_holds_after_a_run_that_exceeds_it(
    write_module: Any, pipebench_home: Path
) -> None:
    state = run(write_module("blobs_mod", BLOBS))
    assert state.status == "finished", state.message
    r = rows(state)["blob"]
    assert (r["source"], r["misses"], r["bytes_limit"]) == ("pipebench", 30, 60_000)
    assert 0 < r["bytes"] <= 60_000  # ~300 KB written in all
    on_disk = sum(f.stat().st_size for f in Path(r["path"]).glob("*/*") if f.is_file())
    assert on_disk <= 60_000 and Path(r["path"]).is_relative_to(pipebench_home / "cache")


FOREVER = """
import functools, time
from joblib import Memory
from workbench import data_dir, pipeline

memory = Memory(data_dir() / "jl", verbose=0)

@memory.cache
def load(x):
    return [x] * 10

@functools.lru_cache(maxsize=64)
def feat(x):
    return x * 2

def cycle():
    i = 0
    while True:
        yield i % 5
        i += 1
        time.sleep(0.02)

def use(items):
    for x in items:
        load(x)
        yield feat(x)

@pipeline
def forever(batch_size: int = 1):
    return cycle(), use
"""


def test_clear_during_a_run_and_after_it(write_module: Any) -> None:
    path = write_module("forever_mod", FOREVER)
    asked: dict[str, str] = {}
    answers: dict[str, ServedClear] = {}

    def watch(update: Update[RunState]) -> None:
        snap = update.state.snapshot
        if snap is None or snap.sections.caches is None:
            return
        section = snap.sections.caches
        c = rows(section)
        if not asked and c["load"]["entries"] == 5 and c["feat"]["entries"] == 5:
            for name in ("load", "feat"):
                out = cache_control.clear_cache(section, name)
                assert out.pending, out.message
                asked[name] = out.request_id  # type: ignore[assignment]
        for name, req in asked.items():
            answer = cache_control.served(section, req)
            if answer is not None:
                answers[name] = answer
        if len(answers) == 2 and c["load"]["entries"] == 5 and not follower.stopping:
            follower.request_stop()  # every key computed again after the clear

    job = RunJob(str(path), RunOptions(max_seconds=TIMEOUT_S))
    follower = Follower(job, on_update=watch, interval=0.05)
    state = follower.run()
    assert state.status == "stopped", state.message
    assert "5 entries" in answers["load"].message and answers["feat"].ok
    assert any("pipebench: cleared load" in line for line in state.log_tail)
    assert state.snapshot is not None
    final = state.snapshot.sections.caches
    assert final is not None
    c = rows(final)
    assert c["feat"]["misses"] == 10  # 5 before the clear, the same 5 after
    assert c["load"]["misses"] - c["load"]["load_failures"] == 10
    # After the run, the disk cache is cleared from this process; memory has nothing left.
    out = cache_control.clear_cache(final, "load")
    assert out.ok and not out.pending and "5 entries" in out.message
    assert not list(Path(c["load"]["path"]).glob("*/output.pkl"))
    assert cache_control.clear_cache(final, "feat").ok is False


JOBLIB_STEP = """
from joblib import Memory
from workbench import data_dir, pipeline

memory = Memory(data_dir() / "jl", verbose=0)

@memory.cache
def step(x):
    return [x] * 100

def numbers(n):
    for i in range(n):
        yield i % 5

def use(items):
    for x in items:
        yield step(x)

@pipeline
def steps(n: int = 10):
    return numbers(n), use
"""


def test_corrupt_entry_is_a_miss_with_a_warning(write_module: Any, pipebench_home: Path) -> None:
    path = write_module("steps_mod", JOBLIB_STEP)
    assert counts(rows(run(path))["step"]) == (5, 5)
    outputs = sorted((pipebench_home / "data" / "jl").glob("**/output.pkl"))
    assert len(outputs) == 5
    outputs[0].write_bytes(outputs[0].read_bytes()[:7])  # truncated
    state = run(path)
    assert state.status == "finished", state.message
    r = rows(state)["step"]
    assert (r["hits"], r["misses"], r["load_failures"]) == (9, 1, 1)
    warnings = [ln for ln in state.log_tail if "cannot read the entry" in ln]
    assert len(warnings) == 1 and "counted as a miss" in warnings[0]
    assert not any("Traceback" in ln for ln in state.log_tail)


def test_code_change_invalidates_the_joblib_cache(write_module: Any) -> None:
    path = write_module("steps_mod", JOBLIB_STEP)
    assert counts(rows(run(path))["step"]) == (5, 5)
    write_module("steps_mod", JOBLIB_STEP.replace("[x] * 100", "[x] * 1000"))
    state = run(path)
    r = rows(state)["step"]
    assert (r["hits"], r["misses"], r["invalidations"]) == (5, 5, 1)
    assert any("code of step changed" in ln for ln in state.log_tail), state.log_tail


RAISING = """
from workbench import pipeline

class Flaky:
    def cache_info(self):
        raise RuntimeError("lost its counters")

flaky = Flaky()

def numbers(n):
    yield from range(n)

def double(items):
    for x in items:
        yield 2 * x

@pipeline
def plain(n: int = 100):
    return numbers(n), double
"""


def test_cache_info_that_raises_is_unavailable(write_module: Any) -> None:
    state = run(write_module("flaky_mod", RAISING))
    assert state.status == "finished" and state.exited.returncode == 0
    r = rows(state)["flaky"]
    assert r["available"] is False
    assert r["reason"] == "cache_info() raised RuntimeError: lost its counters"


def assert_one_line(result: Any, *needles: str) -> None:
    assert result.code == 2, (result.out, result.err)
    lines = [ln for ln in result.err.splitlines() if ln.strip()]
    assert len(lines) == 1, result.err
    for n in needles:
        assert n in lines[0], lines[0]


def test_unwritable_cache_folders(tmp_path: Path, write_module: Any) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    own = write_module(
        "own_mod",
        BLOBS.replace(
            "@disk_cached(bytes_limit=60_000)", f"@disk_cached(location={str(blocker / 'c')!r})"
        ),
    )
    assert_one_line(
        pipebench("run", str(own), cwd=tmp_path),
        "disk cache blob",
        str(blocker / "c"),
        "cannot write",
    )
    jl = write_module("jl_mod", JOBLIB_STEP.replace('data_dir() / "jl"', repr(str(blocker))))
    assert_one_line(pipebench("run", str(jl), cwd=tmp_path), str(blocker), "Not a directory")
    # A joblib function folder that exists but cannot take files: refused before the run.
    home = tmp_path / "jlhome"
    (home / "joblib" / "jl_mod2").mkdir(parents=True)  # a str location gets joblib/
    (home / "joblib" / "jl_mod2" / "step").write_text("in the way")
    jl2 = write_module("jl_mod2", JOBLIB_STEP.replace('data_dir() / "jl"', repr(str(home))))
    assert_one_line(
        pipebench("run", str(jl2), cwd=tmp_path),
        "joblib cache step",
        str(home / "joblib" / "jl_mod2" / "step"),
    )
