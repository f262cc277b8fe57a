"""`pipebench kernels` end to end: real runner children, real Numba compiles, small sizes.

Timing settings are shrunk with the command's own options so the whole file stays fast;
no assertion depends on how fast anything ran, only on what was reported.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from tests.integration.helpers import EXAMPLES, pipebench
from workbench.engine.follow import Follower, Update
from workbench.engine.kernels.runner import KernelOptions, KernelsJob
from workbench.engine.kernels.session import KernelState, kernel_rows
from workbench.engine.kernels.timing import TimingSettings

QUICK = ["--samples", "3", "--warmup", "0.01", "--min-time", "0.002", "--no-gemm"]

KERNELS = '''
import numpy as np
from numba import njit
from workbench import kernels

@kernels(sizes=(64, 256), reference="numpy", flops=lambda n: n)
def scale(n):
    """Twice a vector."""
    return np.arange(n, dtype=np.float64)

@scale.impl("python")
def scale_python(a):
    return [2.0 * x for x in a.tolist()]

@scale.impl("numpy")
def scale_numpy(a):
    return a * 2.0

@scale.impl("numba")
@njit
def scale_numba(a):
    out = np.empty_like(a)
    for i in range(a.shape[0]):
        out[i] = a[i] * 2.0
    return out

@scale.impl("wrong")
def scale_wrong(a):
    return a * 2.001

@scale.impl("raises")
def scale_raises(a):
    raise ValueError("no luck")

@scale.impl("shape")
def scale_shape(a):
    return (a * 2.0)[:-1]

@scale.impl("nocompile")
@njit
def scale_nocompile(a):
    return a.not_an_attribute * 2

@kernels(sizes=(8, 16))
def broken(n):
    """Its inputs cannot be made past size 8."""
    if n > 8:
        raise RuntimeError("cannot make inputs this big")
    return np.ones(n)

@broken.impl("python")
def broken_python(a):
    return float(a.sum())
'''


@pytest.fixture
def kernel_module(write_module):
    return write_module("kmod", KERNELS)


def rows_by(report):
    return {(r["impl"], r["size"]): r for r in report["results"]}


def test_every_verdict_and_the_json_report(kernel_module, tmp_path):
    out = tmp_path / "k.json"
    res = pipebench(
        "kernels",
        f"{kernel_module}:scale",
        *QUICK[:-1],
        "--json",
        str(out),
        cwd=tmp_path,
        json_name=None,
    )
    assert res.code == 1, res.err  # some implementations failed: non-zero, rows kept
    assert "failed or disagree with the reference" in res.err
    rep = json.loads(out.read_text())
    rows = rows_by(rep)
    for size in (64, 256):
        assert rows[("numpy", size)]["correct"] is True and rows[("numpy", size)]["reference"]
        assert rows[("numba", size)]["correct"] is True
        assert rows[("python", size)]["correct"] is True
        wrong = rows[("wrong", size)]
        assert wrong["status"] == "ok" and wrong["correct"] is False
        assert wrong["speedup"] == {} and wrong["gflops"] is None and wrong["n"] == 3
        raised = rows[("raises", size)]
        assert raised["status"] == "error" and "ValueError: no luck" in raised["error"]
        assert "Traceback" in raised["rounds"][0]["traceback"]
        shape = rows[("shape", size)]
        assert shape["status"] == "error" and "wrong shape" in shape["error"]
        nocomp = rows[("nocompile", size)]
        assert nocomp["status"] == "error" and "failed to compile" in nocomp["error"]
    # Compile time apart: reported for the first size only, and the samples exclude it.
    numba_small, numba_big = rows[("numba", 64)], rows[("numba", 256)]
    assert numba_small["compile_s"] is not None and numba_small["compile_s"] > 0
    assert numba_big["compile_s"] is None
    assert max(numba_small["rounds"][0]["samples"]) < numba_small["compile_s"]
    assert numba_small["recompiles"] == 0
    assert numba_small["speedup"].keys() == {"python", "numpy"}
    # Raw samples and the machine.
    assert len(numba_small["rounds"][0]["samples"]) == 3
    assert numba_small["rounds"][0]["loops"] >= 1
    machine = rep["machine"]
    assert machine["cpu"] and machine["cpus"] >= 1
    assert machine["threads"]["requested"] == "1" and machine["threads"]["numba"] == 1
    assert all(lib["threads"] == 1 for lib in machine["threads"]["blas"])
    assert machine["gemm_gflops"] > 0 and machine["gemm"][0]["samples"]
    assert "numpy" in machine["versions"] and "numba" in machine["versions"]
    # The table says it too.
    assert "raised ValueError: no luck" in res.out and "wrong shape" in res.out
    assert "✗" in res.out and "✓" in res.out


def test_what_an_implementation_prints_is_shown_as_data(write_module, tmp_path):
    """A kernel that prints markup-looking text (a path in brackets) does not crash the
    command: the line is echoed verbatim, escape sequences taken out, the table printed."""
    path = write_module(
        "loud",
        r"""
        import numpy as np
        from workbench import kernels

        @kernels(sizes=(100,), reference="python")
        def k(n):
            return (np.arange(n, dtype=float),)

        @k.impl("python")
        def k_python(a):
            print("shape [/n] ok \x1b[2Jcleared [bold]b[/bold]")
            return float(sum(a))

        @k.impl("numpy")
        def k_numpy(a):
            return float(a.sum())
        """,
    )
    res = pipebench("kernels", str(path), *QUICK, cwd=tmp_path, json_name=None)
    assert res.code == 0, res.err + res.out
    assert "shape [/n] ok cleared [bold]b[/bold]" in res.out
    assert "\x1b[2J" not in res.out
    assert "python (ref)" in res.out and "numpy" in res.out and "finished" in res.out


def test_an_input_factory_that_raises_is_one_clear_line(kernel_module, tmp_path):
    res = pipebench(
        "kernels", str(kernel_module), "--kernel", "broken", *QUICK, cwd=tmp_path, json_name=None
    )
    assert res.code == 2
    err = [line for line in res.err.splitlines() if line.strip()]
    assert len(err) == 1
    assert "input factory raised RuntimeError: cannot make inputs this big (size 16)" in err[0]
    assert "python (ref)" in res.out  # size 8 was measured and is kept


@pytest.mark.parametrize(
    "args, text",
    [
        (["--kernel", "nope"], "no kernel 'nope' in"),
        (["--impl", "fortran"], "no implementation 'fortran'"),
        (["--threads", "zero"], "--threads takes a whole number or 'all'"),
        (["--sizes", "ten"], "is not a size"),
    ],
)
def test_bad_arguments_name_the_fix(kernel_module, tmp_path, args, text):
    res = pipebench("kernels", str(kernel_module), *args, *QUICK, cwd=tmp_path, json_name=None)
    assert res.code == 2, res.err
    assert text in res.err
    if args[0] == "--kernel":
        assert "available: scale, broken" in res.err


def test_a_module_without_kernel_sets(write_module, tmp_path):
    path = write_module("plain", "def f():\n    return 1\n")
    res = pipebench("kernels", str(path), *QUICK, cwd=tmp_path, json_name=None)
    assert res.code == 2 and "no kernel sets in" in res.err and "@workbench.kernels" in res.err


def test_rigorous_repeats_in_fresh_processes(kernel_module, tmp_path):
    out = tmp_path / "r.json"
    res = pipebench(
        "kernels",
        f"{kernel_module}:scale",
        "--rigorous",
        "--impl",
        "numba",
        "--sizes",
        "32",
        *QUICK,
        "--json",
        str(out),
        cwd=tmp_path,
        json_name=None,
    )
    assert res.code == 0, res.err
    rep = json.loads(out.read_text())
    assert rep["processes"] == 3
    assert len({e["pid"] for e in rep["environments"]}) == 3
    numba = rows_by(rep)[("numba", 32)]
    assert [r["round"] for r in numba["rounds"]] == [0, 1, 2]
    assert numba["n"] == 9
    assert all(r["compile_s"] for r in numba["rounds"])  # each fresh process compiles


def test_list_shows_kernel_sets(kernel_module, tmp_path):
    res = pipebench("list", str(kernel_module), cwd=tmp_path, json_name=None)
    assert res.code == 0, res.err
    assert "kmod.py:scale" in res.out and "numpy*" in res.out


@pytest.mark.parametrize("sigint", ["default", "ignored"])
def test_stopping_keeps_the_rows_so_far(write_module, sigint):
    """A stop after the first row ends the run with the rows so far, also where this
    process has SIGINT ignored (started by `nohup … &` from a shell without job control),
    which the runner child would inherit."""
    path = write_module(
        "slow",
        """
        import time
        from workbench import kernels

        @kernels(sizes=tuple(range(1, 40)))
        def nap(n):
            return (n,)

        @nap.impl("python")
        def nap_python(n):
            time.sleep(0.002)
            return n
    """,
    )
    follower: Follower[KernelState] | None = None
    results: list[int] = []

    def updated(update: Update[KernelState]) -> None:
        results.append(len(update.state.results))
        if update.state.results and follower is not None and not follower.stopping:
            follower.request_stop("user")  # with the first row in: the rest is not run
        assert time.monotonic() < deadline

    options = KernelOptions(
        gemm=False, timing=TimingSettings(samples=3, min_sample_s=0.005, warmup_s=0.01)
    )
    follower = Follower(KernelsJob(str(path), options), on_update=updated, interval=0.05)
    deadline = time.monotonic() + 60
    previous = signal.signal(
        signal.SIGINT, signal.SIG_IGN if sigint == "ignored" else signal.default_int_handler
    )
    try:
        state = follower.run()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert follower.stop_reason == "user" and not follower.killed
    assert state.status == "stopped"
    assert 1 <= len(kernel_rows(state)) < 39


def test_sigterm_stops_the_command_keeps_the_rows_and_leaves_nothing(write_module, tmp_path):
    """SIGTERM ends `pipebench kernels` as Ctrl-C does: the run stopped, the rows so far
    printed and written, exit 143, no runner left, the watchdog's folder removed."""
    path = write_module(
        "naps",
        """
        import time
        from workbench import kernels

        @kernels(sizes=tuple(range(1, 400)))
        def nap(n):
            return (n,)

        @nap.impl("python")
        def nap_python(n):
            time.sleep(0.002)
            return n
    """,
    )
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench.cli.main", "kernels", str(path), *QUICK,
         "--json", "k.json"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "TMPDIR": str(tmp)},
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not list(tmp.glob("pipebench-kernels-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(tmp.glob("pipebench-kernels-*")), "the run made its watchdog folder"
    time.sleep(1.5)  # some rows in
    children = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    assert "SIGTERM: stopping the kernels run" in out and "Traceback" not in out + err
    rep = json.loads((tmp_path / "k.json").read_text())
    assert rep["status"] == "stopped" and 1 <= len(rep["results"]) < 399
    assert "stopped" in out and "python" in out
    assert not list(tmp.glob("pipebench-kernels-*"))
    # The runner ends with pipebench (its parent-death signal) and the reaper once its
    # stdin closes: each a moment after pipebench's exit, longer on a loaded machine.
    _, alive = psutil.wait_procs(children, timeout=5)
    left = [c for c in alive if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert not left, [(c.pid, c.cmdline()) for c in left]


def test_the_example_runs_every_implementation_it_can(tmp_path):
    out = tmp_path / "ex.json"
    res = pipebench(
        "kernels",
        str(EXAMPLES / "distance_kernels.py"),
        "--sizes",
        "40",
        "--samples",
        "2",
        "--warmup",
        "0.005",
        "--min-time",
        "0.001",
        "--max-time",
        "0.2",
        "--json",
        str(out),
        cwd=tmp_path,
        json_name=None,
        timeout=240,
    )
    assert res.code == 0, res.err + res.out
    rep = json.loads(out.read_text())
    rows = rows_by(rep)
    impls = {impl for impl, _ in rows}
    assert {
        "python",
        "numpy",
        "numpy-gemm",
        "numba",
        "numba-parallel",
        "numba-gemm",
        "numpy-unique",
        "python-counter",
    } <= impls
    assert all(r["correct"] is True for r in rep["results"]), [
        (r["kernel"], r["impl"], r["check"]) for r in rep["results"] if not r["correct"]
    ]


def test_the_example_imports_neither_torch_nor_compiles_at_import():
    code = (
        "import sys, workbench.examples.distance_kernels as d\n"
        "assert 'torch' not in sys.modules\n"
        "assert not d.euclidean_numba.signatures\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


INPUTS = """
import numpy as np
from workbench import kernels

@kernels(sizes=(1000,), reference="inplace_ref")
def doubled(n):
    return np.ones(n)

@doubled.impl("inplace_ref")
def doubled_inplace_ref(a):
    a *= 2.0
    return a  # the reference's result is its input: it must not be changed afterwards

@doubled.impl("pure")
def doubled_pure(a):
    return a * 2.0

@doubled.impl("inplace")
def doubled_inplace(a):
    a *= 2.0
    return a

@doubled.impl("pure2")
def doubled_pure2(a):
    return a * 2.0

@kernels(sizes=(10,))
def streamed(n):
    return (x for x in range(n))

@streamed.impl("python")
def streamed_python(xs):
    return sum(xs)
"""


def test_each_implementation_gets_fresh_inputs_and_a_mutation_is_flagged(write_module, tmp_path):
    path = write_module("inputs", INPUTS)
    out = tmp_path / "i.json"
    res = pipebench(
        "kernels", f"{path}:doubled", *QUICK, "--json", str(out), cwd=tmp_path, json_name=None
    )
    assert res.code == 0, res.err + res.out  # changing an input is flagged, not a failure
    rows = rows_by(json.loads(out.read_text()))
    for impl in ("inplace_ref", "pure", "inplace", "pure2"):
        assert rows[(impl, 1000)]["correct"] is True, rows[(impl, 1000)]["check"]
    assert rows[("inplace", 1000)]["mutates"] is True
    assert rows[("inplace_ref", 1000)]["mutates"] is True
    assert rows[("pure", 1000)]["mutates"] is False and rows[("pure2", 1000)]["mutates"] is False
    # A mutator is timed call by call on fresh copies: 2.0 stays 2.0, no overflow to inf.
    assert rows[("inplace", 1000)]["inputs"] == "per call"
    assert rows[("pure", 1000)]["inputs"] in ("per sample", "once")
    assert "mutates its input" in res.out
    assert "pipebench-row-info" not in res.out  # the packed facts are never shown raw


def test_an_iterator_input_is_refused_in_one_line(write_module, tmp_path):
    path = write_module("inputs", INPUTS)
    res = pipebench("kernels", f"{path}:streamed", *QUICK, cwd=tmp_path, json_name=None)
    assert res.code == 2
    err = [line for line in res.err.splitlines() if line.strip()]
    assert len(err) == 1, res.err
    assert "kernel streamed: its input factory returned a generator" in err[0]
    assert "list(...)" in err[0]


LIMITS = """
import numpy as np
from numba import njit
from workbench import kernels

@kernels(sizes=(10, 20), reference="numpy")
def total(n):
    return np.ones(n)

@total.impl("numpy")
def total_numpy(a):
    return float(a.sum())

@total.impl("python-spin")
def total_spin(a):
    x = 0
    while True:  # pure Python: the soft limit ends it in the same runner
        x += 1

@total.impl("numba-spin")
@njit
def total_numba_spin(a):
    s = 0.0
    for i in range(10**14):  # compiled, holding the GIL: only the hard limit can end it
        s += i * 1e-9
    return s

@total.impl("after")
def total_after(a):
    return float(np.sum(a))
"""


def test_a_first_call_past_its_limit_is_ended_and_the_rest_measured(write_module, tmp_path):
    path = write_module("limits", LIMITS)
    out = tmp_path / "l.json"
    t0 = time.monotonic()
    res = pipebench(
        "kernels",
        str(path),
        *QUICK,
        "--first-call-limit",
        "1",
        "--json",
        str(out),
        cwd=tmp_path,
        json_name=None,
    )
    took = time.monotonic() - t0
    assert res.code == 0, res.err + res.out
    rep = json.loads(out.read_text())
    rows = rows_by(rep)
    soft, hard = rows[("python-spin", 10)], rows[("numba-spin", 10)]
    assert soft["status"] == "skipped" and "ran past the 1.00 s limit" in soft["skipped"]
    assert hard["status"] == "skipped" and "held the GIL" in hard["skipped"]
    for size in (10, 20):
        assert rows[("after", size)]["status"] == "ok" and rows[("after", size)]["correct"]
    # Once ended, an implementation is not tried again at a larger size, by either runner.
    for impl in ("python-spin", "numba-spin"):
        assert "its first call at size 10 ran past" in rows[(impl, 20)]["skipped"]
    assert rep["processes"] == 1 and rep["status"] == "finished"
    assert any("started a fresh runner" in line for line in rep["logs"])
    # The fresh runner ran the reference again for its result only: one row, not two.
    assert len(rows[("numpy", 10)]["rounds"]) == 1 and rows[("after", 10)]["correct"] is True
    assert took < 60  # two limits of 1 s, a restart and a Numba compile; never minutes


PARALLEL = """
import numpy as np
from numba import njit, prange
from workbench import kernels

@kernels(sizes=(2000,), reference="numpy")
def total(n):
    return np.arange(n, dtype=np.float64)

@total.impl("numpy")
def total_numpy(a):
    return float(a.sum())

@total.impl("prange")
@njit(parallel=True)
def total_prange(a):
    s = 0.0
    for i in prange(a.shape[0]):
        s += a[i]
    return s

@total.impl("marked", parallel=True)
def total_marked(a):
    return float(np.sum(a))
"""


@pytest.mark.parametrize("parallel_threads", [None, "1"])
def test_parallel_implementations_run_at_every_thread_and_each_row_says(
    write_module, tmp_path, parallel_threads
):
    from workbench.engine.kernels.env import usable_cpus

    path = write_module("par", PARALLEL)
    out = tmp_path / "p.json"
    extra = ["--parallel-threads", parallel_threads] if parallel_threads else []
    res = pipebench(
        "kernels",
        str(path),
        *QUICK,
        *extra,
        "--json",
        str(out),
        cwd=tmp_path,
        json_name=None,
    )
    assert res.code == 0, res.err + res.out
    rep = json.loads(out.read_text())
    rows = rows_by(rep)
    every = usable_cpus() if parallel_threads is None else 1
    assert rows[("numpy", 2000)]["threads"] == 1 and not rows[("numpy", 2000)]["parallel"]
    for impl in ("prange", "marked"):
        assert rows[(impl, 2000)]["threads"] == every and rows[(impl, 2000)]["parallel"]
        assert rows[(impl, 2000)]["correct"] is True
    assert sorted(rep["kernels"][0]["parallel"]) == ["marked", "prange"]
    assert " thr " in res.out
    if every > 1:
        assert f"run at {every} thread(s), the others at 1" in res.out


DIES = """
import ctypes
import os

import numpy as np
from workbench import kernels

@kernels(sizes=(10, 20), reference="numpy")
def total(n):
    return np.arange(n, dtype=np.float64)

@total.impl("numpy")
def total_numpy(a):
    return float(np.sum(a))

@total.impl("exits")
def total_exits(a):
    os._exit(3)

@total.impl("segfault")
def total_segfault(a):
    if len(a) > 10:
        ctypes.string_at(0)  # a crash in native code
    return float(np.sum(a))

@total.impl("after")
def total_after(a):
    return float(np.sum(a))
"""


def test_an_implementation_that_kills_the_runner_is_named_and_the_rest_measured(
    write_module, tmp_path
):
    """os._exit or a segfault in one implementation: its row is an error that names how the
    runner died; a fresh runner measures the rest, and the run fails (exit 1) as for a wrong
    implementation, never 'the runner exited with 3' with the rest lost."""
    path = write_module("dies", DIES)
    out = tmp_path / "d.json"
    res = pipebench("kernels", str(path), *QUICK, "--json", str(out), cwd=tmp_path, json_name=None)
    assert res.code == 1, res.err + res.out
    rows = rows_by(json.loads(out.read_text()))
    for size in (10, 20):
        assert "exited with code 3" in rows[("exits", size)]["error"]
        assert rows[("after", size)]["status"] == "ok" and rows[("after", size)]["correct"]
    assert rows[("segfault", 10)]["correct"] is True
    assert "segmentation fault" in rows[("segfault", 20)]["error"]
    assert 'dies.py", line 23 in total_segfault' in rows[("segfault", 20)]["error"]
    assert "exits at size 10 (the runner exited with code 3" in res.err


REFERENCE_DIES = """
import ctypes

import numpy as np
from workbench import kernels

@kernels(sizes=(10, 20), reference="python")
def total(n):
    return np.arange(n, dtype=np.float64)

@total.impl("python")
def total_python(a):
    if len(a) > 10:
        ctypes.string_at(0)
    return float(sum(a))

@total.impl("numpy")
def total_numpy(a):
    return float(np.sum(a))
"""


def test_a_reference_that_kills_the_runner_leaves_the_others_measured_unchecked(
    write_module, tmp_path
):
    path = write_module("refdies", REFERENCE_DIES)
    out = tmp_path / "r.json"
    res = pipebench("kernels", str(path), *QUICK, "--json", str(out), cwd=tmp_path, json_name=None)
    assert res.code == 1, res.err + res.out
    rep = json.loads(out.read_text())
    rows = rows_by(rep)
    assert rep["status"] == "finished"  # not 'crashed': the rest was measured
    assert "segmentation fault" in rows[("python", 20)]["error"]
    numpy_20 = rows[("numpy", 20)]
    assert numpy_20["status"] == "ok" and numpy_20["correct"] is None  # timed, not checked
    assert "the reference python killed the runner" in numpy_20["check"]
    assert rows[("numpy", 10)]["correct"] is True
