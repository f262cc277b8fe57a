"""Run records on disk: every run's report, written atomically under ``<home>/runs``.

The folder is ``$PIPEBENCH_HOME/runs`` when ``PIPEBENCH_HOME`` is set, else
``./.pipebench/runs``; it is private (see ``workbench.authoring.home``). A record is written to
a temporary file in the same folder, flushed to disk and renamed over its final name, so a
reader never sees half a record.

A record is named ``START-PIPELINE-RUNID.json`` (``START`` the UTC start time to the
millisecond), so the names sort in the order the runs started. A run's history number (what
``pipebench history`` shows and ``pipebench compare`` takes, 1 the oldest) is the position of
its file among the record files in that order. It is keyed on the file, not on what the file
holds, so a record that is damaged later keeps its number (it is skipped, with a warning
that names it) and the runs after it keep theirs. Any other file is foreign: skipped with a
warning, and numbered never.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import stat
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.authoring.home import check_private, home_folder, pipebench_home
from workbench.errors import UserError
from workbench.text import printable

#: What a record's file is named: ``20260101T120000.123-PIPELINE-RUNID.json``.
RECORD_NAME = re.compile(r"(?:\d{8}T\d{6}(?:\.\d{1,6})?|unknown)-.*\.json")
#: A file larger than this in ``runs/`` is no run record (the log tail is capped far below).
MAX_RECORD_BYTES = 64 * 2**20
#: Files read between two calls of a reader's ``progress``.
PROGRESS_EVERY = 50


def runs_dir() -> Path:
    """Where the run records are (not made or checked here)."""
    return pipebench_home() / "runs"


_OWN = "set PIPEBENCH_HOME to a folder of your own"


def check_home() -> str | None:
    """Refuse, before a run starts, a home (or records folder) that others could write to.
    One whose record cannot be written (a file where the folder should be, a folder that
    cannot be written) is no reason to refuse a run: its report and ``--json`` are still
    given; the reason is returned, to be said before the run (``save_run`` says it again
    after it).

    Raises:
        UserError: one line naming the folder, why, and the fix (``home.check_private``).
    """
    home = pipebench_home()
    for folder, what in ((home, "the pipebench home"), (home / "runs", "the pipebench folder")):
        if folder.is_dir():
            check_private(folder, what, _OWN)
            if not os.access(folder, os.W_OK | os.X_OK):
                return f"the run's record will not be saved: {what} {folder} cannot be written"
        elif os.path.lexists(folder):
            return f"the run's record will not be saved: {what} {folder} is not a folder"
    return None


def _why(exc: OSError) -> str:
    if isinstance(exc, (NotADirectoryError, FileExistsError)):
        return f"{exc.strerror or exc} (a file is where a folder should be)"
    return str(exc.strerror or exc)


def write_atomic(path: Path, data: Any, *, make_parents: bool = True) -> Path:
    """Write ``data`` as JSON to ``path`` so that it is either all there or not at all.

    Missing parent folders are made (``make_parents``). Returns ``path``.

    Raises:
        UserError: one line naming the folder or file that cannot be written and why
            (permission, read-only file system, no space left, a file in the way).
    """
    try:
        if make_parents:
            path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise UserError(f"cannot write to {path.parent}: {_why(exc)}") from None
    done = False
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, default=str)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        done = True
    except OSError as exc:
        raise UserError(f"cannot write {path}: {_why(exc)}") from None
    finally:
        if not done:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return path


#: Characters of a name kept in a file name (a file name holds 255 bytes at most).
NAME_IN_FILE = 80


def safe_name(text: object, default: str) -> str:
    """``text`` as a piece of a file name: letters, digits, ``_.-``, at most
    ``NAME_IN_FILE`` of them; nothing else."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", text if isinstance(text, str) and text else default)
    return name[:NAME_IN_FILE].strip(".") or default


_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,3})?")


def record_name(report: dict[str, Any]) -> str:
    """``START-PIPELINE-RUNID.json``: START is the UTC start to the millisecond
    (``20260101T120000.123``), ``unknown`` without one."""
    started = report.get("started_at")
    m = _ISO.match(started) if isinstance(started, str) else None
    stamp = "{}{}{}T{}{}{}{}".format(*m.groups(default="")) if m else "unknown"
    name = safe_name(report.get("pipeline"), "run")
    return f"{stamp}-{name}-{safe_name(report.get('run_id'), 'noid')}.json"


def save_to(folder: str, name: str, data: Any) -> Path:
    """Write ``data`` as ``<home>/<folder>/<name>`` (``save_to("sweeps", ...)``), atomically,
    the folders made private or checked (see ``workbench.authoring.home``).

    Raises:
        UserError: the home is not private, cannot be made, or the file cannot be written.
    """
    return write_atomic(home_folder(folder) / name, data)


