"""Pickling for Dask workers: the user's modules by value, libraries by name; checked by
unpickling in a real Python process that runs elsewhere and cannot import the modules."""

from __future__ import annotations

import functools
import importlib
import json
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import workbench
from workbench.authoring.cachestats import CacheStats, time_misses
from workbench.authoring.parallel_pickle import (
    dumps,
    dumps_function,
    is_local_module,
    local_modules,
)
from workbench.errors import UserError

HELPER = """
def scale(x):
    return 3 * x
"""

MAIN = """
import functools

from pbv_unit_helper import scale


class Box:
    def __init__(self, v):
        self.v = v


@functools.lru_cache(maxsize=8)
def offset(k):
    return 1000 * k


def work(b):
    return Box(scale(b.v) + offset(b.v % 3))
"""

#: Run elsewhere: unpickle the function and a value, call, and report the result.
REMOTE = """
import importlib.util, pickle, sys
assert importlib.util.find_spec("pbv_unit_main") is None, "the module is importable here"
fn = pickle.loads(sys.stdin.buffer.read(int(sys.argv[1])))
value = pickle.loads(sys.stdin.buffer.read())
out = fn(value)
cache = fn.__globals__["offset"]
print(out.v, type(out).__name__, cache.cache_parameters()["maxsize"], cache.cache_info().misses)
"""


@pytest.fixture
def user_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    folder = tmp_path / "user"
    folder.mkdir()
    (folder / "pbv_unit_helper.py").write_text(textwrap.dedent(HELPER))
    (folder / "pbv_unit_main.py").write_text(textwrap.dedent(MAIN))
    monkeypatch.syspath_prepend(str(folder))
    main = importlib.import_module("pbv_unit_main")
    yield main
    for name in ("pbv_unit_main", "pbv_unit_helper"):
        sys.modules.pop(name, None)


def run_elsewhere(tmp_path: Path, fn_blob: bytes, value_blob: bytes) -> str:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    proc = subprocess.run(
        [sys.executable, "-c", REMOTE, str(len(fn_blob))],
        input=fn_blob + value_blob,
        capture_output=True,
        cwd=elsewhere,
        env={"PATH": "/usr/bin:/bin"},  # no PYTHONPATH: the user's folder is not there
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout.decode().strip()


def test_local_modules_are_the_users_files_only(user_modules) -> None:
    names = {m.__name__ for m in local_modules()}
    assert {"pbv_unit_main", "pbv_unit_helper"} <= names
    assert not is_local_module(json) and not is_local_module(np)
    assert not is_local_module(workbench) and not is_local_module(pytest)


def test_function_values_and_lru_cache_helpers_travel_by_value(tmp_path, user_modules) -> None:
    fn_blob = dumps_function(user_modules.work, "dask", "work")
    value_blob = dumps(user_modules.Box(7), local_modules())
    # 3*7 + 1000*(7%3); the result's class came by value; the cache is a fresh lru_cache
    assert run_elsewhere(tmp_path, fn_blob, value_blob) == "1021 Box 8 1"


def test_the_runners_miss_timer_inside_an_lru_cache_is_left_behind(tmp_path, user_modules) -> None:
    # What the runner child makes of a user's @lru_cache (engine.sections.lru_timing): the
    # timer holds a threading.local and cannot be pickled; the user's function travels.
    raw = user_modules.offset.__wrapped__
    timed = functools.lru_cache(maxsize=8)(time_misses(raw, CacheStats("offset", "memory")))
    user_modules.offset = timed
    fn_blob = dumps_function(user_modules.work, "dask", "work")
    value_blob = dumps(user_modules.Box(2), local_modules())
    assert run_elsewhere(tmp_path, fn_blob, value_blob) == "2006 Box 8 1"


def test_loky_ships_by_name_and_unpicklable_functions_are_one_line(user_modules) -> None:
    blob = dumps_function(user_modules.work, "loky", "work")
    assert b"pbv_unit_main" in blob and pickle.loads(blob) is user_modules.work
    import threading

    lock = threading.Lock()

    def locked(x: int) -> int:
        with lock:
            return x

    with pytest.raises(UserError, match="stage locked: its function cannot be pickled"):
        dumps_function(locked, "dask", "locked")
