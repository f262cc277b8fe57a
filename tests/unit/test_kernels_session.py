"""Aggregating kernel events into rows, speedups, plot series and the JSON report."""

from __future__ import annotations

import json
from dataclasses import replace

from workbench.engine.kernels.rowinfo import PER_CALL, RowInfo, pack
from workbench.engine.kernels.session import (
    KernelState,
    apply_kernel_event,
    kernel_report,
    kernel_rows,
    kernel_series,
)
from workbench.engine.protocol import Exited, Finished, decode, encode
from workbench.engine.protocol_tools import KernelEnvironment, KernelResult

PLAN = {
    "name": "k",
    "doc": "",
    "sizes": [10],
    "impls": ["python", "numpy", "numba", "bad"],
    "reference": "python",
    "unavailable": {},
    "flops": True,
    "bytes": False,
}


def env(round_: int = 0, gflops: float = 50.0) -> KernelEnvironment:
    return KernelEnvironment(
        pid=1,
        module="m",
        path="/m.py",
        round=round_,
        python="3.11",
        versions={},
        cpu="cpu",
        cpus=2,
        threads={"requested": "1", "blas": []},
        gemm={"n": 512, "gflops": gflops},
        kernels=(PLAN,),
        settings={},
        started_at=0.0,
    )


def result(impl: str, samples: tuple[float, ...], round_: int = 0, **kw) -> KernelResult:
    kw.setdefault("correct", True)
    return KernelResult(
        kernel="k",
        size=10,
        impl=impl,
        round=round_,
        status="ok",
        samples=samples,
        loops=1,
        flops=1e9,
        **kw,
    )


def fold(events, rounds: int = 1) -> KernelState:
    state = KernelState("m.py", rounds=rounds)
    for ev in events:
        state = apply_kernel_event(state, ev)
    return state


def test_speedups_gflops_and_gemm_fraction():
    state = fold(
        [
            env(),
            result("python", (1.0, 1.0, 1.0), reference=True),
            result("numpy", (0.1, 0.1, 0.1)),
            result("numba", (0.05, 0.05, 0.05), compile_s=0.3),
            Finished("finished"),
            Exited(0),
        ]
    )
    rows = {r.impl: r for r in kernel_rows(state)}
    assert state.status == "finished" and state.ended
    assert rows["numba"].speedup == {"python": 20.0, "numpy": 2.0}
    assert rows["numba"].gflops == 20.0
    assert rows["numba"].gemm_fraction == 0.4
    assert rows["numba"].compile_s == 0.3
    assert rows["python"].mark == "✓"
    assert not any("GEMM" in n for n in rows["numba"].notes)


def test_a_rate_above_the_gemm_probe_says_the_probe_is_no_ceiling():
    state = fold([env(), result("python", (1.0,) * 3, reference=True), result("fast", (0.01,) * 3)])
    (note,) = [n for n in {r.impl: r for r in kernel_rows(state)}["fast"].notes if "GEMM" in n]
    assert note.startswith("200% of the GEMM probe's rate: the probe is no ceiling")


def test_a_wrong_implementation_is_marked_and_gets_no_speedup():
    state = fold(
        [
            env(),
            result("python", (1.0,), reference=True),
            result("bad", (0.001,), correct=False, check="3 of 10 values off"),
            KernelResult(
                kernel="k",
                size=10,
                impl="numba",
                round=0,
                status="error",
                correct=False,
                error="raised ValueError: no",
            ),
        ]
    )
    rows = {r.impl: r for r in kernel_rows(state)}
    assert rows["bad"].mark == "✗" and rows["bad"].speedup == {} and rows["bad"].gflops is None
    assert "disagrees" in rows["bad"].notes[0]
    assert rows["numba"].mark == "✗" and rows["numba"].notes == ["raised ValueError: no"]
    assert "bad" not in kernel_series(state, "k")
    assert kernel_series(state, "k") == {"python": [(10, 1.0)]}


