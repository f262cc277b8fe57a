"""The authoring API: ``@pipeline`` marks a factory, ``stage`` names a step of its chain.

This module is imported by user pipeline modules, so it stays small and imports nothing
heavy: no Textual, no torch, no engine.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, overload

# Where they lived before authoring/home.py; kept importable from here.
from workbench.authoring.home import data_dir, pipebench_home  # noqa: F401
from workbench.authoring.items import ItemsSpec, counter_for


class PipelineDefinitionError(TypeError):
    """A ``@pipeline`` factory or a ``stage`` that cannot work as written."""


@dataclass(frozen=True)
class Param:
    """One keyword parameter of a pipeline factory."""

    name: str
    default: Any
    kind: type  # the type a command-line value is converted to


_CONVERTIBLE = (bool, int, float, str, list, tuple, dict)


def _param_kind(p: inspect.Parameter, hints: dict[str, Any]) -> type:
    hint = hints.get(p.name)
    if isinstance(hint, type) and hint in _CONVERTIBLE:
        return hint
    if p.default is not None and type(p.default) in _CONVERTIBLE:
        return type(p.default)
    return str


class Pipeline:
    """A pipeline factory: keyword parameters with defaults in, ``(source, *stages)`` out."""

    def __init__(
        self,
        factory: Callable[..., Any],
        name: str | None = None,
        requires: Iterable[str] = (),
        items: ItemsSpec = None,
    ):
        self.factory = factory
        self.items = items
        self.name = name or factory.__name__
        try:  # a bad items= fails here, where the pipeline is defined
            counter_for(items)
        except (TypeError, ValueError) as exc:
            raise PipelineDefinitionError(f"pipeline {self.name!r}: {exc}") from None
        if inspect.iscoroutinefunction(factory) or inspect.isasyncgenfunction(factory):
            raise PipelineDefinitionError(
                f"pipeline {self.name!r}: its factory is `async def`; make it a plain `def` "
                "that returns the source and the stages (those may be async generators)"
            )
        self.doc = inspect.getdoc(factory) or ""
        self.requires = tuple(requires)
        functools.update_wrapper(self, factory)
        sig = inspect.signature(factory)
        try:
            hints = inspect.get_annotations(factory, eval_str=True)
        except Exception:
            hints = {}
        params = []
        for p in sig.parameters.values():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise PipelineDefinitionError(
                    f"pipeline {self.name!r}: *{p.name} is not allowed; "
                    "declare each parameter with a default"
                )
            if p.default is p.empty:
                raise PipelineDefinitionError(
                    f"pipeline {self.name!r}: parameter {p.name!r} needs a default value"
                )
            params.append(Param(p.name, p.default, _param_kind(p, hints)))
        self.params: tuple[Param, ...] = tuple(params)

    @property
    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def __call__(self, **params: Any) -> Any:
        return self.factory(**params)

    def __repr__(self) -> str:
        return f"<pipeline {self.name}>"


@overload
def pipeline(factory: Callable[..., Any]) -> Pipeline: ...
@overload
def pipeline(
    *, name: str | None = None, requires: Iterable[str] = (), items: ItemsSpec = None
) -> Callable[[Callable[..., Any]], Pipeline]: ...


def pipeline(
    factory: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    requires: Iterable[str] = (),
    items: ItemsSpec = None,
) -> Any:
    """Mark a factory as a pipeline.

    Args:
        factory: returns the source iterable followed by the stages.
        name: the name shown and used in targets (default: the function's name).
        requires: importable modules the pipeline needs (``"torch"``); where one is
            missing the pipeline is listed as unavailable instead of failing.
        items: what one value yielded by the source or any stage counts as, where the
            model of ``workbench.authoring.items`` is wrong for this pipeline: an int per
            value, or a function of the value returning an int. A stage's own ``items=``
            wins.
    """
    if factory is None:
        return lambda f: Pipeline(f, name=name, requires=requires, items=items)
    return Pipeline(factory, name=name, requires=requires, items=items)


class Stage:
    """A named stage: a callable from an iterator to an iterator.

    With ``workers`` it is map-like instead: ``fn`` takes one value (an item or a batch)
    and returns one, and the stage applies it to every value from upstream on ``workers``
    joblib workers (see ``workbench.authoring.parallel``), in order unless ``ordered=False``.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        name: str | None = None,
        *,
        workers: int | None = None,
        ordered: bool = True,
        pre_dispatch: int | None = None,
        items: ItemsSpec = None,
    ):
        if not callable(fn):
            raise PipelineDefinitionError(f"stage {fn!r} is not callable")
        for label, value in (("workers", workers), ("pre_dispatch", pre_dispatch)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise PipelineDefinitionError(
                    f"stage {name or stage_name(fn)!r}: {label} must be a whole number >= 1, "
                    f"not {value!r}"
                )
        self.fn = fn
        self.name = name or stage_name(fn)
        self.workers = workers
        self.ordered = ordered
        self.pre_dispatch = pre_dispatch  # items taken ahead of those yielded; 2 x workers
        try:
            counter_for(items)
        except (TypeError, ValueError) as exc:
            raise PipelineDefinitionError(f"stage {self.name!r}: {exc}") from None
        self.items = items

    def __call__(self, upstream: Iterator[Any]) -> Iterator[Any]:
        if self.workers is None:
            return self.fn(upstream)
        from workbench.authoring.parallel import fan_out  # joblib is imported only here

        return fan_out(self, upstream)

    def __repr__(self) -> str:
        more = f" workers={self.workers}" if self.workers is not None else ""
        return f"<stage {self.name}{more}>"


def stage(
    fn: Callable[..., Any],
    name: str | None = None,
    *,
    workers: int | None = None,
    ordered: bool = True,
    pre_dispatch: int | None = None,
    items: ItemsSpec = None,
) -> Stage:
    """Give a stage a name, or fan a map-like stage out over workers.

    Args:
        fn: a stage (iterator in, iterator out); with ``workers``, a function applied to
            each value from upstream (an item or a batch), one value in, one out.
        name: the name shown (default: the function's name).
        workers: run ``fn`` on this many joblib workers (loky processes by default; the
            backend is chosen per run: ``pipebench run --backend``). On a Dask cluster the
            cluster's threads set the parallelism, as in joblib.
        ordered: yield results in upstream order (False: as they complete).
        pre_dispatch: the most values taken from upstream ahead of those yielded
            (default 2 x workers), which bounds memory.
        items: what one value this stage yields counts as, where the model of
            ``workbench.authoring.items`` is wrong for it: an int per value (``items=1``:
            each value is one item) or a function of the value returning an int.
    """
    return Stage(
        fn, name=name, workers=workers, ordered=ordered, pre_dispatch=pre_dispatch, items=items
    )


def stage_items(obj: Any, default: ItemsSpec = None) -> ItemsSpec:
    """The ``items=`` override for a source or stage: its own, else the pipeline's."""
    own = obj.items if isinstance(obj, Stage) else None
    return own if own is not None else default


def stage_name(obj: Any) -> str:
    """The name a stage or source is shown under."""
    if isinstance(obj, Stage):
        return obj.name
    if isinstance(obj, functools.partial):
        return stage_name(obj.func)
    name = getattr(obj, "__name__", None)
    if isinstance(name, str) and name != "<lambda>":
        return name
    if inspect.isgenerator(obj):
        return obj.gi_code.co_name
    if inspect.isasyncgen(obj):
        return obj.ag_code.co_name
    if type(obj).__module__.startswith("tensorflow.python.data"):
        return "tf.data"  # a Dataset: its class name (_PrefetchDataset) says little
    return type(obj).__name__
