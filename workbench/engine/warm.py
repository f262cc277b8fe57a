"""Warm starts: the pipeline's module imported once, a fresh runner forked from it per run.

Tuning batch size restarts the same pipeline again and again; importing torch and the user's
module is most of each restart's wait. A ``WarmServer`` is a process
(``python -m workbench.engine.warm``) that imports pipebench's runner and the module once,
then forks one runner child per run on request: the child gets its configuration, its pipes
and its counter block over a Unix socket (``SCM_RIGHTS``), and runs exactly what a cold
runner runs after its import (``child.run_config``), so what is measured is the same. The
server reports each child's pid and, when it ends, its exit status.

A server is kept per pipeline (its module, and only what that pipeline ``requires``, so that a
runner forked from it holds the memory a cold runner of the pipeline would) and renewed when
the module's file changes. The first run of a pipeline starts cold while its server starts
beside it. Forking is refused,
and the run started cold with a note saying why, when importing the module left the server
unsafe to fork: CUDA initialised, or Python threads started (a fork keeps only the thread
that forks, and a lock another thread held stays held; the native pools of BLAS, OpenMP and
torch re-make themselves after a fork, as multiprocessing's "fork" start relies on).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from typing import Any

from workbench.engine.protocol import RunConfig

#: Bytes of one request or reply line at most (a configuration with its environment).
MAX_MESSAGE = 1 << 20
READY_TIMEOUT_S = 120.0


# ---- the server process ------------------------------------------------------------------
def _unsafe_to_fork() -> str | None:
    """Why forking this process now would be unsafe, or None."""
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            if torch.cuda.is_initialized():
                return "CUDA was initialised when the module was imported"
        except Exception:  # noqa: BLE001 - an odd torch: be safe
            return "torch's CUDA state could not be checked"
    # Python threads only: the native pools of BLAS, OpenMP and torch re-make themselves in
    # a forked child (pthread_atfork), as multiprocessing's "fork" start relies on.
    if threading.active_count() > 1:
        names = ", ".join(t.name for t in threading.enumerate() if t is not threading.main_thread())
        return f"importing the module started Python threads ({names})"
    return None


def _send(sock: socket.socket, message: dict[str, Any]) -> None:
    sock.sendall(json.dumps(message).encode() + b"\n")


def serve(sock: socket.socket, target: str) -> int:
    """The server's loop: import ``target``'s module, then fork a runner per request."""
    import importlib

    from workbench.engine.loader import find_pipelines, load_module, parse_target
    from workbench.engine.sections.lru_timing import install as time_lru_cache_misses

    try:
        parsed = parse_target(target)
        time_lru_cache_misses(parsed)
        module = load_module(parsed)
        # What this pipeline declares it needs (``requires=["torch"]``) is what its factory
        # imports: import it here once too, or every run would wait for it. Only this
        # pipeline's: a runner forked from here holds what a cold runner of the same
        # pipeline would import, and so measures the same memory.
        pipes = find_pipelines(module)
        pipe = pipes.get(parsed.name) if parsed.name else None
        if pipe is None and len(pipes) == 1:
            pipe = next(iter(pipes.values()))
        for name in pipe.requires if pipe is not None else ():
            with contextlib.suppress(Exception):
                importlib.import_module(name)
    except BaseException as exc:  # noqa: BLE001 - the cold runner says it properly
        _send(sock, {"error": getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"})
        return 0
    unsafe = _unsafe_to_fork()
    if unsafe is not None:
        _send(sock, {"unsafe": unsafe})
        return 0
    _send(sock, {"ready": True})
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    running: set[int] = set()
    while True:
        ready, _w, _x = select.select([sock.fileno(), wake_r], [], [])
        if wake_r in ready:
            with contextlib.suppress(BlockingIOError):
                os.read(wake_r, 512)
            while running:
                try:
                    pid, status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid == 0:
                    break
                running.discard(pid)
                _send(sock, {"exit": pid, "status": status})
        if sock.fileno() in ready:
            try:
                data, fds, _flags, _addr = socket.recv_fds(sock, MAX_MESSAGE, 8)
            except OSError:
                data, fds = b"", []
            if not data:
                return 0  # pipebench is gone or let go of us; the runs die with us
            request = json.loads(data)
            pid = os.fork()
            if pid == 0:
                signal.set_wakeup_fd(-1)
                os._exit(_forked(sock, wake_r, wake_w, request, fds))
            running.add(pid)
            for fd in fds:
                os.close(fd)
            _send(sock, {"pid": pid})


def _forked(
    sock: socket.socket, wake_r: int, wake_w: int, request: dict[str, Any], fds: list[int]
) -> int:
    """In the forked runner: take the request's pipes and run as a cold runner would."""
    from workbench.engine import child

    sock.close()
    os.close(wake_r)
    os.close(wake_w)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.setsid()  # a process group of its own, as a cold runner has
    stdout, stderr, events, block = fds
    os.dup2(stdout, 1)
    os.dup2(stderr, 2)
    os.close(stdout)
    os.close(stderr)
    os.environ.clear()
    os.environ.update(request["env"])
    if request.get("cwd"):
        os.chdir(request["cwd"])
    config = dict(request["config"])
    config.update(events_fd=events, block_fd=block)
    return child.run_config(RunConfig(**config), warm=True)


