"""A stop's signal that lands while the runner's main thread writes an event line: the
line is finished whole, and the stop is taken at the next boundary (it tore lines before:
the parent read the half joined to the next event, and lost the run's final sections)."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import threading
import time

from workbench.engine.child import Outbox, Run
from workbench.engine.protocol import Log, RunConfig

F_SETPIPE_SZ = 1031


def test_a_stop_signal_does_not_tear_an_event_line() -> None:
    r, w = os.pipe()
    fcntl.fcntl(w, F_SETPIPE_SZ, 4096)  # the line fills the pipe: the write blocks
    outbox = Outbox(w)
    run = Run(RunConfig("m.py:p", {}, w, -1), outbox)
    run.running = True  # the chain runs: the handler raises StopRun where it lands
    got: list[bytes] = []

    def reader() -> None:
        time.sleep(0.3)  # the signal comes while the write waits for room
        with os.fdopen(r, "rb") as f:
            got.append(f.readline())

    old = signal.signal(signal.SIGINT, run.on_signal)
    t = threading.Thread(target=reader)
    t.start()
    timer = threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        outbox.post(Log("pipebench", "x" * 200_000))
    finally:
        timer.join()
        signal.signal(signal.SIGINT, old)
        os.close(w)
        t.join()
    line = got[0]
    assert line.endswith(b"\n") and len(line) > 200_000
    assert json.loads(line)["e"] == "log"
    assert run.block.stop_reason == "sigint"  # taken at the next boundary