def save_run(report: dict[str, Any]) -> Path:
    """Write a run's report as a record; returns its path.

    Raises:
        UserError: one line starting "the run record was not saved: " and saying why (the
            home cannot be made or written, is a file, is not private, the disk is full).
            What was measured is still in ``report``: print it and write ``--json`` before
            calling this.
    """
    try:
        return save_to("runs", record_name(report), report)
    except UserError as exc:
        raise UserError(f"the run record was not saved: {exc.message}") from None


# ---- reading them back ----------------------------------------------------------------------


@dataclass(frozen=True)
class SkippedRecord:
    """A file in the records folder that is no readable run record."""

    path: Path
    reason: str
    #: The history number it holds (a record's file name, damaged content), or None (foreign).
    number: int | None

    @property
    def warning(self) -> str:
        """One line naming the file and why it was skipped (file names are made printable)."""
        which = f"run #{self.number}, " if self.number is not None else ""
        return f"pipebench: skipped {which}{printable(self.path)}: {self.reason}"


@dataclass(frozen=True)
class RunHistory:
    """The recorded runs, numbered, and the files skipped."""

    folder: Path
    #: (history number, record), oldest first; each record also has ``_file`` and ``_number``.
    runs: tuple[tuple[int, dict[str, Any]], ...]
    skipped: tuple[SkippedRecord, ...]

    @property
    def last_number(self) -> int:
        """The highest history number, skipped records included (0 with no records)."""
        return max([n for n, _ in self.runs] + [s.number or 0 for s in self.skipped] + [0])

    def by_number(self, number: int) -> dict[str, Any]:
        """The record numbered ``number`` (1 the oldest; -1 the newest, -2 the one before).

        Raises:
            UserError: there is no such number, or that record was skipped (and why).
        """
        last = self.last_number
        n = number if number > 0 else last + 1 + number
        if number == 0 or not 1 <= n <= last:
            raise UserError(
                f"no run #{number}: {last} run{'' if last == 1 else 's'} are recorded "
                "(pipebench history)"
            )
        for m, rec in self.runs:
            if m == n:
                return rec
        skip = next(s for s in self.skipped if s.number == n)
        raise UserError(f"run #{n} was skipped: {printable(skip.path)}: {skip.reason}")


_NUMBER = (int, float)
_TYPES: dict[type | tuple[type, ...], str] = {
    str: "text",
    dict: "an object",
    list: "a list",
    _NUMBER: "a number",
}
#: The fields a record must have, and their JSON types.
_REQUIRED: tuple[tuple[str, type | tuple[type, ...]], ...] = (
    ("run_id", str),
    ("started_at", str),
)
#: Fields that may be missing or null, else of this type (what the views read).
_OPTIONAL: tuple[tuple[tuple[str, ...], type | tuple[type, ...]], ...] = (
    (("stages",), list),
    (("pipeline",), str),
    (("target",), str),
    (("module",), str),
    (("path",), str),
    (("status",), str),
    (("params",), dict),
    (("memory",), dict),
    (("memory", "rss_peak_bytes"), _NUMBER),
    (("memory", "uss_peak_bytes"), _NUMBER),
    (("memory", "rss_start_bytes"), _NUMBER),
    (("gpu",), dict),
    (("gpu", "peak_bytes"), _NUMBER),
    (("caches",), dict),
    (("items",), _NUMBER),
    (("items_per_s",), _NUMBER),
    (("duration_s",), _NUMBER),
)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    for types, word in _TYPES.items():
        if isinstance(value, types):
            return word
    return type(value).__name__


def _is(value: Any, types: type | tuple[type, ...]) -> bool:
    return isinstance(value, types) and not isinstance(value, bool)


def record_problem(rec: Any) -> str | None:
    """Why ``rec`` (parsed JSON) is no run record that pipebench can show, or None when it is.

    Checks the fields the history, the runs table and compare read, and their types.
    """
    if not isinstance(rec, dict):
        return f"holds {_kind(rec)}, not a run record (a JSON object)"
    for key, types in _REQUIRED:
        if key not in rec:
            return f"has no {key!r}: not a run record"
        if not _is(rec[key], types):
            return f"{key!r} is {_kind(rec[key])}, not {_TYPES[types]}"
    for keys, types in _OPTIONAL:
        value: Any = rec
        for k in keys:
            value = value.get(k) if isinstance(value, dict) else None
        if value is not None and not _is(value, types):
            name = ".".join(keys)
            return f"{name!r} is {_kind(value)}, not {_TYPES[types]}"
    return None


