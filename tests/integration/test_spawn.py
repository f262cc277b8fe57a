"""A runner spawned before its run is known (``engine.spawn``), with real children: the run it
is given sees the environment as it is when the run starts and a stdin of its own (never
the request), a runner no run takes is ended, one whose pipebench dies ends by itself, and
``pipebench run`` with bad input leaves no runner behind."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil

from tests.integration.helpers import pipebench
from workbench.engine import spawn
from workbench.engine.follow import Follower, RunJob
from workbench.engine.runner import RunOptions, start_run
from workbench.engine.session import report

ENV_MODULE = """
import os
import sys

from workbench import pipeline


def look(it):
    print("seen:", os.environ.get("PB_TEST_SET"), os.environ.get("PB_TEST_UNSET"))
    print("unbuffered:", os.environ.get("PYTHONUNBUFFERED"))
    print("stdin:", repr(sys.stdin.read()))
    yield from it


@pipeline
def env(batch_size: int = 1):
    return range(3), look
"""


def runners_below_us() -> list[psutil.Process]:
    out = []
    for p in psutil.Process().children(recursive=True):
        try:
            if "workbench.engine.child" in " ".join(p.cmdline()):
                out.append(p)
        except psutil.Error:
            pass
    return out


def follow(handle: object, target: str) -> dict:  # type: ignore[type-arg]
    follower = Follower(RunJob(target, RunOptions()), starter=lambda t, o: handle)
    return report(follower.run())


def test_a_prestarted_runner_runs_with_the_environment_of_the_run_start(
    write_module, monkeypatch
) -> None:
    path = write_module("envmod", ENV_MODULE)
    monkeypatch.setenv("PB_TEST_UNSET", "was set at the spawn")
    monkeypatch.delenv("PB_TEST_SET", raising=False)
    monkeypatch.delenv("PYTHONUNBUFFERED", raising=False)
    spawn.prestart()
    # What pipebench sets after the spawn (--backend, --workers) reaches the run.
    monkeypatch.setenv("PB_TEST_SET", "set after")
    monkeypatch.delenv("PB_TEST_UNSET")
    spare = spawn._PRESTARTED
    assert spare is not None
    handle = start_run(f"{path}:env", RunOptions())
    assert handle.proc is spare.proc  # the prestarted runner ran it
    rep = follow(handle, f"{path}:env")
    assert rep["status"] == "finished", rep["message"]
    out = "\n".join(rep["log_tail"])
    assert "seen: set after None" in out, out
    assert "unbuffered: 1" in out, out  # pipebench's own setting, whatever this process has
    assert "stdin: ''" in out, out  # /dev/null, as without a prestart: not the request


def test_a_runner_from_another_folder_is_not_taken(write_module, tmp_path) -> None:
    path = write_module("envmod", ENV_MODULE)
    spawn.prestart(cwd=str(tmp_path))
    spare = spawn._PRESTARTED
    assert spare is not None
    handle = start_run(f"{path}:env", RunOptions())  # asks for this process's folder
    assert handle.proc is not spare.proc
    assert spare.proc.poll() is not None  # ended and reaped
    assert follow(handle, f"{path}:env")["status"] == "finished"


def test_a_runner_no_run_took_is_ended() -> None:
    spawn.prestart()
    spare = spawn._PRESTARTED
    assert spare is not None
    spawn.discard_prestarted()
    assert spare.proc.returncode is not None and spawn._PRESTARTED is None
    assert not runners_below_us()


def test_a_runner_whose_pipebench_died_ends_by_itself(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import os
        from workbench.engine import spawn
        spawn.prestart()
        print(spawn._PRESTARTED.proc.pid, flush=True)
        os._exit(0)  # gone without a word to its runner
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    pid = int(out.stdout.split()[0])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"runner {pid} still running 30 s after its pipebench died")


def test_bad_input_to_run_leaves_no_runner(tmp_path: Path) -> None:
    before = {p.pid for p in psutil.process_iter()}
    for args in (("run", "no_such_module"), ("run", "x.py", "--max-batches", "-1")):
        res = pipebench(*args, cwd=tmp_path, json_name=None)
        assert res.code == 2 and res.err.startswith("error:"), res.err
    time.sleep(0.2)
    left = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        if p.info["pid"] not in before and "workbench.engine.child" in " ".join(
            p.info["cmdline"] or ()
        ):
            left.append(p.info)
    assert not left, left


def test_the_command_line_is_checked_while_the_runner_boots(write_module, tmp_path) -> None:
    """``pipebench run`` spawns its runner before it has parsed its command line: the run
    started that way reports the runner's spawn before the command's work (sanity of the
    order the start-up figure relies on)."""
    path = write_module("envmod", ENV_MODULE)
    t0 = time.monotonic_ns()
    res = pipebench("run", f"{path}:env", cwd=tmp_path)
    assert res.code == 0, res.err
    assert res.report is not None
    spawned = res.report["timing"]["runner_spawned_ns"]
    first = res.report["timing"]["first_batch_ns"]
    assert t0 < spawned < first
    assert os.path.exists(tmp_path / "run.json")


SLOW_IMPORT = """
import time

open({marker!r}, "w").write("importing")  # the runner has its run: pipebench started it
time.sleep(1.5)

from workbench import pipeline


@pipeline
def slow(batch_size: int = 1):
    return range(10)
"""


def test_a_ctrl_c_as_the_run_starts_stops_it_with_its_report(write_module, tmp_path) -> None:
    """The run starts before pipebench has imported what follows it: a Ctrl-C that comes
    then is held and acted on once the run is followed (stopped, reported, exit 130),
    never lost with the run."""
    import signal

    marker = tmp_path / "importing"
    path = write_module("slowimport", SLOW_IMPORT.format(marker=str(marker)))
    out = tmp_path / "r.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench.cli.main", "run", f"{path}:slow", "--json", str(out)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.002)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    rep = json_load(out)
    assert rep["status"] == "stopped" and rep["cancelled"], rep["message"]
    assert "Traceback" not in err


def json_load(path: Path) -> dict:  # type: ignore[type-arg]
    import json

    return json.loads(path.read_text())  # type: ignore[no-any-return]


def test_closed_standard_descriptors_and_no_descriptors_left(write_module, tmp_path) -> None:
    """Started with stdin, stdout or stderr closed, pipebench runs as ever (the runner's
    descriptors must not take their numbers); where no runner can be spawned (no
    descriptors left), one line says so, exit 2."""
    import json
    import shlex

    path = write_module("envmod", ENV_MODULE)
    python = shlex.quote(sys.executable)
    for closed in ("<&-", ">&-", "2>&-"):
        out = tmp_path / "r.json"
        shell = f"exec {python} -m workbench.cli.main run {path}:env --json {out} {closed}"
        res = subprocess.run(["bash", "-c", shell], cwd=tmp_path, capture_output=True,
                             text=True, timeout=120)  # fmt: skip
        assert res.returncode == 0, (closed, res.stderr)
        assert json.loads(out.read_text())["status"] == "finished", closed
        out.unlink()
    shell = f"ulimit -n 12; exec {python} -m workbench.cli.main run {path}:env"
    res = subprocess.run(["bash", "-c", shell], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith("error: the runner could not be started:"), res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.splitlines()) == 1, res.stderr
