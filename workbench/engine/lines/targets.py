"""What ``pipebench lines`` can profile: stage names, stage objects and ``--function`` specs
resolved to Python functions, or one line saying why not.

Runs in the runner child, where the user's module is imported. Nothing here starts a
profiler; ``lines.py`` does that with what this module finds.
"""

from __future__ import annotations

import difflib
import dis
import functools
import gc
import importlib
import inspect
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.authoring.pipeline import Stage
from workbench.text import printable

_CALLABLE_METHODS = ("__init__", "__iter__", "__next__", "__call__")


@dataclass
class Resolved:
    """A stage or a ``--function``: the Python functions to profile, or why there are none."""

    label: str
    functions: list[types.FunctionType] = field(default_factory=list)
    problem: str | None = None  # no Python source: one line naming the problem and the fix
    note: str | None = None  # profiled, with something the reader should know
    #: (compiled, python twin): a Numba dispatcher to replace by its ``py_func`` for the
    #: run, so that the Python lines profiled are the ones that run.
    swaps: list[tuple[Any, types.FunctionType]] = field(default_factory=list)


def numba_compiled(obj: Any) -> bool:
    """Whether ``obj`` is a Numba dispatcher (``@njit``, ``@jit``, ``@vectorize``...): its
    calls run machine code, never its Python lines."""
    return type(obj).__module__.split(".")[0] == "numba" and isinstance(
        getattr(obj, "py_func", None), types.FunctionType
    )


def _numba_problem(what: str, spec: str) -> str:
    return (
        f"{what} is compiled by Numba: none of its Python lines run, so line_profiler has "
        f"nothing to count; profile its Python twin with --function {spec}.py_func (the "
        "same code run by the interpreter for this profile, slower than the compiled one, "
        "so read its lines as shares, not as the compiled time)"
    )


