"""Context managers and caches written as the source articles write them, found and
recorded in real runner children without a change to the module, and left alone with
``--no-instrument``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.integration.helpers import pipebench
from workbench.engine.follow import follow_run
from workbench.engine.runner import RunOptions
from workbench.engine.session import RunState, report

# Seed 000's FileStream, seed 002's DatabaseConnection, timing_context and experiment_logger,
# seed 003's custom_cache, as the articles write them; a method cache and a cached_property.
SEEDS = """
import functools
import hashlib
import json
import logging
import os
import pickle
import sqlite3
import time
from contextlib import contextmanager
from typing import Any, Dict, Generator, List

from workbench import pipeline


class FileStream:
    def __init__(self, file_path: str, batch_size: int):
        self.file_path = file_path
        self.batch_size = batch_size

    def __enter__(self):
        self.file = open(self.file_path, 'r')
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self.file.close()

    def batch_generator(self) -> Generator[List[Dict[str, Any]], None, None]:
        batch = []
        for line in self.file:
            batch.append(json.loads(line))
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch:
            yield batch


class DatabaseConnection:
    def __init__(self, db_path: str):
        self.db_path = db_path
        self.conn = None
        self.cursor = None

    def __enter__(self):
        self.conn = sqlite3.connect(self.db_path)
        self.cursor = self.conn.cursor()
        print('Conexión DB abierta')
        return self.cursor

    def __exit__(self, exc_type, exc_value, traceback):
        if exc_type:
            self.conn.rollback()
            print(f'Error detectado: {exc_value}, rollback ejecutado')
        else:
            self.conn.commit()
            print('Transacción finalizada correctamente')
        self.cursor.close()
        self.conn.close()
        print('Conexión DB cerrada')


def timing_context(name):
    @contextmanager
    def timer():
        start = time.time()
        print(f'Inicio de {name}')
        try:
            yield
        finally:
            end = time.time()
            print(f'Fin de {name}. Duración: {end - start:.2f}s')
    return timer()


@timing_context('Entrenamiento modelo')
def train():
    time.sleep(0.05)
    print('Training realizado')


@contextmanager
def experiment_logger(logfile: str):
    handler = logging.FileHandler(logfile)
    logger = logging.getLogger('ExperimentLogger')
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        logger.info('Inicio de experimento')
        yield logger
        logger.info('Fin de experimento')
    finally:
        handler.close()
        logger.removeHandler(handler)


def custom_cache(func):
    def wrapper(*args, **kwargs):
        cache_key = pickle.dumps((args, kwargs))
        hash_key = hashlib.md5(cache_key).hexdigest()
        cache_file = f"./cache/{func.__name__}_{hash_key}.cache"
        if os.path.exists(cache_file):
            with open(cache_file, 'rb') as f:
                return pickle.load(f)
        result = func(*args, **kwargs)
        os.makedirs('./cache', exist_ok=True)
        with open(cache_file, 'wb') as f:
            pickle.dump(result, f)
        return result
    return wrapper


@custom_cache
def heavy_calculation(a, b):
    time.sleep(0.01)
    return a * b + 100


class Featurizer:
    @functools.cache
    def code(self, x):
        return x * 2

    @functools.cached_property
    def table(self):
        time.sleep(0.02)
        return list(range(1000))


def source(n, path):
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({"i": i}) + "\\n")
    with FileStream(path, 10) as stream:
        yield from stream.batch_generator()


def work(batches):
    f = Featurizer()
    for b in batches:
        for item in b:
            f.code(item["i"] % 3)
            len(f.table)
        heavy_calculation(2, 3)
        yield b


def store(batches):
    for k, b in enumerate(batches):
        try:
            with DatabaseConnection("samples.db") as cursor:
                cursor.execute("CREATE TABLE IF NOT EXISTS samples (i INTEGER)")
                cursor.executemany("INSERT INTO samples VALUES (?)", [(r["i"],) for r in b])
                if k == 3:
                    raise ValueError("bad batch 3")
        except ValueError:
            pass
        yield b


