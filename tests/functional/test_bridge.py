"""The bridge on its own: it folds exactly as ``session.apply`` does, and coalesces."""

from __future__ import annotations

import time
from typing import Any

from tests.snapshots.conftest import FIXTURES
from workbench.engine.protocol import Event, Log
from workbench.engine.runner import RunOptions
from workbench.engine.session import RunState, apply, with_lines
from workbench.ui.bridge import RunBridge
from workbench.ui.messages import RunEnded, RunUpdated
from workbench.ui.replay import ReplayHandle, read_events


def fold_all(events: list[Event]) -> RunState:
    state = RunState("t", run_id="r")
    for ev in events:
        if isinstance(ev, Log) and ev.stream in ("stdout", "stderr"):
            state = with_lines(state, [(ev.stream, ev.text)], 0)
        else:
            state = apply(state, ev)
    return state


def bridge_for(events: list[Event], posted: list[Any], interval: float) -> RunBridge:
    handle = ReplayHandle(events)
    return RunBridge(
        "t", RunOptions(), RunState("t", run_id="r"), posted.append,
        starter=lambda target, options: handle, interval=interval,
    )  # fmt: skip


def test_bridge_state_equals_applying_every_event() -> None:
    recorded = read_events(FIXTURES / "jsonl_tokens.jsonl")
    # Thousands of log lines in the middle: the bridge keeps the newest, and counts them all.
    events = recorded[:5] + [Log("stdout", f"line {i}") for i in range(5000)] + recorded[5:]
    posted: list[Any] = []
    bridge = bridge_for(events, posted, interval=10)
    bridge.start()
    bridge.join(10)
    assert bridge.state == fold_all(events)
    assert bridge.state.log_lines == 5000
    updates = [m for m in posted if isinstance(m, RunUpdated)]
    assert isinstance(posted[-1], RunEnded) and posted[-1].state == bridge.state
    # Everything was there at once: the run's end and the job's end, not one per event.
    assert len(updates) <= 2 and updates[-1].ended
    assert updates[-1].events == len(events)
    recent = updates[-1].log_recent
    assert recent[-1][0] == "pipebench" and "exited" in recent[-1][1]
    assert any("lines not shown" in text for _s, text in recent)  # never silently lost


def test_bridge_posts_coalesced_updates_and_stops_posting_when_asked() -> None:
    posted: list[Any] = []
    events = read_events(FIXTURES / "jsonl_tokens.jsonl")[:6]  # no Exited: still running
    bridge = bridge_for(events, posted, interval=0.02)
    bridge.start()
    time.sleep(0.2)
    bridge.stop()  # the app is going away: no more messages
    bridge.follower.kill()
    bridge.join(2)
    assert not bridge.is_alive()
    updates = [m for m in posted if isinstance(m, RunUpdated)]
    assert updates and updates[0].events == 6
    last = updates[-1]
    assert last.can_replace(last) is True  # an older update of a run going is replaceable
    assert not any(isinstance(m, RunEnded) for m in posted)