def main() -> int:
    sock = socket.socket(fileno=int(os.environ.pop("PIPEBENCH_WARM_FD")))
    target = os.environ.pop("PIPEBENCH_WARM_TARGET")
    if sys.platform.startswith("linux"):
        from workbench.engine.child import _prctl

        _prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: end with pipebench
    return serve(sock, target)


# ---- pipebench's side --------------------------------------------------------------------
class ForkedProcess:
    """A runner forked by a warm server, looked after like a ``subprocess.Popen``: the
    server tells when it ends and how."""

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None
        self._done = threading.Event()

    def ended(self, status: int) -> None:
        self.returncode = os.waitstatus_to_exitcode(status)
        self._done.set()

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self._done.wait(timeout):
            raise subprocess.TimeoutExpired("warm runner", timeout or 0)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, sig)


class WarmServer:
    """One server process for one pipeline (its module imported, and what it requires); ``fork()`` runs a child from it."""

    def __init__(self, target: str, key: tuple[Any, ...]):
        self.target = target
        self.key = key
        self.unsafe: str | None = None
        self.error: str | None = None
        self._sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        env = dict(os.environ)
        env["PIPEBENCH_WARM_FD"] = str(theirs.fileno())
        env["PIPEBENCH_WARM_TARGET"] = target
        from workbench.engine.spawn import spawn

        self.proc: subprocess.Popen[bytes] = spawn(
            subprocess.Popen,
            [sys.executable, "-m", "workbench.engine.warm"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(theirs.fileno(),),
            env=env,
            start_new_session=True,
        )
        theirs.close()
        self._file = self._sock.makefile("rb")
        self._lock = threading.Lock()
        self._children: dict[int, ForkedProcess] = {}
        self._replies: list[dict[str, Any]] = []
        self._reply = threading.Condition()
        self.ready = threading.Event()
        self._thread = threading.Thread(target=self._read, name="pipebench-warm", daemon=True)
        self._thread.start()

    @property
    def usable(self) -> bool:
        return self.proc.poll() is None and self.unsafe is None and self.error is None

    def _read(self) -> None:
        for line in self._file:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if "exit" in msg:
                child = self._children.pop(int(msg["exit"]), None)
                if child is not None:
                    child.ended(int(msg["status"]))
                continue
            if "ready" in msg or "unsafe" in msg or "error" in msg:
                self.unsafe = msg.get("unsafe")
                self.error = msg.get("error")
                self.ready.set()
                continue
            with self._reply:
                self._replies.append(msg)
                self._reply.notify_all()
        self.ready.set()  # the server ended: whoever waits is told it cannot be used
        for child in list(self._children.values()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGKILL)
            child.ended(signal.SIGKILL)  # gone with its server (waitstatus of a kill)
        self._children.clear()

    def fork(self, config: RunConfig, fds: list[int], cwd: str | None) -> ForkedProcess:
        """Fork a runner for ``config`` with ``fds`` = (stdout, stderr, events, block) as
        its descriptors; returns it once the server has told its pid."""
        request = {
            "config": {k: v for k, v in asdict(config).items() if not k.endswith("_fd")},
            "env": {**os.environ, "PYTHONUNBUFFERED": "1"},
            "cwd": cwd,
        }
        data = json.dumps(request).encode()
        with self._lock, self._reply:
            socket.send_fds(self._sock, [data], fds)
            deadline = time.monotonic() + 30
            while not self._replies:
                left = deadline - time.monotonic()
                if left <= 0 or not self._reply.wait(left):
                    raise OSError("the warm server did not answer")
            msg = self._replies.pop(0)
            child = ForkedProcess(int(msg["pid"]))
            self._children[child.pid] = child
        return child

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)


class WarmPool:
    """pipebench's warm servers, one per module, renewed when the module's file changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._servers: dict[str, WarmServer] = {}

    def server(self, target: str, cwd: str | None, wait: bool = False) -> WarmServer | None:
        """The ready server for ``target``'s module. One not started yet (or for an older
        version of the file) is started in the background and None returned, so that the
        run asking starts cold: its log shows the module's import, and a stop during the
        import cancels it, as for any cold run. ``wait``: wait for it instead."""
        module = target.rpartition(":")[0] if ":" in target else target
        key = (module, _mtime(module, cwd), cwd)
        with self._lock:
            server = self._servers.get(target)  # one per pipeline: see ``serve``
            # A server that said the module is unsafe to fork or fails to import is kept (for
            # this version of the file) so that each run learns it without importing again.
            gone = server is not None and server.ready.is_set() and server.proc.poll() is not None
            said = server is not None and (server.unsafe or server.error)
            if server is not None and (server.key != key or (gone and not said)):
                server.close()
                server = None
            if server is None:
                server = WarmServer(target, key)
                self._servers[target] = server
        if wait and not server.ready.wait(READY_TIMEOUT_S):
            raise OSError("the warm server did not get ready in time")
        return server if server.ready.is_set() else None

    def close(self) -> None:
        with self._lock:
            for server in self._servers.values():
                server.close()
            self._servers.clear()


def _mtime(module: str, cwd: str | None) -> float | None:
    path = module if os.path.isabs(module) or cwd is None else os.path.join(cwd, module)
    try:
        return os.stat(path).st_mtime_ns if module.endswith(".py") else None
    except OSError:
        return None


#: The session's warm servers.
POOL = WarmPool()

if __name__ == "__main__":
    sys.exit(main())
