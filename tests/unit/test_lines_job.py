"""The line-profile job's plan, folded from events as the follower hands them: which run
comes next, which stage is profiled when none was named, and when the job ends early.
(Real runs of the same job: tests/integration/test_lines.py.)"""

from __future__ import annotations

from workbench.engine.follow import Step
from workbench.engine.lines.runner import LinesJob, LinesRequest
from workbench.engine.lines.session import (
    BASELINE,
    PROFILE,
    LinesState,
    most_self_time,
    running_phase,
)
from workbench.engine.protocol import Event, Exited, Failure, Finished, Hello, Snapshot, StageSample
from workbench.engine.protocol_tools import LineProfile
from workbench.engine.session import RunState, apply, bottleneck

STAGES = ("src", "cool", "hot")


def run_events(self_ms: tuple[int, ...], batches: int) -> list[Event]:
    """A run of STAGES whose stages took ``self_ms`` each, ``batches`` batches out."""
    ms = 1_000_000
    elapsed = sum(self_ms) * ms
    samples = tuple(StageSample(batches, batches, t * ms, True) for t in self_ms)
    return [
        Hello(1, "p", "m", "/m.py", {}, STAGES, "c", "3.11", 0.0),
        Snapshot(elapsed, samples, 0, None),
        Finished("finished"),
        Exited(0),
    ]


def fold_all(job: LinesJob, state: LinesState, step: Step, events: list[Event]) -> LinesState:
    for ev in events:
        state = job.fold(state, step, ev)
    return state


def test_a_named_stage_is_profiled_then_the_same_run_unprofiled() -> None:
    job = LinesJob(LinesRequest("m.py:p", {"n": "5"}, ("hot",), max_seconds=2.0))
    state = job.initial()
    first = job.next_step(state)
    assert first is not None and first.label == PROFILE
    assert first.options.mode == "lines" and first.options.mode_options["stages"] == ["hot"]
    state = fold_all(job, state, first, run_events((1, 2, 90), 10)[:2])
    assert running_phase(state) == PROFILE
    assert state.profiled is not None and state.profiled.started_at > 0
    state = fold_all(
        job, state, first, [LineProfile("lines", ("hot",)), *run_events((1, 2, 90), 10)[2:]]
    )
    assert running_phase(state) is None
    second = job.next_step(state)
    assert second is not None and second.label == BASELINE
    assert second.options.mode == "pipeline" and second.options.params == {"n": "5"}
    assert second.options.max_seconds == 2.0  # the same limits
    state = fold_all(job, state, second, run_events((1, 2, 30), 10))
    assert job.next_step(state) is None
    assert state.baseline is not None and state.baseline.status == "finished"


def test_output_goes_to_the_run_it_came_from() -> None:
    job = LinesJob(LinesRequest("m.py:p", {}, ("hot",)))
    step = Step(PROFILE, "m.py:p", job.request.run_options(True))
    state = job.fold_lines(job.initial(), step, [("stdout", "loading [/data]")], 2)
    assert state.profiled is not None and state.baseline is None
    assert state.profiled.log_tail == ("[stdout] loading [/data]",)
    assert state.profiled.log_lines == 3


def test_a_profile_that_profiled_nothing_or_failed_runs_no_baseline() -> None:
    for ending in (
        [LineProfile("lines", (), problems=("no stage named 'hto'",))],
        [Failure("load", "UserError", "no such pipeline", user_error=True)],
    ):
        job = LinesJob(LinesRequest("m.py:p", {}, ("hto",)))
        step = job.next_step(job.initial())
        assert step is not None
        state = fold_all(job, job.initial(), step, [*ending, Finished("failed"), Exited(1)])
        assert job.next_step(state) is None, ending


def test_with_no_stage_named_the_baseline_picks_the_stage() -> None:
    job = LinesJob(LinesRequest("m.py:p", {}))
    state = job.initial()
    first = job.next_step(state)
    assert first is not None and first.label == BASELINE
    state = fold_all(job, state, first, run_events((1, 5, 200), 50))
    assert state.picked == "hot"
    second = job.next_step(state)
    assert second is not None and second.label == PROFILE
    assert second.options.mode_options["stages"] == ["hot"]
    assert job.next_step(state) is None  # no baseline after it: it ran first


def test_too_little_evidence_still_profiles_the_most_self_time() -> None:
    """Two batches and 12 ms: no bottleneck named, but ``hot`` took the most time."""
    run = RunState("m.py:p")
    for ev in run_events((1, 1, 10), 2):
        run = apply(run, ev)
    assert bottleneck(run) is None
    assert most_self_time(run) == "hot"
    idle = RunState("m.py:p")
    for ev in run_events((0, 0, 0), 0):
        idle = apply(idle, ev)
    assert most_self_time(idle) is None


def test_nothing_measured_in_the_baseline_profiles_nothing() -> None:
    job = LinesJob(LinesRequest("m.py:p", {}))
    state = job.initial()
    first = job.next_step(state)
    assert first is not None
    state = fold_all(job, state, first, run_events((0, 0, 0), 0))
    assert state.picked is None and job.next_step(state) is None


def test_a_stopped_job_starts_no_other_run() -> None:
    job = LinesJob(LinesRequest("m.py:p", {}, ("hot",)))
    state = job.initial()
    first = job.next_step(state)
    assert first is not None
    job.stopped("user")
    state = fold_all(job, state, first, [LineProfile("lines", ("hot",)), Exited(0)])
    assert job.next_step(state) is None
