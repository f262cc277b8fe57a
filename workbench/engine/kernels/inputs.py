"""A kernel's inputs: made once per size, a fresh copy for each implementation, and a
fingerprint to tell whether a call changed them.

The factory runs once per size; every implementation gets its own deep copy of what it
made (never the object another implementation had), so an implementation that doubles
its input in place cannot change what the next one is given or checked on. A
fingerprint (a BLAKE2 digest) is taken before and after the first call: NumPy arrays
by their bytes (with dtype and shape), torch tensors through NumPy, lists, tuples and
dicts recursively, other objects through ``pickle``. A changed fingerprint flags the
implementation as mutating its input, and it is then timed call by call on fresh copies.
"""

from __future__ import annotations

import copy
import hashlib
import pickle
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from workbench.errors import UserError

#: A fresh copy per sample when a copy takes at most this share of a sample's duration.
PER_SAMPLE_SHARE = 0.05


def refuse_iterators(kernel: str, size: int, args: tuple[Any, ...]) -> None:
    """Raise ``UserError`` (one line naming the kernel and the fix) when an input is an
    iterator or a generator: the first implementation would use it up."""
    for i, arg in enumerate(args, 1):
        if isinstance(arg, Iterator):
            raise UserError(
                f"kernel {kernel}: its input factory returned a {type(arg).__name__} "
                f"(argument {i} at size {size:,}), an iterator the first implementation "
                "would use up and leave empty for the others; return a list, tuple or "
                "array instead (e.g. list(...))"
            )


def fingerprint(value: Any) -> str | None:
    """A digest of ``value``'s contents, or None when they cannot be read (an object
    that neither the rules above nor ``pickle`` can take)."""
    h = hashlib.blake2b(digest_size=16)
    try:
        _feed(h, value, set(), 0)
    except _Unreadable:
        return None
    return h.hexdigest()


class _Unreadable(Exception):
    pass


_SCALARS = (int, float, complex, str, bool, type(None))


def _feed(h: Any, value: Any, seen: set[int], depth: int) -> None:
    if depth > 64:
        raise _Unreadable
    if isinstance(value, _SCALARS):
        h.update(f"{type(value).__name__}:{value!r};".encode())
        return
    if isinstance(value, (bytes, bytearray, memoryview)):
        h.update(b"b:")
        h.update(bytes(value))
        return
    import numpy as np

    if isinstance(value, np.generic):
        h.update(f"np:{value.dtype.str}:{value!r};".encode())
        return
    if isinstance(value, np.ndarray):
        _feed_array(h, value, seen, depth)
        return
    if all(hasattr(value, a) for a in ("detach", "cpu", "numpy")):  # a torch tensor
        t = value.detach().cpu()
        try:
            arr = t.numpy()
        except (TypeError, RuntimeError):  # bfloat16 and friends: through a wider type
            arr = t.float().numpy()
        h.update(f"torch:{t.dtype}:".encode())
        _feed_array(h, arr, seen, depth)
        return
    key = id(value)
    if key in seen:
        h.update(b"cycle;")
        return
    seen.add(key)
    try:
        if isinstance(value, Mapping):
            h.update(f"map:{type(value).__name__}:{len(value)}[".encode())
            for k, v in value.items():
                _feed(h, k, seen, depth + 1)
                _feed(h, v, seen, depth + 1)
            h.update(b"]")
        elif isinstance(value, (list, tuple)) or type(value).__name__ == "List":
            h.update(f"seq:{type(value).__name__}:{len(value)}[".encode())
            for v in value:
                _feed(h, v, seen, depth + 1)
            h.update(b"]")
        elif isinstance(value, (set, frozenset)):
            h.update(f"set:{len(value)}[".encode())
            for r in sorted(repr(v) for v in value):
                h.update(r.encode())
            h.update(b"]")
        else:
            try:
                h.update(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
            except Exception:
                raise _Unreadable from None
    finally:
        seen.discard(key)


def _feed_array(h: Any, arr: Any, seen: set[int], depth: int) -> None:
    import numpy as np

    h.update(f"nd:{arr.dtype.str}:{arr.shape};".encode())
    if arr.dtype.hasobject:
        for v in arr.ravel().tolist():
            _feed(h, v, seen, depth + 1)
    else:
        h.update(np.ascontiguousarray(arr).data)


@dataclass(frozen=True)
class Inputs:
    """One size's inputs: the factory's output, kept untouched, and the way to copy it."""

    pristine: tuple[Any, ...]
    factory_s: float  # seconds the factory took to make them
    remake: Callable[[], tuple[Any, ...]]  # the factory again (where a deep copy fails)

    def fresh(self) -> tuple[tuple[Any, ...], str | None]:
        """A fresh copy of the inputs, and a note when it is not an exact copy."""
        try:
            return copy.deepcopy(self.pristine), None
        except Exception as exc:
            made = self.remake()
            note = None
            if fingerprint(made) != fingerprint(self.pristine):
                note = (
                    f"inputs made again by the factory (a deep copy raised "
                    f"{type(exc).__name__}) and they differ from the first ones: seed it"
                )
            return made, note


def make_inputs(kernel: str, size: int, factory: Callable[[int], Any]) -> Inputs:
    """Call the factory for ``size`` (timed) and refuse iterators."""

    def call() -> tuple[Any, ...]:
        made = factory(size)
        return made if isinstance(made, tuple) else (made,)

    t0 = time.perf_counter()
    args = call()
    seconds = time.perf_counter() - t0
    refuse_iterators(kernel, size, args)
    return Inputs(args, seconds, call)


def timed(make: Callable[[], Any]) -> tuple[Any, float]:
    """``make()`` and the seconds it took."""
    t0 = time.perf_counter()
    out = make()
    return out, time.perf_counter() - t0
