"""Correctness of a kernel implementation: its result against the reference's.

Results are first made comparable (torch tensors to NumPy, typed dicts to dicts, lists of
lists to arrays); floating point values are compared with ``allclose`` and integers,
strings and dict keys exactly. A result of the wrong shape or type is an error, not merely
a wrong answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Check:
    """The verdict on one result."""

    correct: bool | None  # None: not checked
    note: str  # what was found, one line
    malformed: bool = False  # wrong shape or type: the row is an error


def canonical(value: Any) -> Any:
    """``value`` in a form that can be compared: arrays, Python scalars, dicts, tuples."""
    if all(hasattr(value, a) for a in ("detach", "cpu", "numpy")):  # a torch tensor
        value = value.detach().cpu().numpy()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {canonical(k): canonical(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(canonical(v) for v in value)
    if isinstance(value, list) or type(value).__name__ == "List":  # numba.typed.List too
        arr = np.asarray(list(value))
        return arr if arr.dtype != object else [canonical(v) for v in value]
    return value


def _numeric(v: Any) -> bool:
    return isinstance(v, (np.ndarray, int, float, complex))


def _kind(v: Any) -> str:
    return type(v).__name__


def _compare_arrays(
    got: np.ndarray, ref: np.ndarray, exact: bool, rtol: float, atol: float
) -> Check:
    if got.shape != ref.shape:
        return Check(False, f"wrong shape: {got.shape}, the reference gives {ref.shape}", True)
    floating = got.dtype.kind in "fc" or ref.dtype.kind in "fc"
    if not floating or exact:
        if got.dtype.kind in "OUS" or ref.dtype.kind in "OUS":
            same = np.array_equal(got, ref)
            return Check(bool(same), "equal" if same else "not equal to the reference")
        bad = got != ref
        if not bad.any():
            return Check(True, "exactly equal")
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        return Check(
            False,
            f"{int(bad.sum())} of {bad.size} values differ; first at "
            f"{list(idx)}: {_item(got[idx])}, the reference {_item(ref[idx])}",
        )
    with np.errstate(all="ignore"):
        close = np.isclose(got, ref, rtol=rtol, atol=atol, equal_nan=True)
        err = np.abs(got.astype(np.complex128 if got.dtype.kind == "c" else np.float64) - ref)
        finite = err[np.isfinite(err)]
        max_err = float(finite.max()) if finite.size else 0.0
    if close.all():
        return Check(True, f"allclose (max abs error {max_err:.1e})")
    idx = tuple(int(i) for i in np.argwhere(~close)[0])
    return Check(
        False,
        f"{int((~close).sum())} of {close.size} values off (rtol {rtol:g}, "
        f"atol {atol:g}); first at {list(idx)}: {_item(got[idx])}, the "
        f"reference {_item(ref[idx])}",
    )


def compare(
    got: Any,
    ref: Any,
    *,
    check: str | Callable[[Any, Any], str | None] = "auto",
    rtol: float = 1e-7,
    atol: float = 1e-10,
) -> Check:
    """Check ``got`` (canonical) against ``ref`` (canonical)."""
    if check == "none":
        return Check(None, "not checked (check='none')")
    if callable(check):
        problem = check(got, ref)
        return Check(
            problem is None, "the kernel's check passed" if problem is None else str(problem)
        )
    exact = check == "exact"
    if isinstance(ref, dict) or isinstance(got, dict):
        if not (isinstance(ref, dict) and isinstance(got, dict)):
            return Check(False, f"wrong type: {_kind(got)}, the reference gives {_kind(ref)}", True)
        missing = ref.keys() - got.keys()
        extra = got.keys() - ref.keys()
        if missing or extra:
            parts = []
            if missing:
                parts.append(
                    f"{len(missing)} key(s) missing (e.g. {sorted(missing, key=repr)[0]!r})"
                )
            if extra:
                parts.append(f"{len(extra)} extra key(s) (e.g. {sorted(extra, key=repr)[0]!r})")
            return Check(False, "; ".join(parts))
        for key, value in ref.items():
            sub = compare(got[key], value, check=check, rtol=rtol, atol=atol)
            if not sub.correct:
                return Check(False, f"at key {key!r}: {sub.note}", sub.malformed)
        return Check(True, f"equal ({len(ref)} keys)")
    if isinstance(ref, tuple) or isinstance(got, tuple):
        if not (isinstance(ref, tuple) and isinstance(got, tuple)) or len(got) != len(ref):
            return Check(
                False,
                f"wrong type: {_kind(got)} of {_len(got)}, the reference "
                f"gives {_kind(ref)} of {_len(ref)}",
                True,
            )
        for i, (g, r) in enumerate(zip(got, ref, strict=True)):
            sub = compare(g, r, check=check, rtol=rtol, atol=atol)
            if not sub.correct:
                return Check(False, f"item {i}: {sub.note}", sub.malformed)
        return Check(True, "equal")
    if _numeric(got) and _numeric(ref):
        return _compare_arrays(np.asarray(got), np.asarray(ref), exact, rtol, atol)
    try:
        same = bool(got == ref)
    except Exception:
        same = False
    if not same and type(got) is not type(ref):
        return Check(False, f"wrong type: {_kind(got)}, the reference gives {_kind(ref)}", True)
    return Check(same, "equal" if same else f"{_short(got)}, the reference {_short(ref)}")


def _item(v: Any) -> str:
    return repr(v.item() if isinstance(v, np.generic) else v)


def _len(v: Any) -> str:
    try:
        return str(len(v))
    except TypeError:
        return "?"


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."
