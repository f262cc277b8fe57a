"""The ``/proc`` files pipebench reads a process's memory and CPU time from, in one module
without classes: the runner child reads its own memory with ``own_memory`` as its chain
starts and ends, and imports nothing more of the memory section for it (each frozen
dataclass costs ~1 ms to create on Python 3.11, before the first batch). The parent's
``TreeSampler`` (``sections.memory``) reads the whole tree with the same functions.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

_STATUS_KEYS = {b"VmRSS:": "rss", b"RssAnon:": "anon", b"RssFile:": "file",
                b"RssShmem:": "shmem", b"VmHWM:": "hwm"}  # fmt: skip
_ROLLUP_KEYS = {b"Pss:": "pss", b"Private_Clean:": "pc", b"Private_Dirty:": "pd",
                b"Private_Hugetlb:": "ph"}  # fmt: skip


def read_proc(path: str, size: int = 8192) -> bytes | None:
    """The first ``size`` bytes of a ``/proc`` file; None if it cannot be read (gone)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        return os.read(fd, size)
    except OSError:
        return None
    finally:
        os.close(fd)


def _kib_fields(text: bytes, keys: Mapping[bytes, str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in text.split(b"\n"):
        parts = line.split()
        if len(parts) >= 2 and parts[0] in keys and parts[1].isdigit():
            out[keys[parts[0]]] = int(parts[1]) * 1024
    return out


def read_status(pid: int) -> dict[str, int] | None:
    """RSS, its anonymous/file/shmem split and VmHWM of ``pid`` in bytes; None if gone."""
    text = read_proc(f"/proc/{pid}/status")
    if not text:
        return None
    return _kib_fields(text, _STATUS_KEYS)


def read_rollup(pid: int) -> tuple[int, int] | None:
    """(USS, PSS) of ``pid`` in bytes from ``smaps_rollup``; None where unreadable."""
    text = read_proc(f"/proc/{pid}/smaps_rollup")
    if not text:
        return None
    f = _kib_fields(text, _ROLLUP_KEYS)
    if "pss" not in f:
        return None
    return f.get("pc", 0) + f.get("pd", 0) + f.get("ph", 0), f["pss"]


def own_memory(*, reset_hwm: bool = False) -> tuple[dict[str, int | None], int | None]:
    """This process's memory now (``MemoryTotals`` fields, bytes; ``{}`` if unreadable) and
    its RSS high-water mark (VmHWM) so far, which ``reset_hwm`` then resets so that it
    covers what follows only. The runner sends one as its chain starts
    (``protocol.Started``) and one as its chain has closed (``protocol.Finished``): its
    start and end figures, taken where the parent's readings cannot fall."""
    pid = os.getpid()
    st = read_status(pid)
    if not st or "rss" not in st:
        return {}, None
    hwm = st.get("hwm")
    if reset_hwm:
        clear_hwm(pid)
    uss, pss = read_rollup(pid) or (None, None)
    return {
        "rss": st["rss"], "anon": st.get("anon", 0), "file": st.get("file", 0),
        "shmem": st.get("shmem", 0), "uss": uss, "pss": pss,
    }, hwm  # fmt: skip


def children(pid: int) -> list[int]:
    """Direct children of ``pid``, from every thread's ``children`` list."""
    out: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        text = read_proc(f"/proc/{pid}/task/{tid}/children", 65536)
        if text:
            out.extend(int(x) for x in text.split())
    return out


_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def read_stat(pid: int) -> tuple[int, float] | None:
    """(start time in clock ticks since boot, CPU seconds used: user + system) of ``pid``
    from ``/proc/PID/stat``; None if it is gone. The start time tells a pid's reuse apart."""
    text = read_proc(f"/proc/{pid}/stat", 4096)
    if not text:
        return None
    try:
        fields = text[text.rindex(b")") + 2 :].split()
        return int(fields[19]), (int(fields[11]) + int(fields[12])) / _CLK_TCK
    except (ValueError, IndexError):
        return None


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (tells a pid's reuse apart)."""
    stat = read_stat(pid)
    return stat[0] if stat else None


def comm(pid: int) -> str:
    """The process's name (``/proc/PID/comm``), "?" if it is gone."""
    text = read_proc(f"/proc/{pid}/comm", 256)
    return text.decode("utf-8", "replace").strip() if text else "?"


def clear_hwm(pid: int) -> bool:
    """Reset ``pid``'s RSS high-water mark (``clear_refs`` 5), so VmHWM covers the run only
    and not a spike while the module was imported."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False
