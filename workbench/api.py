"""The authoring API: ``@pipeline`` marks a factory, ``stage`` names a step of its chain.

This module is imported by user pipeline modules, so it stays small and imports nothing
heavy: no Textual, no torch, no engine.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload


class PipelineDefinitionError(TypeError):
    """A ``@pipeline`` factory or a ``stage`` that cannot work as written."""


@dataclass(frozen=True)
class Param:
    """One keyword parameter of a pipeline factory."""

    name: str
    default: Any
    kind: type  # the type a command-line value is converted to


_CONVERTIBLE = (bool, int, float, str)


def _param_kind(p: inspect.Parameter, hints: dict[str, Any]) -> type:
    hint = hints.get(p.name)
    if isinstance(hint, type) and hint in _CONVERTIBLE:
        return hint
    if p.default is not None and type(p.default) in _CONVERTIBLE:
        return type(p.default)
    return str


class Pipeline:
    """A pipeline factory: keyword parameters with defaults in, ``(source, *stages)`` out."""

    def __init__(self, factory: Callable[..., Any], name: str | None = None,
                 requires: Iterable[str] = ()):
        self.factory = factory
        self.name = name or factory.__name__
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
    *, name: str | None = None, requires: Iterable[str] = ()
) -> Callable[[Callable[..., Any]], Pipeline]: ...


def pipeline(factory: Callable[..., Any] | None = None, *, name: str | None = None,
             requires: Iterable[str] = ()) -> Any:
    """Mark a factory as a pipeline.

    Args:
        factory: returns the source iterable followed by the stages.
        name: the name shown and used in targets (default: the function's name).
        requires: importable modules the pipeline needs (``"torch"``); where one is
            missing the pipeline is listed as unavailable instead of failing.
    """
    if factory is None:
        return lambda f: Pipeline(f, name=name, requires=requires)
    return Pipeline(factory, name=name, requires=requires)


class Stage:
    """A named stage: a callable from an iterator to an iterator."""

    def __init__(self, fn: Callable[[Iterator[Any]], Iterator[Any]], name: str | None = None):
        if not callable(fn):
            raise PipelineDefinitionError(f"stage {fn!r} is not callable")
        self.fn = fn
        self.name = name or stage_name(fn)

    def __call__(self, upstream: Iterator[Any]) -> Iterator[Any]:
        return self.fn(upstream)

    def __repr__(self) -> str:
        return f"<stage {self.name}>"


def stage(fn: Callable[[Iterator[Any]], Iterator[Any]], name: str | None = None) -> Stage:
    """Give a stage a name (plain generator functions need no wrapping)."""
    return Stage(fn, name=name)


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
    return type(obj).__name__


def pipebench_home() -> Path:
    """pipebench's folder for run records and generated data: ``$PIPEBENCH_HOME``, else
    ``./.pipebench``."""
    home = os.environ.get("PIPEBENCH_HOME")
    return Path(home) if home else Path.cwd() / ".pipebench"


def data_dir() -> Path:
    """Where pipelines keep data they generate (``<home>/data``); created on first use."""
    path = pipebench_home() / "data"
    path.mkdir(parents=True, exist_ok=True)
    return path
