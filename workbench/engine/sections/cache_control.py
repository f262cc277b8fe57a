"""Asking a run to clear one of its caches: request files in a folder the runner child owns.

The caches live in the runner child (an ``lru_cache`` is in its memory), and the child
takes no commands on its events pipe, so a request is a small JSON file written atomically
into the child's control folder, which the ``caches`` section names (``control``). The
child's sampler thread picks requests up within one snapshot interval, clears the cache,
and lists the result under ``served`` in the next snapshots. Once the run is over, the
in-memory caches are gone with it, and the results of disk caches with a known layout
(joblib's, pipebench's) are removed from here, straight from the disk.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.authoring.cachestats import folder_usage

if TYPE_CHECKING:  # caches imports this module
    from workbench.engine.sections.cache_entries import CacheRow
    from workbench.engine.sections.caches import CachesSection, ServedClear


def make_control_folder() -> Path:
    """A private folder for this process's requests (removed at the end of the run; those
    of runs that were killed are removed here)."""
    base = Path(tempfile.gettempdir()) / f"pipebench-{os.getuid()}"
    base.mkdir(mode=0o700, exist_ok=True)
    for old in base.glob("caches-*-*"):
        pid = old.name.split("-")[1]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"caches-{os.getpid()}-", dir=base))


def take_requests(folder: Path | None) -> list[dict[str, Any]]:
    """The pending requests, oldest first, removed from the folder (child side)."""
    if folder is None:
        return []
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".json") and n[0] != ".")
    except OSError:
        return []
    out = []
    for n in names:
        path = folder / n
        try:
            req = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            req = None
        with contextlib.suppress(OSError):
            path.unlink()
        if isinstance(req, dict) and isinstance(req.get("clear"), str):
            out.append(req)
    return out


def remove_folder(folder: Path | None) -> None:
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


# ---- parent side ----------------------------------------------------------------------


@dataclass(frozen=True)
class ClearOutcome:
    """What became of a clear: ``pending`` until the run says it was served."""

    name: str
    request_id: str | None
    pending: bool
    ok: bool
    message: str


def pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_live(section: CachesSection | None) -> bool:
    """Whether the run that sent this section can still take requests."""
    if section is None or not section.live:
        return False
    control = section.control
    return control is not None and os.path.isdir(control) and pid_alive(section.pid)


def find_row(section: CachesSection | None, name: str) -> CacheRow | None:
    """The row of the cache ``name`` in ``section``, if there is one."""
    return section.row(name) if section is not None else None


def request_clear(control: str, name: str) -> str:
    """Write a request to clear ``name`` into a run's control folder; returns its id."""
    req_id = f"{time.time_ns():020d}-{os.urandom(3).hex()}"
    fd, tmp = tempfile.mkstemp(prefix=".req-", dir=control)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"id": req_id, "clear": name}, f)
    os.replace(tmp, os.path.join(control, f"{req_id}.json"))
    return req_id


def served(section: CachesSection | None, request_id: str) -> ServedClear | None:
    """The child's answer to a request, once it is in a snapshot."""
    return section.answer(request_id) if section is not None else None


def clear_on_disk(name: str, folder: str) -> str:
    """Remove a joblib-layout disk cache's results (its ``<hash>`` folders) from ``folder``;
    the function's code file stays, as after ``MemorizedFunc.clear()``."""
    entries, nbytes = folder_usage(folder)
    with os.scandir(folder) as it:
        for e in it:
            if e.is_dir() and len(e.name) == 32:
                shutil.rmtree(e.path, ignore_errors=True)
    return f"cleared {name}: {entries} entries ({nbytes} bytes) removed from {folder}"


def clear_cache(section: CachesSection | None, name: str) -> ClearOutcome:
    """Clear cache ``name`` of the run ``section`` comes from: by request while it runs,
    from the disk after it, or say why it cannot be."""
    row = find_row(section, name)
    if row is None:
        return ClearOutcome(name, None, False, False, f"no cache named {name!r} in this run")
    if section is not None and section.control is not None and is_live(section):
        if not row.clearable:
            return ClearOutcome(
                name,
                None,
                False,
                False,
                f"{name} cannot be cleared: {row.reason or 'no clear method'}",
            )
        req = request_clear(section.control, name)
        return ClearOutcome(name, req, True, True, f"asked the run to clear {name}")
    path = row.path
    if (
        row.kind == "disk"
        and row.source in ("joblib", "pipebench")
        and path
        and os.path.isdir(path)
    ):
        try:
            return ClearOutcome(name, None, False, True, clear_on_disk(name, path))
        except OSError as exc:
            return ClearOutcome(
                name, None, False, False, f"cannot clear {path}: {exc.strerror or exc}"
            )
    return ClearOutcome(
        name,
        None,
        False,
        False,
        f"the run is over: {name} lived in its process, nothing is left to clear",
    )
