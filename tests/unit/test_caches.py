"""Caches in one process: counting, sizes, byte limits, clearing, bad input, the sampler."""

from __future__ import annotations

import functools
import logging
import pickle
import time
import types
from pathlib import Path

import numpy as np
import pytest
from joblib import Memory
from rich.console import Console

from workbench import cached, disk_cached
from workbench.authoring import caching
from workbench.authoring.cachestats import STATS_ATTR, CacheStats, folder_usage, sizeof, time_misses
from workbench.authoring.joblib_counting import CountedMemorizedFunc, count_calls
from workbench.engine.loader import Target
from workbench.engine.sections import cache_control, lru_timing
from workbench.engine.sections.caches import CachesSampler, CachesSection
from workbench.errors import UserError
from workbench.views.caches import caches_table

#: 30 calls over 10 distinct keys, each key three times: 10 misses, 20 hits.
PATTERN = [i % 10 for i in range(30)]


@pytest.fixture(autouse=True)
def own_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sees only the pipebench caches it made (the registry is per process)."""
    monkeypatch.setattr(caching, "REGISTRY", [])


def row_of(sampler: CachesSampler, name: str) -> dict:
    rows = {r.name: r for r in sampler.read().caches}
    return rows[name]


def test_cached_counts_times_and_sizes() -> None:
    @cached(maxsize=64)
    def square(x: int) -> np.ndarray:
        time.sleep(0.002)
        return np.full(1000, x, dtype=np.float64)

    for k in PATTERN:
        square(k)
    info = square.cache_info()
    assert (info.hits, info.misses, info.currsize) == (20, 10, 10)
    stats: CacheStats = getattr(square, STATS_ATTR)
    assert stats.timed == 10
    assert stats.mean_miss_s() >= 0.002
    assert stats.mean_result_bytes() >= 8000
    sampler = CachesSampler(None)
    row = row_of(sampler, stats.name)
    assert row.source == "pipebench" and row.kind == "memory"
    assert (row.hits, row.misses, row.entries, row.maxsize) == (20, 10, 10, 64)
    assert row.hit_rate == pytest.approx(2 / 3)
    assert row.seconds_saved == pytest.approx(20 * stats.mean_miss_s())
    assert row.bytes >= 10 * 8000 and row.bytes_basis == "estimate"


def test_miss_timer_counts_recursion_once() -> None:
    stats = CacheStats("fib")

    def fib(n: int) -> int:
        return n if n < 2 else wrapped(n - 1) + wrapped(n - 2)

    wrapped = functools.lru_cache(maxsize=None)(time_misses(fib, stats))
    assert wrapped(20) == 6765
    assert stats.timed == wrapped.cache_info().misses == 21
    assert stats.sized == 1  # only the outermost call is timed and sized
    assert getattr(wrapped, STATS_ATTR) is stats  # update_wrapper carries it to the cache


def test_sizeof() -> None:
    assert sizeof(np.zeros(1000)) >= 8000
    assert sizeof([b"x" * 100] * 1000) >= 100_000
    assert sizeof({"a": np.zeros(100)}) >= 800


def test_disk_cache_counts_saved_time_and_persists(tmp_path: Path) -> None:
    def slow(x: int) -> list[int]:
        time.sleep(0.01)
        return [x] * 10

    first = disk_cached(slow, location=tmp_path / "c", name="slow")
    assert [first(k) for k in PATTERN] == [[k] * 10 for k in PATTERN]
    info = first.cache_info()
    assert (info.hits, info.misses, info.entries) == (20, 10, 10)
    assert info.seconds_saved >= 20 * 0.01
    assert first.stats.hit_s < info.seconds_saved
    # A second object on the same folder (as a new process would make) only hits.
    again = disk_cached(slow, location=tmp_path / "c", name="again")
    for k in PATTERN:
        again(k)
    assert (again.stats.hits, again.stats.misses) == (30, 0)
    assert again.stats.saved_s >= 30 * 0.01  # read from joblib's metadata.json


def test_byte_limit_holds(tmp_path: Path) -> None:
    @disk_cached(location=tmp_path / "c", bytes_limit="40KB")
    def blob(x: int) -> bytes:
        return bytes([x]) * 10_000

    for k in range(12):  # ~120 KB of results for a 40 KB limit
        blob(k)
    entries, nbytes = folder_usage(str(blob.folder))
    assert nbytes <= 40_000
    assert 1 <= entries <= 4
    assert blob.stats.misses == 12


def test_clear_drops_the_results(tmp_path: Path) -> None:
    @disk_cached(location=tmp_path / "c")
    def double(x: int) -> int:
        return 2 * x

    for k in range(5):
        double(k)
    assert double.cache_info().entries == 5
    double.cache_clear()
    assert double.cache_info().entries == 0
    double(1)
    assert double.stats.misses == 6


def test_corrupt_entry_is_a_miss_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    @disk_cached(location=tmp_path / "c")
    def triple(x: int) -> list[int]:
        return [3 * x] * 100

    triple(1)
    (output,) = blob_files(triple.folder)
    output.write_bytes(output.read_bytes()[:10])  # truncated
    with caplog.at_level(logging.WARNING):
        assert triple(1) == [3] * 100
    assert (triple.stats.hits, triple.stats.misses, triple.stats.load_failures) == (0, 2, 1)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "cannot read the entry" in lines[0]  # joblib's is not repeated
    assert triple(1) == [3] * 100 and triple.stats.hits == 1  # written again, whole


def blob_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*/output.pkl"))


def test_unwritable_folder_is_one_clear_line(tmp_path: Path) -> None:
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("x")
    with pytest.raises(UserError) as err:
        disk_cached(lambda x: x, location=a_file / "cache", name="feats")
    msg = err.value.message
    assert "\n" not in msg and str(a_file / "cache") in msg and "feats" in msg
    with pytest.raises(UserError, match="is a file"):
        disk_cached(lambda x: x, location=a_file)
    with pytest.raises(UserError, match="not a size"):
        disk_cached(lambda x: x, location=tmp_path, bytes_limit="lots")


def test_counted_joblib_pickles_without_counters(tmp_path: Path) -> None:
    mem = Memory(tmp_path, verbose=0)
    f = mem.cache(abs)
    stats, reason = count_calls(f, "abs")
    assert reason is None and isinstance(f, CountedMemorizedFunc)
    f(-3)
    f(-3)
    assert (stats.hits, stats.misses) == (1, 1)
    clone = pickle.loads(pickle.dumps(f))
    assert "_pb_stats" not in clone.__dict__ and clone(-3) == 3


class RaisingInfo:
    def cache_info(self) -> dict:
        raise RuntimeError("boom")


class OwnCache:
    """A user's cache that takes part through cache_info() alone."""

    def __init__(self) -> None:
        self.store: dict[int, int] = {}
        self.hits = self.misses = 0

    def cache_info(self) -> dict:
        return {
            "hits": self.hits,
            "misses": self.misses,
            "entries": len(self.store),
            "kind": "disk",
            "bytes": 123,
            "seconds_saved": 1.5,
        }

    def cache_clear(self) -> None:
        self.store.clear()


