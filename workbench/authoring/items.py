"""What one yielded value counts as: the item model behind every item count and rate.

- A list counts its length; an array or tensor (NumPy, torch, TensorFlow, anything with a
  ``shape``) counts its leading dimension (a 0-d one is one item); another object with
  ``__len__`` counts its length.
- A tuple, a dict, a string, a number or any other object is **one** item (a record, a row,
  a loss), except a structure of arrays that share one leading dimension — ``(features,
  labels)`` as a DataLoader collates a batch, or a dict of such arrays — which counts that
  dimension.
- ``stage(fn, items=...)`` and ``@pipeline(items=...)`` say otherwise: an int (items per
  value) or a function of the value.

Imported by the engine's probe and by parallel stages (which count what their workers
return), so it lives with the authoring API and imports nothing heavy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

#: What a stage or pipeline may pass as ``items=``: items per value, or a function of it.
ItemsSpec = int | Callable[[Any], int] | None

#: Kinds returned by ``kind_of``.
ONE, LOOK = 0, 1


def _leading_dim(x: Any) -> int | None:
    """The leading dimension of an array-like value; None for anything without a shape or
    with a 0-d or unknown one."""
    shape = getattr(x, "shape", None)
    if shape is None or isinstance(x, type):
        return None
    try:
        if len(shape) == 0:
            return None
        dim = shape[0]
        return None if dim is None else int(dim)
    except (TypeError, ValueError):
        return None


def _shared_dim(values: Iterable[Any]) -> int | None:
    """The leading dimension all ``values`` share, when every one is an array of at least
    one dimension; None otherwise."""
    dim: int | None = None
    seen = False
    for v in values:
        d = _leading_dim(v)
        if d is None or (seen and d != dim):
            return None
        dim, seen = d, True
    return dim if seen else None


def count_items(value: Any) -> int:
    """Items in one yielded value (the model in this module's docstring).

    Returns:
        a count >= 0 (an empty list is 0 items).
    """
    if isinstance(value, str | bytes | bytearray | int | float | complex):
        return 1
    if isinstance(value, dict):
        return _shared_dim(value.values()) or 1
    if isinstance(value, tuple):
        return _shared_dim(value) or 1
    if isinstance(value, list):
        if not value:
            return 0
        shared = _shared_dim(value) if len(value) <= 8 else None
        return len(value) if shared is None else shared
    if getattr(value, "shape", None) is not None:
        dim = _leading_dim(value)
        return 1 if dim is None else dim
    if hasattr(type(value), "__len__"):
        try:
            return len(value)
        except TypeError:
            return 1
    return 1


def kind_of(tp: type) -> int:
    """``ONE`` when every value of type ``tp`` is one item whatever it holds (so the probe
    need not look at the value again), ``LOOK`` when ``count_items`` must look."""
    if issubclass(tp, str | bytes | bytearray | int | float | complex):
        return ONE
    if issubclass(tp, tuple | dict | list):
        return LOOK
    if hasattr(tp, "shape") or hasattr(tp, "__len__"):
        return LOOK
    return ONE


def counter_for(items: ItemsSpec) -> Callable[[Any], int]:
    """The count function for an ``items=`` override (None: the model above)."""
    if items is None:
        return count_items
    if isinstance(items, bool) or not (isinstance(items, int) or callable(items)):
        raise TypeError(f"items= takes an int or a function of the value, not {items!r}")
    if isinstance(items, int):
        if items < 0:
            raise ValueError(f"items= must be >= 0, not {items}")
        n = items
        return lambda _value: n
    return items