def test_rounds_from_fresh_processes_are_pooled():
    state = fold(
        [
            env(0, 40.0),
            result("python", (1.0, 1.0), 0, reference=True),
            result("numba", (0.1, 0.1), 0, compile_s=0.2),
            Finished("finished"),
            Exited(0),
            env(1, 60.0),
            result("python", (1.0, 1.0), 1, reference=True),
            result("numba", (0.2, 0.2), 1, compile_s=0.4),
            Finished("finished"),
            Exited(0),
        ],
        rounds=3,
    )
    assert not state.ended and state.status == "running"
    row = {r.impl: r for r in kernel_rows(state)}["numba"]
    assert row.samples == (0.1, 0.1, 0.2, 0.2) and len(row.rounds) == 2
    assert abs(row.compile_s - 0.3) < 1e-12
    assert state.gemm_gflops == 50.0


def test_report_holds_raw_samples_and_machine_metadata():
    state = fold(
        [env(), result("python", (1.0, 2.0, 3.0), reference=True), Finished("finished"), Exited(0)]
    )
    rep = json.loads(json.dumps(kernel_report(state)))
    assert rep["machine"]["cpu"] == "cpu" and rep["machine"]["gemm_gflops"] == 50.0
    (row,) = rep["results"]
    assert row["rounds"][0]["samples"] == [1.0, 2.0, 3.0] and row["median_s"] == 2.0


def test_kernel_events_round_trip_the_protocol():
    for ev in (env(), result("numba", (0.5, 0.25), compile_s=0.1, low_n="low n: 2 of 7")):
        assert decode(encode(ev)) == ev


def test_cuda_rows_are_measured_against_the_cuda_gemm_rate():
    gpu_env = KernelEnvironment(
        pid=1,
        module="m",
        path="/m.py",
        round=0,
        python="3.11",
        versions={},
        cpu="cpu",
        cpus=2,
        threads={},
        gemm={"gflops": 50.0, "cuda": {"gflops": 1000.0}},
        kernels=(PLAN,),
        settings={},
        started_at=0.0,
    )
    state = fold(
        [gpu_env, result("python", (1.0,), reference=True), result("numba", (0.1,), device="cuda")]
    )
    rows = {r.impl: r for r in kernel_rows(state)}
    assert rows["numba"].gemm_fraction == 0.01  # 10 GFLOP/s of the GPU's 1000
    assert rows["python"].gemm_fraction == 0.02  # 1 GFLOP/s of the CPU's 50
    assert state.gemm_rate("cuda") == 1000.0


def test_a_parallel_row_is_measured_against_gemm_at_its_thread_count():
    par_env = replace(
        env(),
        gemm={"gflops": 50.0, "threads": 1, "at_threads": {"4": {"gflops": 200.0}}},
    )
    state = fold(
        [
            par_env,
            result("python", (1.0,), reference=True, check=pack("reference", RowInfo(threads=1))),
            result("numba", (0.1,), check=pack("equal", RowInfo(threads=4, parallel=True))),
            result("bad", (0.1,), check=pack("equal", RowInfo(threads=3, parallel=True))),
        ]
    )
    rows = {r.impl: r for r in kernel_rows(state)}
    assert rows["python"].gemm_fraction == 0.02 and rows["python"].threads == 1
    assert rows["numba"].gemm_fraction == 0.05 and rows["numba"].threads == 4  # 10 of 200
    assert rows["bad"].gemm_fraction is None  # no GEMM probe at 3 threads: no fraction


def test_row_facts_are_unpacked_merged_and_explained():
    facts = RowInfo(threads=1, mutates=True, inputs=PER_CALL, copy_s=2e-6)
    state = fold(
        [
            env(0),
            result("python", (1.0,), 0, reference=True, check=pack("reference", RowInfo())),
            result("inplace", (0.5,), 0, check=pack("equal", facts)),
            env(1),
            result("inplace", (0.5,), 1, check=pack("equal", replace(facts, mutates=False))),
        ],
        rounds=2,
    )
    row = {r.impl: r for r in kernel_rows(state)}["inplace"]
    assert row.check == "equal" and row.mutates and row.threads == 1
    assert "mutates its input: timed call by call" in row.notes[0] and "2.00 µs" in row.notes[0]
    rep = kernel_report(state)
    (got,) = [r for r in rep["results"] if r["impl"] == "inplace"]
    assert got["mutates"] is True and got["inputs"] == PER_CALL and got["threads"] == 1
