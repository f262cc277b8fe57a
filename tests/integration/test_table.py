"""`pipebench table`: every pipeline of a module run with the same parameters in real
runner children (a real multiprocessing producer among them), one table of measured figures,
each run recorded as `pipebench run` records it."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.helpers import EXAMPLES, pipebench

TECHNIQUES = """
import multiprocessing
import queue
import time
import numpy as np
from workbench import pipeline


def rows(n, width):
    for i in range(n):
        yield np.full(width, i, dtype=np.float64)


def batched(it, batch_size):
    batch = []
    for row in it:
        batch.append(row)
        if len(batch) == batch_size:
            yield np.stack(batch)
            batch = []
    if batch:
        yield np.stack(batch)


def load_all(n, width, batch_size):
    everything = np.stack(list(rows(n, width)))  # the whole data set in memory first
    for i in range(0, n, batch_size):
        yield everything[i:i + batch_size]


def produce(n, width, batch_size, out):
    big = np.ones(4_000_000)  # 30 MiB of the producer's own, touched: its memory shows
    for b in batched(rows(n, width), batch_size):
        out.put(b * big[0])
    out.put(None)


def from_queue(n, width, batch_size):
    q = multiprocessing.Queue(maxsize=4)
    p = multiprocessing.Process(target=produce, args=(n, width, batch_size, q), daemon=True)
    p.start()
    try:
        while True:
            try:
                b = q.get(timeout=1.0)
            except queue.Empty:
                if not p.is_alive():
                    raise RuntimeError("the producer died")
                continue
            if b is None:
                break
            yield b
        p.join()
    finally:
        if p.is_alive():
            p.terminate()
        q.close()
        q.cancel_join_thread()


def total(batches):
    for b in batches:
        time.sleep(0.002)  # a run long enough for a few memory readings
        yield b.sum(axis=1)


@pipeline
def generators(batch_size: int = 10, n: int = 2000, width: int = 512):
    return batched(rows(n, width), batch_size), total


@pipeline
def load_everything(batch_size: int = 10, n: int = 2000, width: int = 512):
    return load_all(n, width, batch_size), total


@pipeline
def mp_queue(batch_size: int = 10, n: int = 2000, width: int = 512):
    return from_queue(n, width, batch_size), total


@pipeline(requires=["no_such_module_here"])
def elsewhere(batch_size: int = 10):
    return iter([]), total
"""


def test_table_runs_every_pipeline_with_the_same_parameters(tmp_path, write_module, pipebench_home):
    path = write_module("techniques", TECHNIQUES)
    r = pipebench(
        "table", str(path), "--param", "n=3000", "--batch-size", "20", "--json", "t.json",
        cwd=tmp_path,
    )  # fmt: skip
    assert r.code == 0, r.err
    data = json.loads((tmp_path / "t.json").read_text())
    assert data["params"] == {"n": "3000", "batch_size": "20"}
    rows = {row["pipeline"]: row for row in data["rows"]}
    assert list(rows) == ["generators", "load_everything", "mp_queue", "elsewhere"]
    assert rows["elsewhere"]["status"] == "unavailable"
    assert "needs no_such_module_here" in rows["elsewhere"]["message"]
    reports = {rep["pipeline"]: rep for rep in data["reports"]}
    saved = {p.name for p in (pipebench_home / "runs").glob("*.json")}
    for name in ("generators", "load_everything", "mp_queue"):
        row, rep = rows[name], reports[name]
        assert row["status"] == "finished" and rep["params"]["n"] == 3000
        assert rep["items"] == 3000 and row["items_per_s"] == rep["items_per_s"] > 0
        assert row["private_peak_bytes"] == rep["memory"]["private_peak_bytes"] > 0
        assert row["rss_peak_bytes"] == rep["memory"]["rss_peak_bytes"]
        assert row["file_peak_bytes"] == rep["memory"]["file_peak_bytes"]
        assert row["cpu_s"] == rep["cpu_s"] is not None
        assert row["processes"] == rep["memory"]["processes_seen"]
        record = json.loads(Path(row["record"]).read_text())  # as `pipebench run` records
        assert record["run_id"] == rep["run_id"] and row["record"].split("/")[-1] in saved
    # The producer process is in the tree, with its role and its own memory.
    assert rows["mp_queue"]["processes"] == 2
    assert rows["mp_queue"]["roles"] == {"runner": 1, "multiprocessing child": 1}
    assert rows["mp_queue"]["private_peak_by_role"]["multiprocessing child"] > 30 * 2**20
    assert rows["generators"]["processes"] == 1
    # Loading everything first holds the data set (3000 x 512 float64 = 11.7 MiB) at once.
    grown = rows["load_everything"]["private_peak_bytes"] - rows["generators"]["private_peak_bytes"]
    assert grown > 8 * 2**20
    # The printed table names each pipeline and the columns' units.
    for text in ("generators", "load_everything", "mp_queue", "(unavailable)", "items/s", "MiB"):
        assert text in r.out
    assert "peak private of one process, by role: runner" in r.out


def test_the_async_example_shows_concurrency_paying_off(tmp_path):
    r = pipebench(
        "table", f"{EXAMPLES}/async_fetch.py", "--param", "requests=80", "--json", "-",
        cwd=tmp_path, json_name=None,
    )  # fmt: skip
    assert r.code == 0, r.err
    rows = {row["pipeline"]: row for row in json.loads(r.out)["rows"]}
    concurrent, sequential = rows["async_fetch"], rows["async_fetch_sequential"]
    assert sequential["duration_s"] >= 80 * 0.01  # 80 awaits of 10 ms, one after the other
    assert concurrent["items_per_s"] > 4 * sequential["items_per_s"]


def test_bad_input_gets_one_line_and_exit_2(tmp_path, write_module):
    path = write_module("techniques", TECHNIQUES)
    cases = [
        (["table", f"{path}:generators"], "runs every pipeline of a module: give"),
        (["table", str(path), "--param", "nope=1"], "no pipeline of"),
        (["table", str(tmp_path / "missing.py")], "no such file"),
        (["table", str(tmp_path)], "is a folder"),
    ]
    for args, message in cases:
        r = pipebench(*args, cwd=tmp_path, json_name=None)
        assert r.code == 2, (args, r.err)
        assert message in r.err and len(r.err.strip().splitlines()) == 1, r.err