def trainer(batches):
    with experiment_logger("experiment.log") as log:
        for b in batches:
            log.info("batch")
            yield b
    train()


@pipeline
def seeds(n: int = 100):
    return source(n, "data.jsonl"), work, store, trainer
"""


def run(path: Path, cwd: Path, **mode: Any) -> RunState:
    options = RunOptions(max_seconds=60.0, cwd=str(cwd), mode_options=mode)
    state = follow_run(str(path), options)
    assert state.status == "finished", (state.message, state.log_tail)
    return state


def test_seed_contexts_and_caches_are_recorded_without_code_changes(tmp_path, write_module):
    path = write_module("seeds", SEEDS)
    rep = report(run(path, tmp_path))

    records = rep["contexts"]["records"]
    by_name: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_name.setdefault(r["name"], []).append(r)
    assert [r["outcome"] for r in by_name["FileStream"]] == ["ok"]
    db = by_name["DatabaseConnection"]
    assert len(db) == 10 and all(r["exits"] == 1 for r in db)
    assert [r["outcome"] for r in db].count("committed") == 9
    rolled = [r for r in db if r["outcome"] == "rolled back"]
    assert len(rolled) == 1 and rolled[0]["exception"] == "ValueError"
    assert [r["outcome"] for r in by_name["experiment_logger"]] == ["ok"]
    timer = by_name["timing_context.<locals>.timer"]  # through the decorated train()
    assert len(timer) == 1 and timer[0]["duration_s"] >= 0.05
    for r in records:
        assert r["rss_before_bytes"] > 0 and r["rss_delta_bytes"] is not None

    caches = {c["name"]: c for c in rep["caches"]["caches"]}
    assert (caches["Featurizer.code"]["hits"], caches["Featurizer.code"]["misses"]) == (97, 3)
    table = caches["Featurizer.table"]
    assert (table["source"], table["hits"], table["misses"]) == ("cached_property", 99, 1)
    assert table["seconds_saved"] >= 99 * 0.02
    uncounted = caches["heavy_calculation"]
    assert not uncounted["available"] and uncounted["kind"] == "disk"
    assert "a cache without counters (made by custom_cache)" in uncounted["reason"]
    assert "@workbench.disk_cached instead of @custom_cache" in uncounted["reason"]

    found = {(f["kind"], f["name"]) for f in rep["instrumented"]["found"]}
    assert rep["instrumented"]["enabled"] is True
    assert found == {
        ("context manager class", "FileStream"),
        ("context manager class", "DatabaseConnection"),
        ("@contextmanager function", "experiment_logger"),
        ("decorated with a context manager", "train"),
        ("cached_property", "Featurizer.table"),
    }
    # The module still did its own work: its prints and its files.
    assert any("rollback ejecutado" in line for line in rep["log_tail"])
    assert (tmp_path / "cache").is_dir() and (tmp_path / "samples.db").exists()


def test_no_instrument_leaves_the_module_as_it_is(tmp_path, write_module):
    path = write_module("seeds", SEEDS)
    rep = report(run(path, tmp_path, instrument=False))
    assert rep["instrumented"] == {"enabled": False, "found": []}
    assert "contexts" not in rep or not rep["contexts"]["records"]
    caches = {c["name"]: c for c in rep["caches"]["caches"]}
    assert (caches["Featurizer.code"]["hits"], caches["Featurizer.code"]["misses"]) == (97, 3)
    assert "Featurizer.table" not in caches  # counting a cached_property changes the class


def test_the_run_command_lists_what_it_recorded_and_takes_no_instrument(tmp_path, write_module):
    path = write_module("seeds", SEEDS)
    r = pipebench("run", str(path), cwd=tmp_path)
    assert r.code == 0, r.err
    assert "recorded without code changes (--no-instrument turns it off)" in r.out
    assert "DatabaseConnection ×10" in r.out and "rolled back" in r.out
    r = pipebench("run", str(path), "--no-instrument", cwd=tmp_path)
    assert r.code == 0, r.err
    assert "were left as they are" in r.out and r.report["instrumented"]["enabled"] is False
