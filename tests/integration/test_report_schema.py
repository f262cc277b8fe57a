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
import contextlib, ctypes, functools, os, time
import joblib
from workbench import experiment_log, gpu_memory, pipeline, sqlite_transaction, stage, timed

HERE = os.path.dirname(os.path.abspath(__file__))
memory = joblib.Memory(os.path.join(HERE, "joblib-cache"), verbose=0)

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

@memory.cache
def load(k):
    return [k] * 4

@contextlib.contextmanager
def opened(what):
    yield what

class Featurizer:
    @functools.cached_property
    def table(self):
        return list(range(10))

async def ticks(n):
    for i in range(n):
        yield [i] * 8

def touch_everything(batches):
    f = Featurizer()
    log, db = os.path.join(HERE, "e.log"), os.path.join(HERE, "e.db")
    with experiment_log(log), sqlite_transaction(db), gpu_memory():
        for b in batches:
            with timed("batch"), opened("batch"):
                f.table
                load(b[0] % 3)
                yield [square(x % 3) for x in b]

@pipeline
def everything(n: int = 20):
    \"\"\"Every section: caches (memory, disk, cached_property), contexts of each kind,
    instrumented code, a note (async source), a parallel stage.\"\"\"
    return ticks(n), touch_everything, stage(double, workers=2)
"""

CASES: dict[str, tuple[str, dict[str, Any], str]] = {
    "finished": ("fine", {}, "finished"),
    "stopped": ("endless", {"max_batches": 30}, "stopped"),
    "failed": ("failing", {}, "failed"),
    "budget_exceeded": ("greedy", {"memory_budget": 150 * 2**20}, "budget_exceeded"),
    "crashed": ("crashing", {}, "crashed"),
    "parallel": ("fanned", {}, "finished"),
    "every_section": ("everything", {}, "finished"),
}
#: The report's sections (``report_schema.SECTIONS``) and what each holds in a full run.
EVERY_SECTION = ("caches", "gpu", "contexts", "parallel", "instrumented", "notes")


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
    if case == "every_section":
        for section in EVERY_SECTION:
            assert section in rep and "unavailable" not in rep[section], section
        sources = {c["source"] for c in rep["caches"]["caches"]}
        assert {"lru_cache", "joblib", "cached_property"} <= sources, sources
        kinds = {r["kind"] for r in rep["contexts"]["records"]}
        assert {"timed", "context", "experiment_log", "sqlite_transaction", "gpu_memory"} <= kinds
        assert [s["stage"] for s in rep["parallel"]["stages"]] == ["double"]
        assert {i["kind"] for i in rep["instrumented"]["found"]} >= {"cached_property"}
        assert [n["about"] for n in rep["notes"]] == ["async"]


def test_the_schema_catches_a_misspelt_or_missing_field(write_module: Any) -> None:
    """Every object of a fixed shape is closed: a field spelt wrong anywhere in a section
    fails, and so does one left out."""
    path = write_module("schema_mod", MODULE)
    state = follow_run(f"{path}:fine", RunOptions(max_seconds=60))
    rep = json.loads(json.dumps(report(state, finished_at=1.0)))
    jsonschema.validate(rep, SHIPPED)
    row = rep["caches"]["caches"][0]
    row["hitz"] = row.pop("hits")
    with pytest.raises(jsonschema.ValidationError, match="hitz"):
        jsonschema.validate(rep, SHIPPED)
    row["hits"] = row.pop("hitz")
    del rep["contexts"]["records"][0]["outcome"]
    with pytest.raises(jsonschema.ValidationError, match="outcome"):
        jsonschema.validate(rep, SHIPPED)
    rep["contexts"] = {"unavailable": "RuntimeError: a sampler failed"}
    jsonschema.validate(rep, SHIPPED)  # a section that could not be read says so
