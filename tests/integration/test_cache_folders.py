"""Cache folders in real runs: a home or cache folder others can write to is refused before
a planted pickle can load; a user's own joblib folder gets a warning; a read-only cache
(a real read-only bind mount) serves its results and says so once."""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.integration import mounts
from tests.integration.helpers import pipebench

PLANTED = """
from workbench import disk_cached, pipeline

@disk_cached
def feature(x):
    return x + 1

def numbers(n):
    yield from range(n)

def work(xs):
    for x in xs:
        yield feature(x)

@pipeline
def planted(batch_size: int = 1, n: int = 3):
    return numbers(n), work
"""


class _Plant:
    """Unpickled, it creates the file named: code of someone else's, run as you."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.marker, "w"))


def test_a_home_others_can_write_to_is_refused_before_a_planted_pickle_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PIPEBENCH_HOME")  # the default home: ./.pipebench, as found
    (tmp_path / "mod.py").write_text(textwrap.dedent(PLANTED))
    assert pipebench("run", "mod.py", cwd=tmp_path).code == 0
    home = tmp_path / ".pipebench"
    assert home.stat().st_mode & 0o777 == 0o700
    entries = sorted(home.glob("cache/**/output.pkl"))
    assert len(entries) == 3
    # Someone else made the home world-writable (or pre-created it so) and planted results.
    marker = tmp_path / "planted-code-ran"
    for entry in entries:
        entry.write_bytes(pickle.dumps(_Plant(marker)))
    home.chmod(0o777)
    r = pipebench("run", "mod.py", cwd=tmp_path)
    assert r.code == 2 and not marker.exists()
    [line] = r.err.splitlines()
    assert line.startswith(f"error: pipebench refuses the pipebench home {home}: ")
    assert "writable by its group and others (mode 0777)" in line and "chmod go-w" in line
    # The same planted results in a private home do load (a pickle is code): the refusal
    # above is what kept them from running.
    home.chmod(0o700)
    assert pipebench("run", "mod.py", cwd=tmp_path).code == 0
    assert marker.exists()


def test_a_disk_cached_folder_others_can_write_to_is_refused(
    tmp_path: Path, write_module: Any
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o775)
    mod = write_module(
        "shared_mod", PLANTED.replace("@disk_cached", f"@disk_cached(location={str(shared)!r})")
    )
    r = pipebench("run", str(mod), cwd=tmp_path)
    assert r.code == 2, r.err
    [line] = r.err.splitlines()
    assert f"refuses the cache folder of disk cache feature {shared}: " in line
    assert "writable by its group (mode 0775)" in line


JOBLIB = """
import os
from joblib import Memory
from workbench import disk_cached, pipeline

memory = Memory(os.environ["JL_CACHE"], verbose=0)

@memory.cache
def square(x):
    return x * x

@disk_cached(location=os.environ["PB_CACHE"])
def cube(x):
    return x ** 3

def numbers(n):
    yield from range(n)

def work(xs):
    for x in xs:
        yield square(x) + cube(x)

@pipeline
def both(batch_size: int = 1, n: int = 5):
    return numbers(n), work
"""


@pytest.fixture
def caches(tmp_path: Path, write_module: Any, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("JL_CACHE", str(tmp_path / "caches" / "jl"))
    monkeypatch.setenv("PB_CACHE", str(tmp_path / "caches" / "pb"))
    return write_module("both_mod", JOBLIB)


def test_a_users_joblib_folder_others_can_write_to_gets_one_warning(
    tmp_path: Path, caches: Path
) -> None:
    jl = tmp_path / "caches" / "jl"
    jl.mkdir(parents=True)
    jl.chmod(0o777)
    r = pipebench("run", str(caches), cwd=tmp_path)
    assert r.code == 0, r.err
    assert r.report is not None
    log = [ln for ln in r.report["log_tail"] if "others could plant" in ln]
    assert len(log) == 1, r.report["log_tail"]
    assert f"joblib cache square: {jl}: others could plant results" in log[0]
    assert f"it is writable by its group and others (mode 0777); run chmod go-w {jl}" in log[0]


def caches_of(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in report["caches"]["caches"]}


@pytest.mark.skipif(not mounts.supported(), reason="no read-only bind mounts here")
def test_a_read_only_cache_serves_its_results_and_says_so_once(
    tmp_path: Path, caches: Path
) -> None:
    assert pipebench("run", str(caches), cwd=tmp_path).code == 0  # fills both caches: 0..4
    folder = tmp_path / "caches"
    before = sorted(p.relative_to(folder) for p in folder.rglob("*"))
    argv = [sys.executable, "-m", "workbench.cli.main", "run", str(caches)]
    argv += ["--param", "n=8", "--json", "ro.json"]
    done = subprocess.run(
        mounts.read_only_argv(argv, folder),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "ro.json").read_text())
    assert report["status"] == "finished" and report["items"] == 8
    found = caches_of(report)
    for name in ("square", "cube"):
        c = found[name]
        assert (c["hits"], c["misses"], c["read_only"]) == (5, 3, True), c
    said = [ln for ln in report["log_tail"] if "read-only" in ln]
    assert len(said) == 2, report["log_tail"]  # once per cache, not once per new result
    assert any("joblib cache square: " in ln for ln in said)
    assert any("disk cache cube: " in ln for ln in said)
    assert all("results are served, new ones are computed but not stored" in ln for ln in said)
    assert not [ln for ln in report["log_tail"] if "Unable to cache" in ln or "Warning" in ln]
    assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == before


@pytest.mark.skipif(not mounts.supported(), reason="no read-only bind mounts here")
def test_a_read_only_cache_with_no_folder_for_the_function_fails_in_one_line(
    tmp_path: Path, caches: Path
) -> None:
    assert pipebench("run", str(caches), cwd=tmp_path).code == 0
    folder = tmp_path / "caches"
    [square] = folder.glob("jl/joblib/*/square")
    shutil.rmtree(square)  # nothing to serve: joblib itself fails to make the folder
    argv = [sys.executable, "-m", "workbench.cli.main", "run", str(caches)]
    done = subprocess.run(
        mounts.read_only_argv(argv, folder),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert str(square) in line and "Read-only file system" in line
