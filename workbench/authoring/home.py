"""pipebench's home folder, kept private, and data files made once by any number of runs.

The home is ``$PIPEBENCH_HOME``, else ``./.pipebench``. pipebench keeps run records there and,
through ``disk_cached`` and ``data_dir()``, files that are loaded back: pickles among them, and
loading a pickle runs code. So, as ssh does with a key file, pipebench refuses a home or cache
folder that someone else could write to (owned by another user, or writable by its group or by
others), and makes the folders it creates ``0700``. Only the folder itself is checked, not its
parents: a user who runs code from a folder others can write to already trusts them.

Light to import (user modules import it through ``workbench``): standard library only.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

from workbench.errors import UserError

#: Mode of every folder pipebench makes: only its owner may enter, read or write it.
PRIVATE = 0o700


def pipebench_home() -> Path:
    """pipebench's folder for run records and generated data: ``$PIPEBENCH_HOME``, else
    ``./.pipebench``. Not checked or made here: see ``home_folder``."""
    home = os.environ.get("PIPEBENCH_HOME")
    return Path(home) if home else Path.cwd() / ".pipebench"


def _owner(uid: int) -> str:
    try:
        import pwd

        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"


def unsafe_reason(st: os.stat_result) -> str | None:
    """Why a folder with this ``stat`` is not private to the user running pipebench (owned
    by someone else, writable by its group or by others), or None when it is."""
    if not hasattr(os, "geteuid"):
        return None  # no POSIX owners and modes (Windows): nothing to check
    me = os.geteuid()
    if st.st_uid != me:
        return f"it belongs to {_owner(st.st_uid)}, not to you, {_owner(me)}"
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o022:
        who = " and ".join(w for w, bit in (("its group", 0o020), ("others", 0o002)) if mode & bit)
        return f"it is writable by {who} (mode {mode:04o})"
    return None


def unsafe_fix(folder: Path, st: os.stat_result, own: str = "use a folder of your own") -> str:
    """The fix for a folder ``unsafe_reason`` found unsafe: ``chmod go-w`` when it is yours,
    else ``own``."""
    if hasattr(os, "geteuid") and st.st_uid == os.geteuid():
        return f"run chmod go-w {shlex.quote(str(folder))}"
    return own


def check_private(folder: Path, what: str, own: str = "use a folder of your own") -> None:
    """Refuse ``folder`` (an existing folder) if someone other than you could write to it;
    ``own`` is the fix offered when it belongs to someone else.

    Raises:
        UserError: one line naming the folder, what is wrong and the fix.
    """
    try:
        st = folder.stat()
    except OSError as exc:
        raise UserError(f"cannot use {what} {folder}: {exc.strerror or exc}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise UserError(f"cannot use {what} {folder}: it is a file, not a folder")
    why = unsafe_reason(st)
    if why is None:
        return
    raise UserError(
        f"pipebench refuses {what} {folder}: {why}, so others could plant files that "
        f"pipebench loads (a pickle runs code as you); {unsafe_fix(folder, st, own)}"
    )


def private_folder(folder: Path, what: str, own: str = "use a folder of your own") -> Path:
    """``folder``, made ``0700`` (with any missing parents) if it is not there, else checked
    with ``check_private``; returns it.

    Raises:
        UserError: the folder cannot be made, is a file, or others could write to it.
    """
    missing: list[Path] = []
    p = folder
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for p in reversed(missing):
        try:
            os.mkdir(p, PRIVATE)
        except FileExistsError:
            pass  # made by a concurrent run: checked below like any other
        except OSError as exc:
            where = "" if p == folder else f" at {p}"
            raise UserError(
                f"cannot write to {what} {folder} ({exc.strerror or exc}{where}); "
                "choose a folder you can write to"
            ) from None
    check_private(folder, what, own)
    return folder


def home_folder(*parts: str) -> Path:
    """The home, or a folder under it (``home_folder("runs")``), made private or checked.

    Raises:
        UserError: as ``private_folder``, for the home or the subfolder.
    """
    own = "set PIPEBENCH_HOME to a folder of your own"
    folder = private_folder(pipebench_home(), "the pipebench home", own)
    for part in parts:
        folder = private_folder(folder / part, "the pipebench folder", own)
    return folder


def data_dir() -> Path:
    """Where pipelines keep data they generate: ``<home>/data``, made ``0700`` on first use.

    Raises:
        UserError: the home or the folder cannot be made, or others could write to it.
    """
    return home_folder("data")


# ---- data files made once ----------------------------------------------------------------


def _temp_pattern(name: str) -> re.Pattern[str]:
    stem, suffix = os.path.splitext(name)
    return re.compile(re.escape(f".{stem}.") + "[0-9a-f]{16}" + re.escape(f".tmp{suffix}") + ".*")


def _temp_name(name: str) -> str:
    stem, suffix = os.path.splitext(name)
    return f".{stem}.{os.urandom(8).hex()}.tmp{suffix}"


def _remove_with_companions(tmp: Path) -> None:
    """Remove ``tmp`` and whatever was made next to it under its name as a prefix (SQLite's
    ``-journal``, ``-wal``, ``-shm``): the name is unique, so they are all ours."""
    with contextlib.suppress(OSError), os.scandir(tmp.parent) as entries:
        for entry in entries:
            if entry.name.startswith(tmp.name):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


@contextlib.contextmanager
def _locked(lock: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock`` (made if missing); removed on the way out.

    A waiter that wakes up holding a lock file that was removed meanwhile takes a new one,
    so the file can be removed without a race. A process killed while holding it leaves the
    file, never the lock: the kernel lets go of it, and the next holder removes the file.
    """
    try:
        import fcntl
    except ImportError:  # no flock (Windows): concurrent makers each write, one rename wins
        yield
        return
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            with contextlib.suppress(FileNotFoundError):
                if os.path.samestat(os.stat(lock), os.fstat(fd)):
                    break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)
        os.close(fd)


