"""A run's output: what the pipeline prints, in order, bounded, read in bulk.

In the runner child, Python's ``sys.stdout`` and ``sys.stderr`` both write to the stdout
pipe (fd 1), so whatever Python code prints keeps its order exactly; text written to
``sys.stderr`` is framed between ``STDERR_ON`` and ``STDERR_OFF`` so the parent still knows
which stream it was. Raw writes to fd 2 (C libraries, subprocesses, ``faulthandler``) go to
the stderr pipe: labelled right, ordered against the rest only as closely as two pipes allow.

In the parent, one thread reads both pipes in large chunks and keeps the newest lines in a
ring (``Output``): however much a pipeline prints, pipebench's memory stays bounded, and the
lines that did not fit are counted, never silently lost. ``\\r`` ends a line (a progress bar
redraw is a line), and a line longer than ``MAX_LINE`` characters keeps its head and says
how much was cut. Text is not sanitised here: consumers pass lines through
``workbench.text`` on their way to a screen.
"""

from __future__ import annotations

import codecs
import contextlib
import fcntl
import io
import os
import re
import selectors
import sys
import threading
from collections import deque
from typing import Any

from workbench.text import split_lines

#: Framing bytes around text Python code wrote to ``sys.stderr`` in the child.
STDERR_ON, STDERR_OFF = "\x1e", "\x1f"
_FRAMES = re.compile("([\x1e\x1f])")
#: The newest lines kept for the follower to take; older ones are counted as skipped.
RING = 5000
#: Characters kept of one line; the rest is counted in the line's marker.
MAX_LINE = 4000
#: Lines of the raw stderr pipe kept for crash messages.
STDERR_TAIL = 40
#: Patterns of a line that says why a process died (faulthandler, CPython, glibc, the kernel).
CRASH_MARKERS = (
    "Fatal Python error",
    "Segmentation fault",
    "Bus error",
    "Aborted",
    "Illegal instruction",
    "Floating point exception",
    "MemoryError",
    "double free",
    "corrupted",
    "terminate called",
)

LogLine = tuple[str, str]  # (stream, text)


# ---- the child's side ----------------------------------------------------------------------
class _PipeWriter(io.RawIOBase):
    """Raw writes to fd 1; framed as stderr when ``stderr`` (after flushing stdout, so a
    partial stdout line goes out first)."""

    def __init__(self, fd: int, stderr: bool):
        super().__init__()
        self.fd = fd
        self.stderr = stderr

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.fd

    def write(self, b: Any) -> int:
        data = bytes(b)
        if self.stderr:
            out = sys.stdout
            if out is not None and out is not sys.stderr:
                with contextlib.suppress(OSError, ValueError):
                    out.flush()
            payload = b"\x1e" + data + b"\x1f"
        else:
            payload = data
        view = memoryview(payload)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]
        return len(data)


def install_streams(fd: int = 1) -> None:
    """Point ``sys.stdout`` and ``sys.stderr`` at ``fd`` (line-buffered, stderr framed)."""
    for name, err in (("stdout", False), ("stderr", True)):
        stream = io.TextIOWrapper(
            io.BufferedWriter(_PipeWriter(fd, err), buffer_size=1 << 16),
            encoding="utf-8",
            errors="backslashreplace",
            line_buffering=True,
        )
        setattr(sys, name, stream)


# ---- the parent's side ---------------------------------------------------------------------
class _Stream:
    """One pipe's decoder and partial line."""

    def __init__(self, name: str):
        self.name = name
        self.mode = name  # the stdout pipe switches to "stderr" inside a frame
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.partial = ""
        self.cut = 0  # characters dropped from the partial line


#: The pipes of the pipeline's output hold this much (Linux ``F_SETPIPE_SZ``, within
#: ``/proc/sys/fs/pipe-max-size``) and are read this much at a time: a pipeline that prints
#: a lot writes on while pipebench's reader thread waits for the GIL (the workbench draws).
PIPE_BYTES = 1 << 20


def _widen(fd: int) -> None:
    """Give the pipe ``fd`` ``PIPE_BYTES`` of room where the system allows (else as it is)."""
    with contextlib.suppress(OSError, AttributeError):
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)


