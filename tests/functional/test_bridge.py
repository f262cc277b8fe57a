"""The bridge on its own: it folds exactly as ``session.apply`` does, and coalesces."""

from __future__ import annotations

import queue
import time
from typing import Any

from tests.snapshots.conftest import FIXTURES
from workbench.engine.protocol import Event, Log
from workbench.engine.session import RunState, apply
from workbench.ui.bridge import RunBridge
from workbench.ui.messages import RunEnded, RunUpdated
from workbench.ui.replay import read_events


def fold_all(events: list[Event]) -> RunState:
    state = RunState("t", run_id="r")
    for ev in events:
        state = apply(state, ev)
    return state


def test_bridge_state_equals_applying_every_event() -> None:
    recorded = read_events(FIXTURES / "jsonl_tokens.jsonl")
    # Thousands of log lines in the middle: the bridge skips most of them, exactly.
    events = recorded[:5] + [Log("stdout", f"line {i}") for i in range(5000)] + recorded[5:]
    q: queue.Queue[Event] = queue.Queue()
    for ev in events:  # all there at once: drained and folded as one batch
        q.put(ev)
    posted: list[Any] = []
    bridge = RunBridge(q, RunState("t", run_id="r"), posted.append, interval=10)
    bridge.start()
    bridge.join(10)
    assert bridge.state == fold_all(events)
    updates = [m for m in posted if isinstance(m, RunUpdated)]
    assert isinstance(posted[-1], RunEnded) and posted[-1].state == bridge.state
    # Everything was there at once: one final update, not one per event.
    assert len(updates) == 1 and updates[-1].ended
    assert updates[-1].log_total == 5000 + 3  # + the hello, finished and exited lines
    assert updates[-1].events == len(events)
    # Any iterable of events works too (one at a time), with the same result.
    posted.clear()
    bridge = RunBridge(iter(events), RunState("t", run_id="r"), posted.append, interval=10)
    bridge.start()
    bridge.join(10)
    assert bridge.state == fold_all(events) and isinstance(posted[-1], RunEnded)


def test_bridge_reads_a_queue_and_stops_when_asked() -> None:
    q: queue.Queue[Event] = queue.Queue()
    posted: list[Any] = []
    bridge = RunBridge(q, RunState("t", run_id="r"), posted.append, interval=0.02)
    bridge.start()
    for ev in read_events(FIXTURES / "jsonl_tokens.jsonl")[:6]:
        q.put(ev)
    time.sleep(0.2)
    bridge.stop()
    bridge.join(2)
    assert not bridge.is_alive()
    assert posted and all(isinstance(m, RunUpdated) for m in posted)
    assert posted[-1].events == 6
    last = posted[-1]
    assert last.can_replace(last) is True  # an older update of a run going is replaceable
