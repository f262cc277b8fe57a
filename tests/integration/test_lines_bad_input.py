"""``pipebench lines`` bad input: one clear line on stderr each, exit 2, and what could be
profiled is still reported."""

from __future__ import annotations

import json

import pytest

from tests.integration.helpers import pipebench

MODULE = """
import functools
from workbench import pipeline, stage


def double(x):
    return 2 * x


def work(items):
    for x in items:
        yield x + 1


@pipeline
def mixed(n: int = 50):
    return range(n), work, stage(functools.partial(map, double), name="mapped")
"""


@pytest.fixture
def module(write_module):
    return write_module("badmod", MODULE)


def error_lines(err: str) -> list[str]:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert all(ln.startswith("error: ") for ln in lines), err
    return lines


def test_unknown_stage_lists_the_stages(tmp_path, module):
    r = pipebench("lines", f"{module}:mixed", "--stage", "wrok", cwd=tmp_path)
    assert r.code == 2, r.out + r.err
    (line,) = error_lines(r.err)
    assert "no stage 'wrok'" in line and "did you mean work" in line
    assert "range (source), work, mapped" in line
    assert "Traceback" not in r.out + r.err


def test_function_not_found_still_reports_the_stage(tmp_path, module):
    r = pipebench(
        "lines",
        f"{module}:mixed",
        "--stage",
        "work",
        "--function",
        "badmod:dubble",
        "--json",
        "out.json",
        cwd=tmp_path,
    )
    assert r.code == 2, r.out + r.err
    (line,) = error_lines(r.err)
    assert "--function badmod:dubble" in line and "did you mean double" in line
    report = json.loads((tmp_path / "out.json").read_text())
    assert [f["name"] for f in report["functions"]] == ["work"]
    assert "work  stage work" in r.out and "cost of looking" in r.out


def test_function_in_a_module_that_does_not_exist(tmp_path, module):
    r = pipebench(
        "lines", f"{module}:mixed", "--stage", "work", "--function", "nosuchmodule:f", cwd=tmp_path
    )
    assert r.code == 2
    (line,) = error_lines(r.err)
    assert "cannot import 'nosuchmodule'" in line


def test_builtin_stage_with_no_source(tmp_path, module):
    # Alone: nothing to profile, one line that names the builtin and the function to name.
    r = pipebench("lines", f"{module}:mixed", "--stage", "mapped", cwd=tmp_path)
    assert r.code == 2, r.out + r.err
    (line,) = error_lines(r.err)
    assert "stage mapped is the builtin map" in line and "--function badmod:double" in line
    # With a stage that has source: that one is still profiled and reported.
    r = pipebench(
        "lines",
        f"{module}:mixed",
        "--stage",
        "mapped",
        "--stage",
        "work",
        "--json",
        "out.json",
        cwd=tmp_path,
    )
    assert r.code == 2, r.out + r.err
    (line,) = error_lines(r.err)
    assert "stage mapped is the builtin map" in line
    report = json.loads((tmp_path / "out.json").read_text())
    assert [f["name"] for f in report["functions"]] == ["work"]
    assert report["cost_of_looking"]["profiled_items"] == 50
