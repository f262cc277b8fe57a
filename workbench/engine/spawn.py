"""Spawning runner children, and spawning one before its run is known.

A cold runner is ``python -m workbench.engine.child``: it imports the engine, then reads its
request (the ``RunConfig`` and the environment's changes since it was spawned, one JSON
document) from its stdin, which is then replaced by ``/dev/null`` as before, and only then
imports the pipeline. So a runner can be spawned before the run is known: ``pipebench run``
spawns one first thing (``prestart``), and the child boots while the command line is parsed
and checked and the rest of pipebench is imported; ``runner.RunHandle`` takes it
(``take_prestarted``) and sends the request. One that no run took is ended
(``discard_prestarted``); one whose pipebench died reads end-of-file on its stdin and ends.

This module imports little (no protocol, no sections, no Rich): it runs before the rest of
pipebench is imported.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from workbench.engine import probe

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

_SPAWNER: ThreadPoolExecutor | None = None
_SPAWNER_LOCK = threading.Lock()


def spawn(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run ``fn`` on pipebench's one spawner thread, which lives as long as the process:
    the runner child's parent-death signal fires when the thread that forked it ends, so
    every child is forked from a thread that never ends before pipebench does. From the
    main thread, which ends only with the process, ``fn`` runs there."""
    if threading.current_thread() is threading.main_thread():
        return fn(*args, **kwargs)
    global _SPAWNER
    with _SPAWNER_LOCK:
        if _SPAWNER is None:
            from concurrent.futures import ThreadPoolExecutor

            _SPAWNER = ThreadPoolExecutor(1, thread_name_prefix="pipebench-spawner")
    return _SPAWNER.submit(fn, *args, **kwargs).result()


class SpawnedRunner:
    """A cold runner child waiting for its request on stdin.

    ``events_fd`` is the read end of its events pipe (the write end is ``child_events_fd`` in
    the child, and closed here); ``block`` the counter block it maps; ``env`` this process's
    environment when it was spawned (the runner's, with ``PYTHONUNBUFFERED=1``), so that
    ``send`` passes what changed since; ``spawned_ns`` CLOCK_MONOTONIC just before the fork.
    (A plain class: this module runs before the spawn, and ``dataclasses`` costs ~10 ms to
    import.)
    """

    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        block: probe.Block,
        events_fd: int,
        child_events_fd: int,
        env: dict[str, str],
        cwd: str | None,
        spawned_ns: int,
    ) -> None:
        self.proc = proc
        self.block = block
        self.events_fd = events_fd
        self.child_events_fd = child_events_fd
        self.env = env
        self.cwd = cwd
        self.spawned_ns = spawned_ns

    def send(self, config: dict[str, Any]) -> None:
        """Send the run's request: ``config`` (a ``RunConfig`` as a dict, its descriptors
        filled in here) and what changed in ``os.environ`` since the spawn. A runner that
        has already died is left to its handle, which sees it exit."""
        import json

        now = dict(os.environ)
        request = {
            "config": {
                **config,
                "events_fd": self.child_events_fd,
                "block_fd": -1 if self.block.fd is None else self.block.fd,
            },
            "env_set": {k: v for k, v in now.items() if self.env.get(k) != v},
            "env_unset": [k for k in self.env if k not in now],
        }
        stdin = self.proc.stdin
        assert stdin is not None
        with contextlib.suppress(OSError):  # BrokenPipeError: it died while booting
            stdin.write(json.dumps(request).encode("utf-8"))
        with contextlib.suppress(OSError):
            stdin.close()

    def discard(self) -> None:
        """End an unused runner, which has run no code but pipebench's (it waits for its
        request), and reap it: nothing of it stays."""
        with contextlib.suppress(OSError):
            self.proc.kill()
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            self.proc.communicate(timeout=5)  # closes its stdin, stdout and stderr
        with contextlib.suppress(OSError):
            os.close(self.events_fd)
        self.block.close()


def spawn_runner(cwd: str | None = None) -> SpawnedRunner:
    """Spawn a cold runner child (in its own session, so that a Ctrl-C in the terminal
    reaches pipebench, which stops the run properly, and the whole group, DataLoader
    workers included, can be killed); it waits for ``SpawnedRunner.send``.

    Raises:
        OSError: the runner could not be spawned (no descriptors or processes left).
    """
    _standard_fds_open()
    env = dict(os.environ)
    block = probe.Block.create()
    try:
        read_fd, write_fd = os.pipe()
    except BaseException:
        block.close()
        raise
    pass_fds = (write_fd,) if block.fd is None else (write_fd, block.fd)
    spawned_ns = time.monotonic_ns()
    try:
        proc = spawn(
            subprocess.Popen,
            [sys.executable, "-m", "workbench.engine.child"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=pass_fds,
            # Python subprocesses of the pipeline print promptly
            env={**env, "PYTHONUNBUFFERED": "1"},
            cwd=cwd,
            start_new_session=True,
        )
    except BaseException:
        os.close(read_fd)
        block.close()
        raise
    finally:
        os.close(write_fd)
    return SpawnedRunner(proc, block, read_fd, write_fd, env, cwd, spawned_ns)


def _standard_fds_open() -> None:
    """Open ``/dev/null`` on each of descriptors 0, 1 and 2 that is closed (pipebench
    started with ``<&-`` or ``>&-``): the counter block and the pipes made next would take
    their numbers, and the runner's stdin, stdout and stderr would land on those."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)


_PRESTARTED: SpawnedRunner | None = None
_PRESTARTED_LOCK = threading.Lock()


def prestart(cwd: str | None = None) -> None:
    """Spawn a runner now for a run that is about to be asked for (one at a time)."""
    global _PRESTARTED
    with _PRESTARTED_LOCK:
        if _PRESTARTED is None:
            _PRESTARTED = spawn_runner(cwd)


def take_prestarted(cwd: str | None) -> SpawnedRunner | None:
    """The runner ``prestart`` spawned, if it is still waiting and started in ``cwd``; a
    runner that does not fit is discarded."""
    global _PRESTARTED
    with _PRESTARTED_LOCK:
        spare, _PRESTARTED = _PRESTARTED, None
    if spare is None:
        return None
    if spare.cwd != cwd or spare.proc.poll() is not None:
        spare.discard()
        return None
    return spare


def discard_prestarted() -> None:
    """End the runner ``prestart`` spawned if no run took it (the command failed first)."""
    global _PRESTARTED
    with _PRESTARTED_LOCK:
        spare, _PRESTARTED = _PRESTARTED, None
    if spare is not None:
        spare.discard()
