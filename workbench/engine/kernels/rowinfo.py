"""What a kernel row says beyond the protocol's fields: its thread count, how its inputs
were given, whether it changed them.

``KernelResult`` has no fields for these yet, so they travel packed after the verdict in
its ``check`` text (one marked JSON line) and are unpacked by the session; older readers
see the verdict and one extra line. When the protocol grows ``threads``, ``mutates``,
``inputs`` and ``copy_s`` fields, only ``pack`` and ``unpack`` change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

_MARK = "\npipebench-row-info "

#: How an implementation's inputs were given while it was timed.
PER_SAMPLE = "per sample"  # a fresh copy before each sample (untimed)
PER_CALL = "per call"  # a fresh copy before each call, calls timed one by one (mutators)
ONCE = "once"  # one copy for all samples: a copy would cost over 5% of a sample


@dataclass(frozen=True)
class RowInfo:
    """The row's extra facts (None: not known, e.g. it never ran)."""

    threads: int | None = None  # threads its pools were pinned to
    parallel: bool = False  # marked or detected parallel: runs at --parallel-threads
    mutates: bool | None = None  # its first call changed its inputs (None: not checked)
    inputs: str | None = None  # PER_SAMPLE, PER_CALL or ONCE
    copy_s: float | None = None  # seconds to make one fresh copy of its inputs
    input_note: str | None = None  # e.g. the inputs could not be fingerprinted
    ended_after_s: float | None = None  # its first call was ended at this limit


def pack(verdict: str | None, info: RowInfo) -> str:
    """``verdict`` with ``info`` after it, as the ``check`` text of a ``KernelResult``."""
    body = {k: v for k, v in vars(info).items() if v is not None}
    return f"{verdict or ''}{_MARK}{json.dumps(body, separators=(',', ':'))}"


def unpack(check: str | None) -> tuple[str | None, RowInfo]:
    """The verdict and the facts packed in a ``check`` text (an unpacked text is all
    verdict, with no facts)."""
    if not check or _MARK not in check:
        return check, RowInfo()
    verdict, _, body = check.rpartition(_MARK)
    try:
        raw: dict[str, Any] = json.loads(body)
        info = RowInfo(**{k: v for k, v in raw.items() if k in RowInfo.__dataclass_fields__})
    except (ValueError, TypeError):
        return check, RowInfo()
    return verdict or None, info
