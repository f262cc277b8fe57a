"""A real Dask scheduler and two workers on 127.0.0.1, started and stopped here, run the
parallel pipeline with the serial outputs; a worker that dies fails the run with its error."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.helpers import pipebench
from tests.integration.parallel_module import SOURCE, outputs

pytest.importorskip("distributed")
pytestmark = pytest.mark.slow

DASK = str(Path(sys.executable).with_name("dask"))
if not Path(DASK).exists():
    pytest.skip(f"no dask command next to {sys.executable}", allow_module_level=True)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory):
    """``tcp://127.0.0.1:PORT`` of a scheduler with two one-thread workers. A task whose
    worker dies is not retried (allowed-failures 0), so that test stays short."""
    folder = tmp_path_factory.mktemp("dask")
    env = dict(os.environ, DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES="0")
    file = folder / "scheduler.json"
    log = open(folder / "dask.log", "wb")  # noqa: SIM115 - closed below
    procs = [
        subprocess.Popen(
            [
                DASK,
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(file),
            ],
            stdout=log,
            stderr=log,
            env=env,
            cwd=folder,
        )
    ]
    try:
        deadline = time.monotonic() + 60
        while not (file.exists() and file.stat().st_size):
            assert procs[0].poll() is None and time.monotonic() < deadline, "no scheduler"
            time.sleep(0.1)
        address = json.loads(file.read_text())["address"]
        for _ in range(2):
            procs.append(
                subprocess.Popen(
                    [
                        DASK,
                        "worker",
                        address,
                        "--nthreads",
                        "1",
                        "--no-nanny",
                        "--host",
                        "127.0.0.1",
                        "--no-dashboard",
                    ],
                    stdout=log,
                    stderr=log,
                    env=env,
                    cwd=folder,
                )
            )
        from distributed import Client

        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        _stop(procs)
        log.close()


def test_dask_cluster_runs_the_stage_with_the_serial_outputs(tmp_path, write_module, scheduler):
    mod = write_module("parmod", SOURCE)
    r = pipebench("run", f"{mod}:serial", "--param", f"out={tmp_path / 's.jsonl'}", cwd=tmp_path)
    assert r.code == 0, r.err
    r = pipebench(
        "run",
        f"{mod}:fanned",
        "--param",
        f"out={tmp_path / 'd.jsonl'}",
        "--backend",
        "dask",
        "--scheduler",
        scheduler,
        cwd=tmp_path,
    )
    assert r.code == 0, (r.out, r.err)
    assert outputs(tmp_path / "d.jsonl") == outputs(tmp_path / "s.jsonl")
    par = r.report["parallel"]
    assert par["backend"] == "dask" and par["scheduler"] == scheduler
    (st,) = par["stages"]
    assert st["workers"] == 2 and st["cluster_workers"] == 2 and st["state"] == "done"
    assert st["completed"] > 0 and st["items"] == 200
    assert f"dask at {scheduler}" in r.out


def test_dask_worker_that_dies_fails_the_run_with_its_error(
    tmp_path, write_module, scheduler, monkeypatch
):
    mod = write_module("parmod", SOURCE)
    monkeypatch.setenv("PIPEBENCH_DASK_SCHEDULER", scheduler)  # the variable, not --scheduler
    r = pipebench(
        "run",
        f"{mod}:dying",
        "--param",
        f"out={tmp_path / 'p.jsonl'}",
        "--backend",
        "dask",
        cwd=tmp_path,
        timeout=60,
    )
    assert r.code == 1, (r.out, r.err)
    rep = r.report
    assert rep["status"] == "failed" and rep["error"]["type"] == "KilledWorker"
    assert rep["error"]["stage"] == "dies_in_a_worker"
    assert 0 < rep["stages"][1]["items"] < 300
    assert rep["parallel"]["stages"][0]["state"] == "failed"
