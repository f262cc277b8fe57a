"""Recording a user's own context manager classes and counting cached_property, in place;
telling caches without counters from other decorators."""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import sqlite3

import pytest

from workbench.authoring.autorecord import (
    CountedCachedProperty,
    count_cached_properties,
    record_context_class,
)
from workbench.authoring.recording import REGISTRY
from workbench.engine.sections import cache_scan


@pytest.fixture(autouse=True)
def fresh_registry():
    REGISTRY.begin_run(in_run=False)
    yield


def test_a_context_class_records_each_with_its_outcome(tmp_path):
    class Transaction:
        def __init__(self, path):
            self.path = path

        def __enter__(self):
            self.conn = sqlite3.connect(self.path)
            return self.conn.cursor()

        def __exit__(self, exc_type, exc_value, traceback):
            if exc_type:
                self.conn.rollback()
            else:
                self.conn.commit()
            self.conn.close()

    assert record_context_class(Transaction)
    assert record_context_class(Transaction)  # once only
    with Transaction(tmp_path / "db") as cur:
        cur.execute("CREATE TABLE t (i)")
    with pytest.raises(KeyError), Transaction(tmp_path / "db") as cur:
        raise KeyError("x")
    outcomes = [(r.outcome, r.exception) for r in REGISTRY.records()]
    assert outcomes == [("committed", None), ("rolled back", "KeyError")]


def test_super_calls_and_reentry_are_recorded_once():
    class Base:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    class Sub(Base):
        def __enter__(self):
            return super().__enter__()

        def __exit__(self, *exc):
            return super().__exit__(*exc)

    assert record_context_class(Base) and record_context_class(Sub)
    s = Sub()
    with s, s:
        pass
    assert [r.outcome for r in REGISTRY.records()] == ["ok", "ok"]
    assert all(r.name.endswith("Sub") for r in REGISTRY.records())


def test_a_suppressing_exit_and_a_class_without_both_methods():
    class Quiet:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return True

    class Half:
        def __enter__(self):
            return self

    assert record_context_class(Quiet) and not record_context_class(Half)
    with Quiet():
        raise ValueError("swallowed")
    assert [r.outcome for r in REGISTRY.records()] == ["suppressed ValueError"]


def test_counted_cached_property_counts_hits_misses_and_deletions():
    calls = []

    class Doc:
        @functools.cached_property
        def tokens(self):
            calls.append(1)
            return [1, 2, 3]

    (prop,) = count_cached_properties(Doc)
    assert isinstance(Doc.__dict__["tokens"], CountedCachedProperty) and prop.name.endswith(
        "Doc.tokens"
    )
    a, b = Doc(), Doc()
    for _ in range(5):
        assert a.tokens == [1, 2, 3]
    b.tokens = ["set"]  # assignment still works, as with cached_property
    assert b.tokens == ["set"]
    del a.tokens
    assert a.tokens == [1, 2, 3]
    assert len(calls) == 2
    assert tuple(prop.cache_info()) == (5, 2, 1)  # hits, misses, deletions
    assert count_cached_properties(Doc) == [prop]  # not wrapped twice


def custom_cache(func):  # seed 003, as written
    def wrapper(*args, **kwargs):
        cache_key = pickle.dumps((args, kwargs))
        hash_key = hashlib.md5(cache_key).hexdigest()
        cache_file = f"./cache/{func.__name__}_{hash_key}.cache"
        if os.path.exists(cache_file):
            with open(cache_file, "rb") as f:
                return pickle.load(f)
        result = func(*args, **kwargs)
        os.makedirs("./cache", exist_ok=True)
        with open(cache_file, "wb") as f:
            pickle.dump(result, f)
        return result

    return wrapper


def memoize(func):
    memo = {}

    def inner(x):
        if x not in memo:
            memo[x] = func(x)
        return memo[x]

    return inner


def logged(func):
    @functools.wraps(func)
    def wrapper(*args):
        print("calling", func.__name__)
        return func(*args)

    return wrapper


def log_to_file(func):  # writes a file and checks it exists: a log, not a cache
    def wrapper(*args):
        if not os.path.exists("calls.log"):
            open("calls.log", "w").close()
        with open("calls.log", "a") as f:
            f.write(func.__name__)
        return func(*args)

    return wrapper


def test_caches_without_counters_are_told_from_other_decorators(monkeypatch):
    monkeypatch.setattr(cache_scan, "is_user_function", lambda f: True)

    @custom_cache
    def heavy(a, b):
        return a * b

    @memoize
    def square(x):
        return x * x

    @logged
    def plain(x):
        return x

    kind, decorator, function = cache_scan.uncounted_cache(heavy)
    assert (kind, decorator) == ("disk", "custom_cache") and function.endswith("heavy")
    assert cache_scan.uncounted_cache(square)[:2] == ("memory", "memoize")

    @log_to_file
    def logged_to_file(x):
        return x

    assert cache_scan.uncounted_cache(plain) is None
    assert cache_scan.uncounted_cache(logged_to_file) is None
    assert cache_scan.uncounted_cache(functools.lru_cache(lambda x: x)) is None
    hint = cache_scan.counting_hint("disk", "custom_cache", "heavy")
    assert hint.startswith("a cache without counters (made by custom_cache)")
    assert "@workbench.disk_cached instead of @custom_cache" in hint
    assert "@functools.lru_cache(maxsize=None) instead of @memoize" in (
        cache_scan.counting_hint("memory", "memoize", "square")
    )