class Output:
    """The newest lines of a run's two output pipes, read by one thread.

    ``take()`` hands over the lines gathered since the last call (at most ``limit``, the
    newest) and how many were skipped; ``stderr_tail`` keeps the last lines of the raw
    stderr pipe for crash messages; ``done`` is set once both pipes are closed.
    """

    def __init__(self, stdout: Any, stderr: Any, ring: int = RING):
        self._files = {stdout.fileno(): (stdout, _Stream("stdout")),
                       stderr.fileno(): (stderr, _Stream("stderr"))}  # fmt: skip
        self._ring: deque[LogLine] = deque(maxlen=ring)
        self._lock = threading.Lock()
        self.total = 0  # lines read
        self.skipped = 0  # lines that fell out of the ring before anyone took them
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL)
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._read, name="pipebench-output", daemon=True)
        self._thread.start()

    def take(self, limit: int | None = None) -> tuple[list[LogLine], int]:
        """The lines gathered since the last take (oldest first, at most ``limit``: the
        newest) and how many lines went unseen since then."""
        with self._lock:
            lines = list(self._ring)
            self._ring.clear()
            skipped, self.skipped = self.skipped, 0
        if limit is not None and len(lines) > limit:
            skipped += len(lines) - limit
            lines = lines[-limit:]
        return lines, skipped

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def crash_line(self) -> str | None:
        """The stderr line that says why the process died, if one does."""
        for line in reversed(self.stderr_tail):
            if any(m in line for m in CRASH_MARKERS):
                return line.strip()
        return None

    # ---- the reader thread ---------------------------------------------------------------
    def _emit(self, stream: _Stream, mode: str, text: str, out: list[LogLine]) -> None:
        lines, rest = split_lines(stream.partial + text)
        for line in lines:
            if stream.cut:  # the head was kept; say how much of the line was not
                line = f"{line}… [{stream.cut:,} more characters]"
                stream.cut = 0
            out.append((mode, line))
        if len(rest) > MAX_LINE:
            stream.cut += len(rest) - MAX_LINE
            rest = rest[:MAX_LINE]
        stream.partial = rest

    def _feed(self, stream: _Stream, text: str) -> list[LogLine]:
        out: list[LogLine] = []
        if stream.name == "stderr" or (STDERR_ON not in text and STDERR_OFF not in text):
            self._emit(stream, stream.mode, text, out)
            return out
        for piece in _FRAMES.split(text):
            if piece == STDERR_ON:
                stream.mode = "stderr"
            elif piece == STDERR_OFF:
                stream.mode = "stdout"
            elif piece:
                self._emit(stream, stream.mode, piece, out)
        return out

    def _read(self) -> None:
        sel = selectors.DefaultSelector()
        for fd in self._files:
            os.set_blocking(fd, False)
            _widen(fd)
            sel.register(fd, selectors.EVENT_READ)
        open_fds = set(self._files)
        try:
            while open_fds:
                for key, _ in sel.select():
                    fd = key.fd
                    f, stream = self._files[fd]
                    try:
                        data = os.read(fd, PIPE_BYTES)
                    except BlockingIOError:
                        continue
                    except OSError:
                        data = b""
                    if not data:
                        tail = stream.decoder.decode(b"", final=True)
                        lines = self._feed(stream, tail)
                        if stream.partial:
                            lines.append((stream.mode, stream.partial))
                            stream.partial = ""
                        self._store(stream, lines)
                        sel.unregister(fd)
                        open_fds.discard(fd)
                        continue
                    self._store(stream, self._feed(stream, stream.decoder.decode(data)))
        finally:
            sel.close()
            for f, _s in self._files.values():
                with contextlib.suppress(OSError):
                    f.close()
            self.done.set()

    def _store(self, stream: _Stream, lines: list[LogLine]) -> None:
        if not lines:
            return
        if stream.name == "stderr":
            self.stderr_tail.extend(text for _m, text in lines)
        with self._lock:
            ring = self._ring
            room = ring.maxlen or 0
            over = len(ring) + len(lines) - room
            if over > 0:
                self.skipped += over
            ring.extend(lines)
            self.total += len(lines)
