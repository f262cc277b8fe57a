"""The kernels job's plan, folded from events as the follower hands them: one fresh runner
per round, no round after a failure, a crash or a stop, and its temporary folder gone once
it is closed. (Real runs, the restart after a hard first-call limit among them:
tests/integration/test_kernels_run.py.)"""

from __future__ import annotations

import os

from workbench.engine.follow import Step
from workbench.engine.kernels.runner import KernelOptions, KernelsJob
from workbench.engine.kernels.session import KernelState
from workbench.engine.protocol import Event, Exited, Failure, Finished
from workbench.engine.protocol_tools import KernelEnvironment


def env(round_: int) -> KernelEnvironment:
    return KernelEnvironment(
        pid=1,
        module="m",
        path="/m.py",
        round=round_,
        python="3.11",
        versions={},
        cpu="cpu",
        cpus=2,
        threads={"requested": "1"},
        gemm=None,
        kernels=({"name": "k", "impls": ["python"]},),
        settings={},
        started_at=0.0,
    )


def fold_all(job: KernelsJob, state: KernelState, step: Step, events: list[Event]) -> KernelState:
    for ev in events:
        state = job.fold(state, step, ev)
    return state


def test_one_fresh_runner_per_round_then_done() -> None:
    job = KernelsJob("m.py", KernelOptions(processes=3, gemm=False))
    state = job.initial()
    rounds, watchdogs = [], set()
    try:
        while (step := job.next_step(state)) is not None:
            opts = step.options
            assert opts.mode == "kernels" and opts.mode_options["watchdog"]
            rounds.append(opts.mode_options["round"])
            watchdogs.add(opts.mode_options["watchdog"])
            state = fold_all(
                job, state, step, [env(len(rounds) - 1), Finished("finished"), Exited(0)]
            )
            assert len(rounds) <= 3
        assert rounds == [0, 1, 2]
        assert state.ended and state.status == "finished" and len(state.environments) == 3
        folder = job.folder
        assert folder is not None and os.path.isdir(folder)
        assert {os.path.dirname(str(w)) for w in watchdogs} == {folder}
    finally:
        job.close()
    assert not os.path.exists(folder) and job.folder is None


def test_a_failed_or_crashed_round_ends_the_job() -> None:
    for ending in (
        [Failure("load", "UserError", "no kernel sets"), Finished("failed"), Exited(1)],
        [env(0), Exited(-9, signal="SIGKILL")],
    ):
        job = KernelsJob("m.py", KernelOptions(processes=3, gemm=False))
        step = job.next_step(job.initial())
        assert step is not None
        state = fold_all(job, job.initial(), step, ending)
        assert job.next_step(state) is None and state.ended
        job.close()


def test_a_stopped_job_starts_no_other_round() -> None:
    job = KernelsJob("m.py", KernelOptions(processes=3, gemm=False))
    step = job.next_step(job.initial())
    assert step is not None
    job.stopped("user")
    state = fold_all(job, job.initial(), step, [env(0), Finished("stopped"), Exited(0)])
    assert job.next_step(state) is None
    assert state.status == "stopped"
    job.close()