def select_stages(
    names: tuple[str, ...], wanted: tuple[str, ...], everything: bool, pipeline: str
) -> tuple[list[int], list[str]]:
    """Chain positions of the wanted stage names (all of them with ``everything``), and one
    problem line per name that is not a stage of the pipeline."""
    if everything:
        return list(range(len(names))), []
    picked: list[int] = []
    problems = []
    shown = [printable(n) for n in names]  # a name as the screen shows it selects it too
    for name in wanted:
        if name in names or name in shown:
            i = names.index(name) if name in names else shown.index(name)
            if i not in picked:
                picked.append(i)
        else:
            listed = ", ".join(f"{n} (source)" if i == 0 else n for i, n in enumerate(shown))
            close = difflib.get_close_matches(name, shown, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            problems.append(f"no stage {name!r} in {pipeline}{hint}; its stages: {listed}")
    return picked, problems


def _label(obj: Any) -> str:
    mod = getattr(obj, "__module__", None)
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if name is None:
        return type(obj).__name__
    return name if mod in (None, "builtins") else f"{mod}.{name}"


def _python_function_args(p: functools.partial) -> list[types.FunctionType]:  # type: ignore[type-arg]
    return [a for a in (*p.args, *p.keywords.values()) if isinstance(a, types.FunctionType)]


def _spec(fn: types.FunctionType) -> str:
    return f"{fn.__module__}:{fn.__qualname__}"


def python_functions(obj: Any) -> list[types.FunctionType]:
    """The Python functions that run when ``obj`` is called: a function (unwrapped from its
    decorators), a bound method's function, a class's own methods, or an instance's
    ``__call__``. Empty for builtins and other C callables."""
    if isinstance(obj, types.MethodType):
        obj = obj.__func__
    if isinstance(obj, (staticmethod, classmethod)):
        obj = obj.__func__
    if isinstance(obj, types.FunctionType):
        inner = inspect.unwrap(obj)
        return [inner] if isinstance(inner, types.FunctionType) else [obj]
    if isinstance(obj, type):
        found = []
        for name in _CALLABLE_METHODS:
            found += [f for f in python_functions(obj.__dict__.get(name)) if f not in found]
        return found
    call = type(obj).__dict__.get("__call__")
    if obj is not None and isinstance(call, types.FunctionType):
        return python_functions(call)
    return []


def resolve_stage(name: str, obj: Any) -> Resolved:
    """The Python functions of one stage (a ``stage(...)``, a partial, a function, a
    callable object), or a problem line when it is a builtin with no Python source."""
    seen = obj
    via = ""
    while True:
        if isinstance(seen, Stage):
            seen = seen.fn
        elif isinstance(seen, functools.partial):
            via = " (through functools.partial)"
            hint = [_spec(f) for f in _python_function_args(seen)]
            inner = seen.func
            if not python_functions(inner):
                fix = (
                    f"profile the function it calls with --function {hint[0]}"
                    if hint
                    else "profile the Python functions it calls with --function MODULE:QUALNAME"
                )
                return Resolved(
                    name,
                    problem=(
                        f"stage {name} is the builtin {_label(inner)}{via}: it has no Python "
                        f"source to profile line by line; {fix}"
                    ),
                )
            seen = inner
        else:
            break
    funcs = python_functions(seen)
    if numba_compiled(seen):
        py = seen.py_func
        return Resolved(name, problem=_numba_problem(f"stage {name}{via}", _spec(py)))
    if not funcs:
        return Resolved(
            name,
            problem=(
                f"stage {name} is the builtin {_label(seen)}{via}: it has no Python source to "
                "profile line by line; profile the Python functions it calls with "
                "--function MODULE:QUALNAME"
            ),
        )
    return Resolved(name, funcs)


def _arguments(gen: types.GeneratorType) -> tuple[list[Any], dict[str, Any]] | None:  # type: ignore[type-arg]
    """The arguments a generator not yet started was called with, from its frame."""
    frame = gen.gi_frame
    if frame is None:
        return None
    code, local = gen.gi_code, frame.f_locals
    n_pos, n_kw = code.co_argcount, code.co_kwonlyargcount
    names = code.co_varnames
    try:
        args = [local[n] for n in names[:n_pos]]
        kwargs = {n: local[n] for n in names[n_pos : n_pos + n_kw]}
        extra = n_pos + n_kw
        if code.co_flags & inspect.CO_VARARGS:
            args += list(local[names[extra]])
            extra += 1
        if code.co_flags & inspect.CO_VARKEYWORDS:
            kwargs.update(local[names[extra]])
    except KeyError:
        return None
    return args, kwargs


def resolve_source(name: str, source: Iterator[Any]) -> tuple[Resolved, Any]:
    """The source's generator function and a fresh generator to profile in its place.

    The factory has already called the source's generator function, so its generator
    runs the code as it was. A generator not started yet is made again, from the same
    function with the same arguments, after the function is registered with the
    profiler. Returns (what was resolved, a callable making the new generator or None).
    """
    if not isinstance(source, types.GeneratorType):
        return Resolved(
            name,
            problem=(
                f"the source {name} is a {type(source).__name__} the factory built before "
                "pipebench saw it: its lines cannot be profiled; profile the functions it calls "
                "with --function MODULE:QUALNAME"
            ),
        ), None
    started = inspect.getgeneratorstate(source) != inspect.GEN_CREATED
    makers = [f for f in gc.get_referrers(source.gi_code) if isinstance(f, types.FunctionType)]
    bound = None if started else _arguments(source)
    if started or len(makers) != 1 or bound is None:
        why = "was already started" if started else "cannot be made again"
        return Resolved(
            name,
            problem=(
                f"the source {name} is a generator that {why}: its lines cannot be profiled; "
                "profile the functions it calls with --function MODULE:QUALNAME"
            ),
        ), None
    fn = makers[0]
    args, kwargs = bound
    note = (
        f"the source {name} was made again from {fn.__qualname__} with the same "
        "arguments, so that its lines can be profiled"
    )
    return Resolved(name, [fn], note=note), lambda: fn(*args, **kwargs)


def resolve_function(spec: str, home: types.ModuleType) -> Resolved:
    """A ``--function module:qualname`` (or ``qualname``, in the pipeline's module)."""
    module_name, sep, qualname = spec.rpartition(":")
    if not qualname or (sep and not module_name):
        return Resolved(
            spec,
            problem=f"--function {spec!r}: give it as MODULE:QUALNAME, "
            "e.g. mypipeline:normalize or mypipeline:Tok.split",
        )
    home_names = {home.__name__, Path(getattr(home, "__file__", "") or "").stem}
    if not module_name or module_name in home_names:
        module: types.ModuleType = home
    else:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            return Resolved(
                spec,
                problem=(
                    f"--function {spec}: cannot import {module_name!r} ({exc}); name a module "
                    f"the pipeline can import, or its own ({home.__name__})"
                ),
            )
        except Exception as exc:
            return Resolved(
                spec,
                problem=(
                    f"--function {spec}: importing {module_name!r} raised "
                    f"{type(exc).__name__}: {exc}"
                ),
            )
    if "<locals>" in qualname:
        return Resolved(
            spec,
            problem=(
                f"--function {spec}: a function defined inside another cannot be found by "
                "name; move it to module level or profile the function that defines it"
            ),
        )
    obj: Any = module
    compiled: Any = None  # the Numba dispatcher whose py_func was named
    for part in qualname.split("."):
        if part == "py_func" and numba_compiled(obj):
            compiled = obj
        try:
            obj = inspect.getattr_static(obj, part)
        except AttributeError:
            where = getattr(obj, "__name__", type(obj).__name__)
            names = _own_callables(obj)
            close = difflib.get_close_matches(part, names, n=1)
            shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
            has = (f" (did you mean {close[0]}?)" if close else "") + (
                f"; it defines: {shown}" if shown else ""
            )
            return Resolved(spec, problem=f"--function {spec}: no {part!r} in {where}{has}")
    if numba_compiled(obj):
        return Resolved(spec, problem=_numba_problem(f"--function {spec}", spec))
    funcs = python_functions(obj)
    if not funcs:
        return Resolved(
            spec,
            problem=(
                f"--function {spec} is the builtin {_label(obj)}: it has no Python source to "
                "profile line by line; name the Python function that calls it"
            ),
        )
    if compiled is not None and isinstance(obj, types.FunctionType):
        name = qualname.rpartition(".py_func")[0]
        return Resolved(
            spec,
            funcs,
            note=(
                f"{name} ran as Python for this profile (its Numba-compiled code replaced "
                "by its py_func): its times are the interpreter's, slower than the "
                "compiled code; the shares of its lines show where the work is"
            ),
            swaps=[(compiled, obj)],
        )
    return Resolved(spec, funcs)


def _own_callables(obj: Any) -> list[str]:
    """Public functions and classes a module or class defines itself (not imports)."""
    try:
        items = vars(obj).items()
    except TypeError:
        return []
    home = obj.__name__ if isinstance(obj, types.ModuleType) else None
    return sorted(
        n
        for n, v in items
        if not n.startswith("_")
        and python_functions(v)
        and (home is None or getattr(v, "__module__", None) == home)
    )


def swap_everywhere(compiled: Any, twin: Any) -> int:
    """Replace ``compiled`` by ``twin`` wherever a module holds it as a global (its own
    module and every ``from m import f``); returns how many names now point to the twin.
    A reference kept elsewhere (a closure, a partial, an object) still calls the compiled
    code."""
    swapped = 0
    for module in list(sys.modules.values()):
        try:
            names = [n for n, v in vars(module).items() if v is compiled]
        except TypeError:
            continue
        for name in names:
            setattr(module, name, twin)
            swapped += 1
    return swapped


def delegating_lines(fn: types.FunctionType) -> list[int]:
    """Lines of ``fn`` that delegate to another generator (``yield from``): line_profiler
    counts such a line once, however many values pass through it."""
    found, line = set(), None
    for ins in dis.get_instructions(fn.__code__):
        if ins.starts_line is not None:
            line = ins.starts_line
        if ins.opname in ("SEND", "YIELD_FROM") and line is not None:
            found.add(line)
    return sorted(found)
