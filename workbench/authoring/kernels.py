"""The authoring API for kernel sets: one kernel, several labelled implementations.

Imported by user kernel modules, so it stays light: no numba, torch or engine imports.

```python
@kernels(sizes=(1_000, 1_000_000), reference="python", flops=lambda n: 3 * n)
def euclidean(n: int):
    '''Euclidean distance between two vectors of n float64.'''
    rng = np.random.default_rng(0)
    return rng.random(n), rng.random(n)

@euclidean.impl("numpy")
def euclidean_numpy(a, b):
    return float(np.sqrt(np.sum((a - b) ** 2)))
```
"""

from __future__ import annotations

import importlib.util
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from workbench.authoring.pipeline import PipelineDefinitionError

F = TypeVar("F", bound=Callable[..., Any])

#: How results are compared with the reference's: "auto" picks allclose for floating
#: point results and exact equality for integers, strings and dicts.
CHECKS = ("auto", "allclose", "exact", "none")


class KernelDefinitionError(PipelineDefinitionError):
    """A kernel set or implementation that cannot work as written."""


@dataclass(frozen=True)
class Impl:
    """One implementation of a kernel.

    ``prepare`` turns the factory's inputs into what this implementation takes (lists for
    pure Python, tensors for torch); it runs once per size and is never timed.
    ``device="cuda"`` makes the harness synchronise the device before reading the clock.
    ``parallel`` marks one that spreads its work over threads (a Numba
    ``@njit(parallel=True)`` dispatcher is marked by itself): it runs at every usable
    thread by default while the others stay pinned (``pipebench kernels --parallel-threads``).
    """

    label: str
    fn: Callable[..., Any]
    requires: tuple[str, ...] = ()
    prepare: Callable[..., Any] | None = None
    device: str | None = None
    doc: str = ""
    parallel: bool = False


def numba_parallel(fn: Any) -> bool:
    """Whether ``fn`` is a Numba dispatcher compiled with ``parallel=True`` (read from its
    ``targetoptions``, without importing Numba)."""
    options = getattr(fn, "targetoptions", None)
    return isinstance(options, dict) and bool(options.get("parallel"))


