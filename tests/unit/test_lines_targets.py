"""What ``pipebench lines`` can profile: stage names, stage objects, sources and
``--function`` specs resolved to Python functions, or one line saying why not."""

from __future__ import annotations

import functools
import json
import sys
import types

from numba import njit

from workbench.authoring.pipeline import stage
from workbench.engine.lines.targets import (
    delegating_lines,
    python_functions,
    resolve_function,
    resolve_source,
    resolve_stage,
    select_stages,
    swap_everywhere,
)

NAMES = ("read", "tokenize", "features")


def gen_stage(items):
    for x in items:
        yield x + 1


def helper(x):
    return x


class Tok:
    def __init__(self, upstream):
        self.upstream = upstream

    def __iter__(self):
        return self

    def __next__(self):
        return next(self.upstream)


class CallableStage:
    def __call__(self, upstream):
        return iter(upstream)


def delegating(items):
    yield 0
    yield from items


def test_select_stages():
    assert select_stages(NAMES, ("tokenize", "read", "tokenize"), False, "p") == ([1, 0], [])
    assert select_stages(NAMES, (), True, "p") == ([0, 1, 2], [])
    picked, problems = select_stages(NAMES, ("tokenise", "features"), False, "p")
    assert picked == [2]
    (line,) = problems
    assert line == (
        "no stage 'tokenise' in p (did you mean tokenize?); "
        "its stages: read (source), tokenize, features"
    )

    # A name with control characters is picked by the name as the screen shows it.
    odd = ("read", "dou\x1b[31mble\tx")
    assert select_stages(odd, ("double    x",), False, "p") == ([1], [])
    _, (line,) = select_stages(odd, ("nope",), False, "p")
    assert "\x1b" not in line and "double    x" in line


def test_python_stages_resolve_to_their_functions():
    assert resolve_stage("s", gen_stage).functions == [gen_stage]
    assert resolve_stage("s", stage(gen_stage, name="x")).functions == [gen_stage]
    assert resolve_stage("s", functools.partial(gen_stage)).functions == [gen_stage]
    assert resolve_stage("s", functools.wraps(gen_stage)(lambda up: gen_stage(up))).functions == [
        gen_stage
    ]  # unwrapped from its decorator
    assert resolve_stage("s", Tok).functions == [Tok.__init__, Tok.__iter__, Tok.__next__]
    assert resolve_stage("s", CallableStage()).functions == [CallableStage.__call__]


def test_builtin_stages_are_one_clear_line():
    r = resolve_stage("mapped", functools.partial(map, helper))
    assert r.functions == []
    assert r.problem is not None and "\n" not in r.problem
    assert r.problem.startswith("stage mapped is the builtin map (through functools.partial)")
    assert f"--function {__name__}:helper" in r.problem
    r = resolve_stage("texts", stage(functools.partial(map, str), name="texts"))
    assert "builtin map" in (r.problem or "") and "MODULE:QUALNAME" in (r.problem or "")
    assert "builtin len" in (resolve_stage("n", len).problem or "")
    assert python_functions(sorted) == []


def test_a_source_generator_not_started_is_made_again():
    def numbers(n, *, step=1):
        yield from range(0, n, step)

    r, remake = resolve_source("numbers", numbers(6, step=2))
    assert r.functions == [numbers] and r.problem is None and remake is not None
    assert list(remake()) == [0, 2, 4]
    started = numbers(3)
    next(started)
    r, remake = resolve_source("numbers", started)
    assert remake is None and "already started" in (r.problem or "")
    r, remake = resolve_source("rows", iter([1, 2]))
    assert remake is None and "list_iterator" in (r.problem or "")


def test_resolve_function_specs():
    home = sys.modules[__name__]
    assert resolve_function(f"{__name__}:helper", home).functions == [helper]
    assert resolve_function("helper", home).functions == [helper]  # the pipeline's module
    assert resolve_function("Tok.__next__", home).functions == [Tok.__next__]
    assert resolve_function("json:loads", home).functions == [json.loads]
    missing = resolve_function("json:lods", home)
    assert missing.problem == (
        "--function json:lods: no 'lods' in json (did you mean "
        "loads?); it defines: detect_encoding, dump, dumps, load, loads"
    )
    assert "cannot import 'nosuch'" in (resolve_function("nosuch:f", home).problem or "")
    assert "builtin math.sqrt" in (resolve_function("math:sqrt", home).problem or "")
    assert "MODULE:QUALNAME" in (resolve_function(":", home).problem or "")
    local = resolve_function("f.<locals>.g", types.ModuleType("m"))
    assert "inside another" in (local.problem or "")


def test_delegating_lines():
    first = delegating.__code__.co_firstlineno
    assert delegating_lines(delegating) == [first + 2]
    assert delegating_lines(gen_stage) == []


@njit
def compiled_norm(a):
    s = 0.0
    for x in a:
        s += x * x
    return s


def calls_compiled_norm(a):
    return compiled_norm(a)


def test_a_numba_dispatcher_says_it_is_compiled_and_names_its_python_twin():
    home = sys.modules[__name__]
    r = resolve_function("compiled_norm", home)
    assert r.functions == [] and r.problem is not None
    assert "builtin" not in r.problem
    assert "is compiled by Numba: none of its Python lines run" in r.problem
    assert "--function compiled_norm.py_func" in r.problem
    stage_r = resolve_stage("norms", compiled_norm)
    assert f"--function {__name__}:compiled_norm.py_func" in (stage_r.problem or "")


def test_the_python_twin_is_profiled_in_place_of_the_compiled_code():
    home = sys.modules[__name__]
    r = resolve_function(f"{__name__}:compiled_norm.py_func", home)
    assert r.problem is None and r.functions == [compiled_norm.py_func]
    assert r.swaps == [(compiled_norm, compiled_norm.py_func)]
    assert "ran as Python for this profile" in (r.note or "")
    dispatcher = compiled_norm
    try:
        assert swap_everywhere(dispatcher, dispatcher.py_func) >= 1
        assert home.compiled_norm is dispatcher.py_func  # callers now run the Python lines
        assert calls_compiled_norm([3.0, 4.0]) == 25.0
    finally:
        home.compiled_norm = dispatcher