def read_record(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """The record in ``path``, or None and why it is not one (a phrase that reads after the
    file's name and a colon)."""
    rec, why = read_json(path)
    if why is not None:
        return None, why
    problem = record_problem(rec)
    return (None, problem) if problem else (rec, None)


class _NotFinite(ValueError):
    """A JSON number pipebench never writes: NaN, Infinity, or one too large for a float."""


def _no_constant(name: str) -> float:
    raise _NotFinite(name)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotFinite(text[:40])
    return value


def read_json(path: Path) -> tuple[Any, str | None]:
    """The JSON in ``path`` (a regular UTF-8 file of at most ``MAX_RECORD_BYTES``), or None
    and why it could not be read (a phrase that reads after the file's name and a colon)."""
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            return None, "not a regular file"
        if st.st_size > MAX_RECORD_BYTES:
            return None, f"too large for a run record ({st.st_size / 2**20:.0f} MiB)"
        data = path.read_bytes()
    except OSError as exc:
        return None, f"unreadable: {exc.strerror or exc}"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None, "not UTF-8 text"
    try:
        rec = json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except _NotFinite as exc:
        return None, f"holds a number that is not finite ({exc}): not written by pipebench"
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):
            return None, "ends before its JSON does (a truncated record?)"
        return None, f"not JSON ({exc.msg}: line {exc.lineno}, column {exc.colno})"
    except (ValueError, RecursionError) as exc:
        return None, f"not JSON that pipebench can read ({type(exc).__name__})"
    return rec, None


def read_history(
    folder: Path | None = None, *, progress: Callable[[int, int], object] | None = None
) -> RunHistory:
    """Every run record in ``folder`` (default ``runs_dir()``), numbered, oldest first, and
    every file skipped with why. A missing folder is an empty history. ``progress(done,
    total)`` is called with the files read so far, every ``PROGRESS_EVERY`` files and at
    the end (a long history shows how far it is).

    Raises:
        UserError: the home or the folder is not private (see ``home.check_private``), or
            the folder cannot be listed.
    """
    folder = runs_dir() if folder is None else folder
    if folder.parent == pipebench_home() and folder.parent.exists():
        check_private(folder.parent, "the pipebench home", _OWN)
    if not folder.exists():
        return RunHistory(folder, (), ())
    check_private(folder, "the pipebench folder", _OWN)
    try:
        with os.scandir(folder) as entries:
            names = sorted(e.name for e in entries if e.name.endswith(".json"))
    except OSError as exc:
        raise UserError(f"cannot read the run records in {folder}: {_why(exc)}") from None
    runs: list[tuple[int, dict[str, Any]]] = []
    skipped: list[SkippedRecord] = []
    number = 0
    for done, name in enumerate(names):
        if progress is not None and done % PROGRESS_EVERY == 0:
            progress(done, len(names))
        path = folder / name
        numbered = RECORD_NAME.fullmatch(name) is not None
        number += numbered
        rec, why = read_record(path)
        if rec is None:
            skipped.append(SkippedRecord(path, why or "", number if numbered else None))
        elif not numbered:
            skipped.append(
                SkippedRecord(
                    path,
                    "not named like a run record (START-PIPELINE-RUNID.json); "
                    "compare it as a file: pipebench compare FILE N",
                    None,
                )
            )
        else:
            rec["_file"], rec["_number"] = str(path), number
            runs.append((number, rec))
    if progress is not None:
        progress(len(names), len(names))
    return RunHistory(folder, tuple(runs), tuple(skipped))


def read_sweeps(
    folder: Path | None = None, *, progress: Callable[[int, int], object] | None = None
) -> list[dict[str, Any]]:
    """Every saved sweep (``<home>/sweeps/*.json``, as ``sweep.run.save_sweep`` writes
    them), oldest first; a file that is no sweep (not JSON, no ``points`` list, another
    ``kind``) is left out. ``progress`` as for ``read_history``.

    Raises:
        UserError: the folder is not private, or cannot be listed.
    """
    folder = pipebench_home() / "sweeps" if folder is None else folder
    if not folder.exists():
        return []
    check_private(folder, "the pipebench folder", _OWN)
    try:
        with os.scandir(folder) as entries:
            names = sorted(e.name for e in entries if e.name.endswith(".json"))
    except OSError as exc:
        raise UserError(f"cannot read the sweeps in {folder}: {_why(exc)}") from None
    out = []
    for done, name in enumerate(names):
        if progress is not None and done % PROGRESS_EVERY == 0:
            progress(done, len(names))
        data, _why_not = read_json(folder / name)
        if (
            isinstance(data, dict)
            and data.get("kind") == "sweep"
            and isinstance(data.get("points"), list)
        ):
            data["_file"] = str(folder / name)
            out.append(data)
    if progress is not None:
        progress(len(names), len(names))
    return out


def load_runs(pipeline: str | None = None, path: str | None = None) -> list[dict[str, Any]]:
    """Recorded runs, oldest first, optionally of one pipeline (and module path); files
    that are no readable record are left out (``read_history`` says which and why)."""
    return [
        rec
        for _, rec in read_history().runs
        if (pipeline is None or rec.get("pipeline") == pipeline)
        and (path is None or rec.get("path") == path)
    ]


def is_cancelled(rec: Mapping[str, Any]) -> bool:
    """Whether a run record is of a run cancelled before its first batch: no result."""
    if "cancelled" in rec:
        return bool(rec.get("cancelled"))
    return rec.get("status") == "stopped" and not rec.get("items") and not rec.get("batches")


def is_result(rec: Mapping[str, Any]) -> bool:
    """Whether a run record holds a throughput to compare: finished, or stopped after its
    first batch."""
    return rec.get("status") in ("finished", "stopped") and not is_cancelled(rec)
