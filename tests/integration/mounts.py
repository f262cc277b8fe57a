"""Run a command with folders made read-only for real: a read-only bind mount of each over
itself, in a mount namespace of the command's own (``unshare``), so nothing outside sees it.

As root, file modes do not stop writes; a read-only mount does (EROFS), for root too. As
another user, ``unshare -r`` maps them to root in a user namespace of their own.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path


def _unshare() -> list[str]:
    return ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-r", "-m"]


def _script(folders: tuple[Path, ...]) -> str:
    mounts = " && ".join(
        f"mount --bind {q} {q} && mount -o remount,bind,ro {q}"
        for q in (shlex.quote(str(f)) for f in folders)
    )
    return f'{mounts} && exec "$@"'


def read_only_argv(argv: list[str], *folders: Path) -> list[str]:
    """``argv`` to run with each of ``folders`` read-only (call ``supported()`` first)."""
    return [*_unshare(), "sh", "-c", _script(folders), "sh", *argv]


@functools.cache
def supported() -> bool:
    """Whether this machine lets a test make a read-only bind mount."""
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return False
    with tempfile.TemporaryDirectory() as d:
        probe = Path(d)
        argv = read_only_argv(["sh", "-c", f"! touch {shlex.quote(str(probe / 'x'))}"], probe)
        try:
            done = subprocess.run(argv, capture_output=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            return False
        return done.returncode == 0 and not (probe / "x").exists()