def data_file(name: str, make: Callable[[Path], object]) -> Path:
    """The path of ``data_dir() / name``, made by ``make`` the first time it is asked for.

    ``make(tmp)`` writes the file at ``tmp``, a path in the same folder that no other process
    uses (it ends with ``name``'s suffix, so ``np.save`` keeps it as given). Only once ``make``
    returns is the file renamed to ``name`` (``os.replace``, atomic), so no reader ever sees
    half of it. Any number of processes may ask at once: one makes the file while the others
    wait for it (an ``flock`` on ``.NAME.lock``, removed afterwards). If ``make`` raises or the
    run is stopped (Ctrl-C), its temporary file is removed; one left by a process that was
    killed outright is removed by the next call that makes ``name``.

    Args:
        name: a file name (no folder part), such as ``"corpus-1000-0.jsonl"``.
        make: writes the data to the path it is given; its return value is ignored.

    Returns:
        The path of the finished file.

    Raises:
        ValueError: ``name`` has a folder part or is empty.
        UserError: the data folder cannot be made, or others could write to it.
        FileNotFoundError: ``make`` returned without writing the file.
    """
    if not name or name in (".", "..") or os.sep in name or (os.altsep and os.altsep in name):
        raise ValueError(f"data_file: {name!r} is not a file name (no folders)")
    folder = data_dir()
    path = folder / name
    if path.exists():
        return path
    with _locked(folder / f".{name}.lock"):
        if path.exists():  # made while this process waited
            return path
        stale = _temp_pattern(name)
        with os.scandir(folder) as entries:
            for entry in entries:
                if stale.fullmatch(entry.name):  # left by a maker that was killed
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)
        tmp = folder / _temp_name(name)
        try:
            make(tmp)
            if not tmp.exists():
                raise FileNotFoundError(
                    f"data_file({name!r}): make() returned without writing the file it was given"
                )
            os.replace(tmp, path)
        finally:
            _remove_with_companions(tmp)
    return path
