"""Parallel stages on real Dask clusters on 127.0.0.1: one started here (``dask scheduler``
and two ``dask worker`` processes in a folder where the pipeline modules cannot be
imported) that ``--scheduler`` attaches to, and the local cluster ``--backend dask`` starts
for a run. Each failure ends the run with one line naming the stage, within seconds, and
leaves no process pipebench started."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.integration.helpers import EXAMPLES, pipebench
from tests.integration.hostile import start, wait_for
from tests.integration.parallel_module import BYVALUE, BYVALUE_HELPER, SOURCE, outputs

pytest.importorskip("distributed")
pytestmark = pytest.mark.slow

DASK = str(Path(sys.executable).with_name("dask"))
if not Path(DASK).exists():
    pytest.skip(f"no dask command next to {sys.executable}", allow_module_level=True)

MARK = "PIPEBENCH_TEST_MARK"


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


def start_cluster(folder: Path, workers: int) -> tuple[str, list[subprocess.Popen[bytes]]]:
    """A ``dask scheduler`` and ``workers`` one-thread workers on 127.0.0.1, all running in
    ``folder``; a task whose worker dies is not retried (allowed-failures 0), and the
    worker's nanny starts a new one, so that the next test has its workers again."""
    env = dict(os.environ, DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES="0")
    env.pop("PYTHONPATH", None)
    file = folder / "scheduler.json"
    log = open(folder / "dask.log", "ab")  # noqa: SIM115 - the processes hold it
    common = dict(stdout=log, stderr=log, env=env, cwd=folder)
    procs = [
        subprocess.Popen(
            [DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"]
            + ["--scheduler-file", str(file)],
            **common,  # type: ignore[call-overload]
        )
    ]
    try:
        deadline = time.monotonic() + 60
        while not (file.exists() and file.stat().st_size):
            assert procs[0].poll() is None and time.monotonic() < deadline, "no scheduler"
            time.sleep(0.1)
        address = json.loads(file.read_text())["address"]
        for _ in range(workers):
            procs.append(
                subprocess.Popen(
                    [DASK, "worker", address, "--nthreads", "1"]
                    + ["--host", "127.0.0.1", "--no-dashboard"],
                    **common,  # type: ignore[call-overload]
                )
            )
        from distributed import Client

        with Client(address, timeout=30) as client:
            client.wait_for_workers(workers, timeout=60)
    except BaseException:
        _stop(procs)
        raise
    finally:
        log.close()
    return address, procs


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory):
    """``tcp://127.0.0.1:PORT`` of a scheduler with two one-thread workers."""
    address, procs = start_cluster(tmp_path_factory.mktemp("dask"), 2)
    try:
        yield address
    finally:
        _stop(procs)


@pytest.fixture
def mark(monkeypatch: pytest.MonkeyPatch) -> str:
    """A variable in the environment of every process the test's pipebench starts."""
    value = uuid.uuid4().hex
    monkeypatch.setenv(MARK, value)
    return value


def marked(value: str) -> list[int]:
    """Processes still running whose environment has the test's mark."""
    needle = f"{MARK}={value}".encode()
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and int(d.name) != os.getpid():
            try:
                if needle in (d / "environ").read_bytes().split(b"\0"):
                    pids.append(int(d.name))
            except OSError:
                continue
    return pids


