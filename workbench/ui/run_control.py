"""Starting, stopping and ending runs for the app: one bridge (and its follower) each.

Ending the app always ends the run: the follower stops it, then kills it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from textual.message import Message

from workbench.engine.follow import INTERVAL_S, Starter
from workbench.engine.runner import RunOptions, start_run
from workbench.engine.session import RunState
from workbench.ui.bridge import RunBridge

__all__ = ["ActiveRun", "Starter", "default_starter", "launch", "same_file"]


@dataclass
class ActiveRun:
    """A run the app started and has not seen end yet."""

    target: str
    pipeline: str
    module_path: str
    bridge: RunBridge

    @property
    def run_id(self) -> str:
        return self.bridge.run_id

    @property
    def running(self) -> bool:
        return self.bridge.is_alive() and not self.bridge.ended

    def stop(self, reason: str = "user") -> str:
        """Stop the run (a second call kills it); returns "stop" or "kill"."""
        return self.bridge.follower.request_stop(reason)

    def shutdown(self, timeout: float = 2.0) -> None:
        """End it all now: no more updates, the child killed, the bridge joined."""
        self.bridge.stop()
        self.bridge.follower.kill()
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
    """Start the run and the bridge that follows it."""
    state = RunState(target, started_at=time.time(), options=options.as_dict())
    bridge = RunBridge(target, options, state, post, starter=starter, interval=interval)
    bridge.start()
    return ActiveRun(target, pipeline, module_path, bridge)


#: Starts a run: a runner child in the app, a recorded stream in tests.
default_starter: Starter = start_run


def same_file(a: str | None, b: str | None) -> bool:
    """Whether two module paths name the same file (records keep absolute paths)."""
    if not a or not b:
        return False
    return os.path.realpath(a) == os.path.realpath(b)
