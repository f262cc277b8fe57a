"""Each bad input: one clear line on stderr, the right exit code, no traceback, and what was
measured before a failure is kept."""

from __future__ import annotations

import pytest

from tests.integration.helpers import EXAMPLES, pipebench

HEADER = "from workbench import pipeline, stage\n"


def assert_one_line(r, code, *needles):
    assert r.code == code, (r.out, r.err)
    lines = [ln for ln in r.err.splitlines() if ln.strip()]
    assert len(lines) == 1, r.err
    assert "Traceback" not in r.err + r.out
    for n in needles:
        assert n in lines[0], lines[0]


def test_missing_file(tmp_path):
    r = pipebench("run", "nope/missing.py", cwd=tmp_path)
    assert_one_line(r, 2, "no such file", "missing.py")


def test_syntax_error(tmp_path, write_module):
    path = write_module("syn", HEADER + "def oops(:\n")
    assert_one_line(
        pipebench("run", str(path), cwd=tmp_path), 2, "syntax error", "syn.py", "line 2"
    )


def test_module_without_pipelines(tmp_path, write_module):
    path = write_module("nopipes", "def read():\n    yield 1\n")
    assert_one_line(pipebench("run", str(path), cwd=tmp_path), 2, "no pipelines", "read")


def test_unknown_pipeline_name(tmp_path):
    r = pipebench("run", f"{EXAMPLES}/jsonl_tokens.py:jsonl", cwd=tmp_path)
    assert_one_line(r, 2, "no pipeline 'jsonl'", "jsonl_tokens, jsonl_tokens_load_all")


def test_unknown_param(tmp_path):
    r = pipebench(
        "run", f"{EXAMPLES}/jsonl_tokens.py:jsonl_tokens", "--param", "rowz=5", cwd=tmp_path
    )
    assert_one_line(r, 2, "no parameter 'rowz'", "batch_size, rows")


def test_param_of_the_wrong_type(tmp_path):
    r = pipebench(
        "run", f"{EXAMPLES}/jsonl_tokens.py:jsonl_tokens", "--param", "rows=lots", cwd=tmp_path
    )
    assert_one_line(r, 2, "rows", "takes int", "'lots'")


def test_bad_cli_value(tmp_path):
    r = pipebench("run", f"{EXAMPLES}/jsonl_tokens.py", "--memory-budget", "lots", cwd=tmp_path)
    assert_one_line(r, 2, "2GiB")
    r = pipebench("run", f"{EXAMPLES}/jsonl_tokens.py", "--batch-size", "0", cwd=tmp_path)
    assert_one_line(r, 2, "at least 1")


def test_factory_that_raises(tmp_path, write_module):
    path = write_module(
        "facraise",
        HEADER
        + """
@pipeline
def p(batch_size: int = 1):
    raise FileNotFoundError("data.csv is missing")
""",
    )
    assert_one_line(
        pipebench("run", str(path), cwd=tmp_path),
        2,
        "factory raised",
        "FileNotFoundError",
        "data.csv",
    )


def test_stage_that_is_not_callable(tmp_path, write_module):
    path = write_module(
        "notcall",
        HEADER
        + """
@pipeline
def p(batch_size: int = 1):
    return range(10), 42
""",
    )
    assert_one_line(pipebench("run", str(path), cwd=tmp_path), 2, "42", "not callable")


def test_stage_that_returns_no_iterator(tmp_path, write_module):
    path = write_module(
        "noiter",
        HEADER
        + """
def listify(it):
    return list(it)

@pipeline
def p(batch_size: int = 1):
    return range(10), listify
""",
    )
    assert_one_line(pipebench("run", str(path), cwd=tmp_path), 2, "listify", "not an iterator")


def test_stage_raising_mid_run_keeps_the_counts(tmp_path, write_module):
    path = write_module(
        "midfail",
        HEADER
        + """
def parse(it):
    for i, x in enumerate(it):
        if i == 120:
            raise ValueError(f"row {i} is malformed")
        yield x

def after(it):
    yield from it

@pipeline
def p(batch_size: int = 1):
    return range(1000), parse, after
""",
    )
    r = pipebench("run", str(path), cwd=tmp_path)
    assert r.code == 1
    assert "Traceback" not in r.out + r.err
    assert "stage parse raised ValueError" in " ".join(r.out.split())
    rep = r.report
    assert rep["status"] == "failed"
    assert rep["error"]["type"] == "ValueError" and rep["error"]["stage"] == "parse"
    assert "row 120 is malformed" in rep["error"]["traceback"]
    assert rep["stages"][1]["items"] == 120 and rep["stages"][0]["items"] == 121


def test_child_killed_by_a_signal_is_a_crash(tmp_path, write_module):
    path = write_module(
        "segv",
        HEADER
        + """
import os, signal

def crash(it):
    for i, x in enumerate(it):
        if i == 50:
            os.kill(os.getpid(), signal.SIGSEGV)
        yield x

@pipeline
def p(batch_size: int = 1):
    return range(1000), crash
""",
    )
    r = pipebench("run", str(path), cwd=tmp_path)
    assert r.code == 1
    assert r.report["status"] == "crashed"
    assert "SIGSEGV" in r.report["message"]
    assert "crashed" in r.out


def test_memory_budget_names_the_batch(tmp_path, write_module):
    path = write_module(
        "hog",
        HEADER
        + """
import time

def hoard(it):
    kept = []
    for x in it:
        kept.append(bytearray(4 * 2**20))  # 4 MiB a batch, all kept
        time.sleep(0.002)
        yield x

@pipeline
def p(batch_size: int = 1):
    return range(10_000), hoard
""",
    )
    r = pipebench("run", str(path), "--memory-budget", "200MiB", cwd=tmp_path)
    assert r.code == 1
    rep = r.report
    assert rep["status"] == "budget_exceeded"
    assert "memory budget" in rep["message"] and "at batch" in rep["message"]
    assert rep["memory"]["rss_peak_bytes"] > 200 * 2**20
    assert rep["stages"][-1]["batches"] > 0


@pytest.mark.parametrize("limit", ["--max-seconds"])
def test_a_hanging_stage_is_stopped_by_the_time_limit(tmp_path, write_module, limit):
    path = write_module(
        "hang",
        HEADER
        + """
import time

def stuck(it):
    for x in it:
        if x == 3:
            time.sleep(3600)
        yield x

@pipeline
def p(batch_size: int = 1):
    return range(10), stuck
""",
    )
    r = pipebench("run", str(path), limit, "1", cwd=tmp_path, timeout=30)
    assert r.code == 0, r.err
    assert (r.report["status"], r.report["stop_reason"]) == ("stopped", "max_seconds")
    assert r.report["stages"][-1]["items"] == 3
