"""Run records on disk: every run's report, written atomically under ``.pipebench/runs``.

The folder is ``$PIPEBENCH_HOME/runs`` when ``PIPEBENCH_HOME`` is set, else
``./.pipebench/runs``. A record is written to a temporary file in the same folder,
flushed to disk and renamed over its final name, so a reader never sees half a record.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from workbench.authoring.pipeline import pipebench_home
from workbench.errors import UserError


def runs_dir() -> Path:
    return pipebench_home() / "runs"


def write_atomic(path: Path, data: Any) -> Path:
    """Write ``data`` as JSON to ``path`` so that it is either all there or not at all."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise UserError(
            f"cannot write to {path.parent}: {exc.strerror}; "
            "set PIPEBENCH_HOME to a writable folder"
        ) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, default=str)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def record_name(report: dict[str, Any]) -> str:
    stamp = (report.get("started_at") or "unknown")[:19].replace(":", "").replace("-", "")
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", report.get("pipeline") or "run")
    return f"{stamp}-{name}-{report['run_id']}.json"


def save_run(report: dict[str, Any]) -> Path:
    """Write a run's report as a record; returns its path."""
    return write_atomic(runs_dir() / record_name(report), report)


def load_runs(pipeline: str | None = None, path: str | None = None) -> list[dict[str, Any]]:
    """Recorded runs, oldest first, optionally of one pipeline (and module path)."""
    folder = runs_dir()
    if not folder.is_dir():
        return []
    runs = []
    for f in sorted(folder.glob("*.json")):
        try:
            rec = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a foreign or damaged file is skipped, never fatal
        if pipeline is not None and rec.get("pipeline") != pipeline:
            continue
        if path is not None and rec.get("path") != path:
            continue
        rec["_file"] = str(f)
        runs.append(rec)
    runs.sort(key=lambda r: r.get("started_at") or "")
    return runs
