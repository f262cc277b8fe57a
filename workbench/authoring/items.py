"""What one yielded value counts as: the item model every stage count and rate uses.

Imported by the engine's probe and by parallel stages (which count what their workers
return), so it lives with the authoring API and imports nothing heavy.
"""

from __future__ import annotations

import sys
from typing import Any


def batch_types() -> tuple[type, ...]:
    """Types whose values are batches: NumPy arrays, and torch tensors if torch is loaded."""
    types: list[type] = []
    np = sys.modules.get("numpy")
    if np is not None:
        types.append(np.ndarray)
    torch = sys.modules.get("torch")
    if torch is not None:
        types.append(torch.Tensor)
    return tuple(types)


def _leading_dim(x: Any) -> int | None:
    shape = getattr(x, "shape", None)
    if shape is None or len(shape) == 0:
        return None
    return int(shape[0])


def _shared_leading_dim(values: Any) -> int | None:
    dims = {_leading_dim(v) for v in values}
    if len(dims) == 1:
        return dims.pop()
    return None


def count_items(x: Any) -> int:
    """Items in one yielded value.

    An array or tensor counts its leading dimension. A list or tuple counts its length,
    except a small structure of arrays that share a leading dimension (``(X, y)`` as a
    DataLoader collates it), which counts that dimension; a dict or named tuple of such
    arrays likewise. Anything else (a scalar, a record, a string) is one item.
    """
    if type(x) is list or type(x) is tuple:
        if not x:
            return 0
        shared = _shared_leading_dim(x) if len(x) <= 8 else None
        return len(x) if shared is None else shared
    if isinstance(x, (dict, tuple)):  # a record, or a named structure of arrays
        shared = _shared_leading_dim(x.values() if isinstance(x, dict) else x)
        return 1 if shared is None else shared
    dim = _leading_dim(x)
    return 1 if dim is None else dim