def fake_module(tmp_path: Path) -> types.ModuleType:
    mod = types.ModuleType("fake_pipeline")
    mod.feats = functools.lru_cache(maxsize=16)(lambda x: x)  # type: ignore[attr-defined]
    mod.memory = Memory(tmp_path / "jl", verbose=0)  # type: ignore[attr-defined]
    mod.load = mod.memory.cache(lambda x: [x] * 3)  # type: ignore[attr-defined]
    mod.broken = RaisingInfo()  # type: ignore[attr-defined]
    mod.own = OwnCache()  # type: ignore[attr-defined]
    mod.np = np  # type: ignore[attr-defined]
    return mod


def test_sampler_finds_every_kind_and_survives_a_broken_one(tmp_path: Path) -> None:
    mod = fake_module(tmp_path)
    sampler = CachesSampler(mod)
    for k in PATTERN:
        mod.feats(k)
        mod.load(k)
    mod.own.hits, mod.own.misses = 7, 3
    data = sampler.read()
    rows = {r.name: r for r in data.caches}
    assert {"feats", "load", "broken", "own"} <= set(rows)
    assert (rows["feats"].hits, rows["feats"].misses) == (20, 10)
    assert rows["feats"].seconds_saved is None  # not timed: made outside a pipeline
    assert (rows["load"].hits, rows["load"].misses, rows["load"].entries) == (20, 10, 10)
    assert rows["load"].kind == "disk" and rows["load"].bytes > 0
    assert rows["broken"].available is False
    assert rows["broken"].reason == "cache_info() raised RuntimeError: boom"
    own = rows["own"]
    assert (own.kind, own.hits, own.hit_rate, own.bytes) == ("disk", 7, 0.7, 123)
    assert own.seconds_saved == 1.5
    table = caches_table(data)
    console = Console(record=True, width=120)
    console.print(table)
    text = console.export_text()
    assert "broken unavailable: cache_info() raised RuntimeError: boom" in text
    assert "66.7%" in text  # load: 20 of 30
    assert caches_table(CachesSection()) is None
    assert CachesSection.from_json(data.to_json()) == data  # what the parent reads back


