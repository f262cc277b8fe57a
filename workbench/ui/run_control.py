"""Starting, stopping and ending runs for the app: one runner child and one bridge each.

A run is started from the app's (main) thread, so that the runner child gets the kernel's
parent-death signal; ending the app always ends the child (stop, then kill).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from textual.message import Message

from workbench.engine.runner import RunOptions, start_run
from workbench.engine.session import RunState
from workbench.ui.bridge import INTERVAL_S, RunBridge, RunSource

#: Starts a run: ``start_run`` in the app, a recorded stream in tests.
Starter = Callable[[str, RunOptions], RunSource]


def options_dict(o: RunOptions) -> dict[str, Any]:
    """The options as the headless CLI records them, so reports have the same shape."""
    return {
        "max_batches": o.max_batches,
        "max_seconds": o.max_seconds,
        "memory_budget_bytes": o.memory_budget,
        "snapshot_s": o.snapshot_s,
    }


@dataclass
class ActiveRun:
    """A run the app started and has not seen end yet."""

    target: str
    pipeline: str
    module_path: str
    handle: RunSource
    bridge: RunBridge

    @property
    def run_id(self) -> str:
        return self.bridge.run_id

    @property
    def running(self) -> bool:
        return self.handle.running

    def stop(self) -> None:
        self.handle.stop()

    def shutdown(self, timeout: float = 2.0) -> None:
        """End it all now: the bridge, then the child (stop, then kill), and wait."""
        self.bridge.stop()
        if self.handle.running:
            self.handle.stop()
            self.handle.kill()
            self.handle.wait(timeout)
        self.bridge.join(timeout)


def launch(
    starter: Starter,
    target: str,
    options: RunOptions,
    post: Callable[[Message], object],
    *,
    pipeline: str,
    module_path: str,
    interval: float = INTERVAL_S,
) -> ActiveRun:
    """Start the runner child and the bridge that reads it."""
    handle = starter(target, options)
    state = RunState(target, started_at=time.time(), options=options_dict(options))
    bridge = RunBridge(handle.events, state, post, interval=interval)
    bridge.start()
    return ActiveRun(target, pipeline, module_path, handle, bridge)


def default_starter(target: str, options: RunOptions) -> RunSource:
    return start_run(target, options)


def same_file(a: str | None, b: str | None) -> bool:
    """Whether two module paths name the same file (records keep absolute paths)."""
    if not a or not b:
        return False
    return os.path.realpath(a) == os.path.realpath(b)
