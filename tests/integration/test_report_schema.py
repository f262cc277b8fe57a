"""The published JSON Schema of the run report: generated from the report's types, shipped
in the package, and true of real reports of every status and with every section."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import jsonschema
import pytest

from workbench.engine.follow import follow_run
from workbench.engine.report_schema import schema
from workbench.engine.runner import RunOptions
from workbench.engine.session import REPORT_SCHEMA, report

SHIPPED = json.loads(resources.files("workbench.engine").joinpath("report.schema.json").read_text())

MODULE = """
import ctypes, functools, os, time
from workbench import pipeline, stage, timed

@functools.lru_cache(maxsize=8)
def square(x):
    return x * x

def numbers(n):
    for i in range(n):
        yield [i] * 8

def work(batches):
    for b in batches:
        with timed("batch"):
            yield [square(x % 3) for x in b]

def explode(batches):
    for i, b in enumerate(batches):
        if i == 5:
            raise ValueError("bad batch [/x]")
        yield b

def hoard(batches):
    kept = []
    for b in batches:
        kept.append(bytearray(8 * 2**20))
        yield b

def segfault(batches):
    for b in batches:
        ctypes.string_at(0)
        yield b

def double(x):
    return [2 * v for v in x]

@pipeline
def fine(n: int = 50):
    return numbers(n), work

@pipeline
def endless(n: int = 10**9):
    return numbers(n), work

@pipeline
def failing(n: int = 50):
    return numbers(n), explode

@pipeline
def greedy(n: int = 10**6):
    return numbers(n), hoard

@pipeline
def crashing(n: int = 50):
    return numbers(n), segfault

@pipeline
def fanned(n: int = 20):
    return numbers(n), stage(double, workers=2)
"""

CASES: dict[str, tuple[str, dict[str, Any], str]] = {
    "finished": ("fine", {}, "finished"),
    "stopped": ("endless", {"max_batches": 30}, "stopped"),
    "failed": ("failing", {}, "failed"),
    "budget_exceeded": ("greedy", {"memory_budget": 150 * 2**20}, "budget_exceeded"),
    "crashed": ("crashing", {}, "crashed"),
    "parallel": ("fanned", {}, "finished"),
}


def test_the_shipped_schema_is_the_one_the_types_give() -> None:
    assert json.loads(json.dumps(schema())) == SHIPPED, (
        "report.schema.json drifted: python -m workbench.engine.report_schema "
        "> workbench/engine/report.schema.json"
    )
    assert SHIPPED["$defs"]["RunReport"]["properties"]["schema"]["type"] == "integer"


@pytest.mark.parametrize("case", sorted(CASES))
def test_real_reports_follow_the_schema(case: str, write_module: Any) -> None:
    path = write_module("schema_mod", MODULE)
    name, options, status = CASES[case]
    state = follow_run(f"{path}:{name}", RunOptions(max_seconds=60, **options))
    rep = json.loads(json.dumps(report(state, finished_at=1.0)))  # as it is written
    assert rep["status"] == status, rep["message"]
    assert rep["schema"] == REPORT_SCHEMA
    jsonschema.validate(rep, SHIPPED)
    for section in ("gpu", "contexts", "caches") if case == "finished" else ():
        assert section in rep, section
    if case == "parallel":
        assert rep["parallel"]["stages"], rep["parallel"]