def assert_nothing_left(value: str, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while marked(value) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = marked(value)
    assert not left, [Path(f"/proc/{p}/cmdline").read_bytes() for p in left]


def test_attached_cluster_runs_the_stage_with_the_serial_outputs_and_worker_figures(
    tmp_path, write_module, scheduler
):
    mod = write_module("parmod", SOURCE)
    r = pipebench("run", f"{mod}:serial", "--param", f"out={tmp_path / 's.jsonl'}", cwd=tmp_path)
    assert r.code == 0, r.err
    r = pipebench(
        "run",
        f"{mod}:fanned",
        "--param",
        f"out={tmp_path / 'd.jsonl'}",
        "--scheduler",  # --backend dask is implied
        scheduler,
        cwd=tmp_path,
    )
    assert r.code == 0, (r.out, r.err)
    assert outputs(tmp_path / "d.jsonl") == outputs(tmp_path / "s.jsonl")
    par = r.report["parallel"]
    assert par["backend"] == "dask" and par["scheduler"] == scheduler
    assert par["cluster"]["kind"] == "attached" and par["cluster"]["scheduler"] == scheduler
    (st,) = par["stages"]
    assert st["workers"] == 2 and st["cluster_workers"] == 2 and st["state"] == "done"
    assert st["completed"] > 0 and st["items"] == 200 and st["serial_where"] == "one worker"
    workers = st["per_worker"]
    assert {w["worker"] for w in workers} <= set(_worker_addresses(scheduler))
    assert sum(w["tasks"] for w in workers) == 200  # every value ran on a worker
    assert all(w["memory_bytes"] > 10 * 2**20 for w in workers)  # from the scheduler
    t = st["transfer"]
    assert t["sent_values"] == t["received_results"] == 200
    assert t["sent_bytes"] > 200 * t["function_bytes"] and t["received_bytes"] > 0
    assert t["task_overhead_s"] > 0 and t["main_thread_s"] > 0
    assert "attached cluster at" in r.out and "moving data" in r.out and "worker" in r.out


def _worker_addresses(address: str) -> list[str]:
    from distributed import Client

    with Client(address, timeout=10) as client:
        return list(client.nthreads())


def test_the_users_modules_travel_by_value_to_workers_that_cannot_import_them(
    tmp_path, write_module, scheduler
):
    mod = write_module("pbv", BYVALUE)
    write_module("pbv_helpers", BYVALUE_HELPER)
    from distributed import Client

    def importable() -> list[bool]:
        import importlib.util

        return [importlib.util.find_spec(m) is not None for m in ("pbv", "pbv_helpers")]

    with Client(scheduler, timeout=10) as client:  # the workers really lack the modules
        assert set(map(tuple, client.run(importable).values())) == {(False, False)}
    r = pipebench("run", f"{mod}:byvalue", "--scheduler", scheduler, cwd=tmp_path)
    assert r.code == 0, (r.out, r.err)  # `check` saw every result right, and of its class
    assert r.report["items"] == 60
    # The bundled example: its stage calls a module-level lru_cache helper.
    r = pipebench(
        "run",
        f"{EXAMPLES}/numpy_batches.py:numpy_batches_parallel",
        "--param",
        "size=60000",
        "--batch-size",
        "2048",
        "--scheduler",
        scheduler,
        cwd=tmp_path,
    )
    assert r.code == 0, (r.out, r.err)
    assert r.report["parallel"]["stages"][0]["items"] == 60000


def test_a_worker_that_dies_fails_the_run_naming_the_stage(
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
    assert rep["status"] == "failed" and rep["error"]["type"] == "KilledWorker", rep["error"]
    assert rep["error"]["stage"] == "dies_in_a_worker"
    assert 0 < rep["stages"][1]["items"] < 300
    assert rep["parallel"]["stages"][0]["state"] == "failed"


def test_a_task_that_raises_fails_the_run_with_its_error(tmp_path, write_module, scheduler):
    mod = write_module("parmod", SOURCE)
    r = pipebench("run", f"{mod}:raising", "--scheduler", scheduler, cwd=tmp_path, timeout=60)
    assert r.code == 1, (r.out, r.err)
    err = r.report["error"]
    assert err["type"] == "ValueError" and err["stage"] == "raises_at_50"
    assert err["message"] == "item 50 is [bold]bad[/]"  # user text, kept as written
    assert "raises_at_50" in err["traceback"]  # the worker's traceback
    shown = " ".join(r.out.split())  # the report wraps at 80 columns
    assert "stage raises_at_50 raised ValueError: item 50 is [bold]bad[/]" in shown


def test_losing_the_scheduler_ends_the_run_within_seconds(tmp_path, write_module):
    mod = write_module("parmod", SOURCE)
    address, procs = start_cluster(tmp_path, 1)
    try:
        progress = tmp_path / "progress.txt"
        run = subprocess.Popen(
            [sys.executable, "-m", "workbench.cli.main", "run", f"{mod}:endless"]
            + ["--param", f"progress_file={progress}", "--scheduler", address]
            + ["--json", "run.json"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 60
        while not progress.exists() or int(progress.read_text() or 0) < 40:
            assert run.poll() is None and time.monotonic() < deadline, run.communicate()
            time.sleep(0.1)
        procs[0].kill()  # the scheduler
        t0 = time.monotonic()
        out, err = run.communicate(timeout=30)
        took = time.monotonic() - t0
    finally:
        _stop(procs)
        if run.poll() is None:
            run.kill()
    assert run.returncode == 1, (out, err)
    assert took < 10
    rep = json.loads((tmp_path / "run.json").read_text())
    assert rep["error"]["type"] == "DaskClusterLost" and rep["error"]["stage"] == "transform"
    assert rep["error"]["message"].startswith(f"lost the Dask scheduler at {address}")
    assert rep["parallel"]["stages"][0]["state"] == "failed"


def test_backend_dask_alone_starts_a_local_cluster_and_leaves_nothing(tmp_path, write_module, mark):
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
        "--workers",
        "2",
        cwd=tmp_path,
    )
    assert r.code == 0, (r.out, r.err)
    assert outputs(tmp_path / "d.jsonl") == outputs(tmp_path / "s.jsonl")
    cluster = r.report["parallel"]["cluster"]
    assert cluster["kind"] == "local" and cluster["dashboard"] is None
    assert cluster["scheduler"].startswith(("tls://127.0.0.1:", "tcp://127.0.0.1:"))
    assert cluster["workers"] == 2
    (st,) = r.report["parallel"]["stages"]
    assert st["workers"] == 2 and st["state"] == "done" and st["open_s"] > 0
    assert len(st["per_worker"]) == 2
    assert all(w["memory_bytes"] and w["memory_limit_bytes"] for w in st["per_worker"])
    assert "local cluster at" in r.out and "dashboard: off" in r.out
    assert_nothing_left(mark)


def test_local_cluster_worker_death_fails_quickly_and_leaves_nothing(tmp_path, write_module, mark):
    mod = write_module("parmod", SOURCE)
    t0 = time.monotonic()
    r = pipebench(
        "run",
        f"{mod}:dying",
        "--param",
        f"out={tmp_path / 'p.jsonl'}",
        "--backend",
        "dask",
        cwd=tmp_path,
        timeout=90,
    )
    assert r.code == 1, (r.out, r.err)
    assert time.monotonic() - t0 < 60
    err = r.report["error"]
    assert err["type"] == "KilledWorker" and err["stage"] == "dies_in_a_worker"
    assert "\n" not in err["message"]
    assert_nothing_left(mark)


def test_a_crash_in_the_serial_values_names_the_stage_on_dask(tmp_path, write_module, scheduler):
    mod = write_module("parmod", SOURCE)
    r = pipebench("run", f"{mod}:warmup_crash", "--scheduler", scheduler, cwd=tmp_path)
    assert r.code == 1, (r.out, r.err)
    assert r.report["error"]["type"] == "KilledWorker"
    assert r.report["error"]["stage"] == "dies_at_once"
    assert r.report["parallel"]["stages"][0]["state"] == "failed"


def test_stopping_a_run_on_a_local_cluster_leaves_nothing(tmp_path, write_module, mark):
    mod = write_module("parmod", SOURCE)
    r = pipebench(
        "run",
        f"{mod}:endless",
        "--param",
        f"progress_file={tmp_path / 'p.txt'}",
        "--backend",
        "dask",
        "--max-batches",
        "150",
        cwd=tmp_path,
        timeout=90,
    )
    assert r.code == 0, (r.out, r.err)
    assert r.report["status"] == "stopped" and r.report["stop_reason"] == "max_batches"
    (st,) = r.report["parallel"]["stages"]
    assert st["state"] == "closed" and st["completed"] > 0
    assert_nothing_left(mark)


def test_ctrl_c_while_a_worker_hangs_stops_within_the_grace_period(tmp_path, write_module, mark):
    """A stop taken while a local worker runs a call that never returns: the cluster is
    closed within pipebench's grace period (its hung worker killed), so the run ends as
    stopped, not killed, and leaves nothing."""
    mod = write_module("parmod", SOURCE)
    hanging = tmp_path / "hanging.txt"
    proc = start(
        "run",
        f"{mod}:hanging",
        "--param",
        f"hanging_file={hanging}",
        "--backend",
        "dask",
        "--json",
        "run.json",
        cwd=tmp_path,
    )
    try:
        wait_for(hanging.exists, "a worker to hang", timeout=90)
        time.sleep(0.5)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, (out, err)
    rep = json.loads((tmp_path / "run.json").read_text())
    assert rep["status"] == "stopped" and rep["stop_reason"] == "user", rep["message"]
    assert "killed" not in rep["message"] and rep["environment"]["exit_code"] == 0
    assert took < 3.0, took  # the grace period: a run that needs it all is killed
    assert_nothing_left(mark)