def _as_tuple(value: str | Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


class KernelSet:
    """One kernel: an input factory by size and its implementations, by label."""

    def __init__(
        self,
        factory: Callable[[int], Any],
        *,
        name: str | None = None,
        sizes: Iterable[int] = (1_000, 10_000, 100_000),
        reference: str | None = None,
        flops: Callable[[int], float] | None = None,
        bytes: Callable[[int], float] | None = None,
        check: str | Callable[[Any, Any], str | None] = "auto",
        rtol: float = 1e-7,
        atol: float = 1e-10,
    ):
        if not callable(factory):
            raise KernelDefinitionError(f"kernel input factory {factory!r} is not callable")
        self.factory = factory
        self.name = name or factory.__name__
        self.doc = inspect.getdoc(factory) or ""
        self.sizes = tuple(int(s) for s in sizes)
        if not self.sizes or any(s <= 0 for s in self.sizes):
            raise KernelDefinitionError(
                f"kernel {self.name!r}: sizes must be positive whole numbers, got {sizes!r}"
            )
        if isinstance(check, str) and check not in CHECKS:
            raise KernelDefinitionError(
                f"kernel {self.name!r}: check={check!r}; use one of {', '.join(CHECKS)} "
                "or a function (result, reference) -> error text or None"
            )
        self._reference = reference
        self.flops = flops
        self.bytes = bytes
        self.check = check
        self.rtol = rtol
        self.atol = atol
        self.impls: dict[str, Impl] = {}

    @property
    def reference(self) -> str | None:
        """The label results are checked against: the one named, else the first added."""
        if self._reference is not None:
            return self._reference
        return next(iter(self.impls), None)

    def add(
        self,
        label: str,
        fn: Callable[..., Any],
        *,
        requires: str | Iterable[str] = (),
        prepare: Callable[..., Any] | None = None,
        device: str | None = None,
        parallel: bool | None = None,
    ) -> None:
        """Add an implementation (``impl`` is the decorator form)."""
        if not isinstance(label, str) or not label.strip():
            raise KernelDefinitionError(
                f"kernel {self.name!r}: a label must be a non-empty string, got {label!r}"
            )
        if label in self.impls:
            raise KernelDefinitionError(
                f"kernel {self.name!r} already has an implementation labelled {label!r}"
            )
        if not callable(fn):
            raise KernelDefinitionError(f"kernel {self.name!r}: {label} is not callable")
        doc = (inspect.getdoc(getattr(fn, "py_func", fn)) or "").split("\n")[0]
        if parallel is None:
            parallel = numba_parallel(fn)
        self.impls[label] = Impl(
            label, fn, _as_tuple(requires), prepare, device, doc, bool(parallel)
        )

    def impl(
        self,
        label: str,
        *,
        requires: str | Iterable[str] = (),
        prepare: Callable[..., Any] | None = None,
        device: str | None = None,
        parallel: bool | None = None,
    ) -> Callable[[F], F]:
        """Decorator: register the function as the implementation ``label``; the function
        is returned unchanged (a Numba dispatcher stays a dispatcher).

        Args:
            label: ``python``, ``numpy``, ``numba``, ``torch`` or any other name; results
                are compared against the ``python`` and ``numpy`` ones for speedups.
            requires: modules it needs; where one is missing it is listed, not run.
            prepare: converts the factory's inputs for it (untimed), e.g. ``torch_inputs()``.
            device: ``"cuda"`` for GPU implementations (timed with synchronisation).
            parallel: it uses several threads (``prange``, a thread pool): timed at every
                usable thread by default, the others pinned. None: True for a Numba
                dispatcher compiled with ``parallel=True``, else False.
        """

        def register(fn: F) -> F:
            self.add(
                label, fn, requires=requires, prepare=prepare, device=device, parallel=parallel
            )
            return fn

        return register

    def inputs(self, size: int) -> tuple[Any, ...]:
        """The positional arguments for one size (a non-tuple is a single argument).

        The harness calls this once per size and gives every implementation its own deep
        copy (a fresh one per call to an implementation that changes its input), so the
        factory should be deterministic and return lists, arrays or tensors, never
        iterators (those are refused: the first implementation would use them up).
        """
        made = self.factory(size)
        return made if isinstance(made, tuple) else (made,)

    def __call__(self, size: int) -> Any:
        return self.factory(size)

    def __repr__(self) -> str:
        return f"<kernels {self.name}: {', '.join(self.impls)}>"


def kernels(
    factory: Callable[[int], Any] | None = None,
    *,
    name: str | None = None,
    sizes: Iterable[int] = (1_000, 10_000, 100_000),
    reference: str | None = None,
    flops: Callable[[int], float] | None = None,
    bytes: Callable[[int], float] | None = None,
    check: str | Callable[[Any, Any], str | None] = "auto",
    rtol: float = 1e-7,
    atol: float = 1e-10,
) -> Any:
    """Mark an input factory (size -> arguments) as a kernel set.

    Args:
        sizes: the sizes measured by default (``--sizes`` overrides them).
        reference: the implementation whose results are the truth (default: the first).
        flops: floating point operations of one call at a size, for GFLOP/s.
        bytes: bytes one call must move at a size, for GB/s.
        check: "auto", "allclose", "exact", "none", or a function (result, reference)
            returning an error text or None.
        rtol, atol: the allclose tolerances.
    """

    def make(f: Callable[[int], Any]) -> KernelSet:
        return KernelSet(
            f,
            name=name,
            sizes=sizes,
            reference=reference,
            flops=flops,
            bytes=bytes,
            check=check,
            rtol=rtol,
            atol=atol,
        )

    return make if factory is None else make(factory)


def missing_module(impl: Impl) -> str | None:
    """Why an implementation cannot run here (a module it requires is missing), or None."""
    for module in impl.requires:
        try:
            if importlib.util.find_spec(module) is None:
                return f"needs {module}, which is not installed"
        except (ImportError, ValueError):
            return f"needs {module}, which cannot be imported here"
    return None


def torch_inputs(device: str = "cpu") -> Callable[..., tuple[Any, ...]]:
    """A ``prepare`` that moves NumPy arrays to torch tensors on ``device`` (others pass)."""

    def prepare(*args: Any) -> tuple[Any, ...]:
        import numpy as np
        import torch

        return tuple(
            torch.from_numpy(np.ascontiguousarray(a)).to(device) if isinstance(a, np.ndarray) else a
            for a in args
        )

    prepare.__name__ = f"torch_inputs_{device}"
    return prepare


def as_lists(*args: Any) -> tuple[Any, ...]:
    """A ``prepare`` for pure Python implementations: NumPy arrays become nested lists."""
    return tuple(a.tolist() if hasattr(a, "tolist") else a for a in args)