def test_clear_request_is_served_on_the_next_read(tmp_path: Path) -> None:
    mod = fake_module(tmp_path)
    control = tmp_path / "control"
    control.mkdir()
    sampler = CachesSampler(mod, control)
    for k in PATTERN:
        mod.feats(k)
        mod.load(k)
    section = sampler.read()
    assert cache_control.is_live(section) is True  # this process, its folder
    out = cache_control.clear_cache(section, "load")
    assert out.pending and out.request_id
    out2 = cache_control.clear_cache(section, "feats")
    section = sampler.read()
    answer = cache_control.served(section, out.request_id)
    assert answer and answer.ok and "10 entries" in answer.message
    assert cache_control.served(section, out2.request_id).ok  # type: ignore[union-attr]
    rows = {r.name: r for r in section.caches}
    assert rows["load"].entries == 0 and rows["feats"].entries == 0
    assert rows["feats"].hits == 20  # counters survive the clear
    assert not list(control.iterdir())
    sampler.close()
    final = sampler.read()
    assert final.live is False and final.control is None
    assert not control.exists()


def test_clear_after_the_run(tmp_path: Path) -> None:
    mod = fake_module(tmp_path)
    sampler = CachesSampler(mod)
    for k in range(4):
        mod.load(k)
    sampler.close()
    section = sampler.read()
    out = cache_control.clear_cache(section, "load")
    assert (out.pending, out.ok) == (False, True) and "4 entries" in out.message
    assert folder_usage(mod.load.func_folder()) == (0, 0)
    out = cache_control.clear_cache(section, "feats")
    assert out.ok is False and "the run is over" in out.message
    assert cache_control.clear_cache(section, "nope").ok is False


def test_lru_timing_only_for_user_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(functools, "lru_cache", functools.lru_cache)  # restored afterwards
    monkeypatch.setattr(lru_timing, "_roots", [])
    monkeypatch.setattr(lru_timing, "_verdicts", {})
    user_file = tmp_path / "pipe" / "mine.py"
    user_file.parent.mkdir()
    user_file.write_text("")
    lru_timing.install(Target(str(user_file)))
    source = (
        "import functools\n@functools.lru_cache(maxsize=4)\ndef f(x):\n    return x\n"
        "@functools.cache\ndef g(x):\n    return x\n"
    )
    user: dict = {}
    lib: dict = {}
    exec(compile(source, str(tmp_path / "pipe" / "helpers.py"), "exec"), user)
    exec(compile(source, "/elsewhere/site-packages/lib.py", "exec"), lib)
    user["f"](1), user["f"](1)
    assert getattr(user["f"], STATS_ATTR).timed == 1
    assert user["f"].cache_parameters() == {"maxsize": 4, "typed": False}
    assert getattr(user["g"], STATS_ATTR).name == "g"  # functools.cache goes through it too
    assert not hasattr(lib["f"], STATS_ATTR) and not hasattr(lib["g"], STATS_ATTR)


def test_caching_imports_neither_joblib_nor_textual() -> None:
    """The authoring API and the caches sampler stay light: joblib comes with a disk cache."""
    import subprocess
    import sys

    code = (
        "import sys, workbench, workbench.engine.sections.caches, workbench.views.caches\n"
        "import workbench.engine.child\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'joblib', 'textual'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
