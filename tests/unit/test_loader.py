"""Every way of naming a pipeline wrongly gets one clear line that says what to do."""

from __future__ import annotations

import sys

import pytest

from workbench import pipeline
from workbench.authoring.pipeline import PipelineDefinitionError
from workbench.engine.loader import (
    Target,
    examples_dir,
    load_module,
    missing_requirement,
    parse_target,
    resolve_params,
    select_pipeline,
)
from workbench.errors import UserError

GOOD = """
from workbench import pipeline

def numbers(n):
    yield from range(n)

def square(it):
    for x in it:
        yield x * x

@pipeline
def squares(batch_size: int = 8, n: int = 100, scale: float = 1.0, fast: bool = False,
            label: str = "x"):
    return numbers(n), square

@pipeline
def cubes(batch_size: int = 8):
    return numbers(10), square
"""


def one_line(exc: pytest.ExceptionInfo[UserError]) -> str:
    message = exc.value.message
    assert "\n" not in message
    return message


def test_parse_target():
    assert parse_target("pipelines/a.py") == Target("pipelines/a.py")
    assert parse_target("pipelines/a.py:squares") == Target("pipelines/a.py", "squares")
    assert parse_target("pkg.mod:fn") == Target("pkg.mod", "fn")
    assert parse_target("pkg.mod").is_path is False
    assert parse_target("a.py").is_path is True


def test_a_pipeline_name_after_dot_py_colon_may_hold_anything(tmp_path):
    path = tmp_path / "x.py:y" / "mod.py"
    path.parent.mkdir()
    path.write_text("")
    name = "tokenize (fast): v2 [/x] a.py:b"
    assert parse_target(f"{path}:{name}") == Target(str(path), name)
    assert parse_target(f"{tmp_path}/missing.py:a b") == Target(f"{tmp_path}/missing.py:a b")


def test_loads_and_selects_by_name(write_module):
    path = write_module("good_mod", GOOD)
    module = load_module(Target(str(path)))
    p = select_pipeline(module, Target(str(path), "squares"))
    assert p.name == "squares"
    assert [q.name for q in p.params] == ["batch_size", "n", "scale", "fast", "label"]
    params = resolve_params(p, {"n": "1_000", "scale": "0.5", "fast": "yes", "label": "7"})
    assert params == {"batch_size": 8, "n": 1000, "scale": 0.5, "fast": True, "label": "7"}


def test_missing_file(tmp_path):
    with pytest.raises(UserError) as exc:
        load_module(Target(str(tmp_path / "nope.py")))
    assert "no such file" in one_line(exc)
    other = tmp_path / "passwd"  # a file that is not a module: said so, never imported
    other.write_text("root:x:0:0:root:/root:/bin/bash\n")
    with pytest.raises(UserError) as exc:
        load_module(Target(str(other)))
    assert "is not a Python module" in one_line(exc) and ".py" in one_line(exc)


def test_syntax_error_names_file_and_line(write_module):
    path = write_module("broken", "x = 1\ndef f(:\n    pass\n")
    with pytest.raises(UserError) as exc:
        load_module(Target(str(path)))
    msg = one_line(exc)
    assert "syntax error" in msg and "broken.py" in msg and "line 2" in msg


def test_import_error_names_the_missing_module(write_module):
    path = write_module("needs", "import surely_not_a_module_xyz\n")
    with pytest.raises(UserError) as exc:
        load_module(Target(str(path)))
    assert "surely_not_a_module_xyz" in one_line(exc)


def test_module_raising_on_import(write_module):
    path = write_module("raises", "raise RuntimeError('no config')\n")
    with pytest.raises(UserError) as exc:
        load_module(Target(str(path)))
    assert "RuntimeError: no config" in one_line(exc)
    assert exc.value.traceback and "Traceback" in exc.value.traceback


def test_no_pipelines_says_what_was_found(write_module):
    path = write_module("plain", "def read(n):\n    yield from range(n)\n")
    module = load_module(Target(str(path)))
    with pytest.raises(UserError) as exc:
        select_pipeline(module, Target(str(path)))
    msg = one_line(exc)
    assert "no pipelines" in msg and "read" in msg and "@workbench.pipeline" in msg


def test_unknown_name_lists_the_available(write_module):
    path = write_module("good_mod2", GOOD)
    module = load_module(Target(str(path)))
    with pytest.raises(UserError) as exc:
        select_pipeline(module, Target(str(path), "sqares"))
    assert "squares, cubes" in one_line(exc)


def test_several_pipelines_and_no_name(write_module):
    path = write_module("good_mod3", GOOD)
    module = load_module(Target(str(path)))
    with pytest.raises(UserError) as exc:
        select_pipeline(module, Target(str(path)))
    assert f"{path}:squares" in one_line(exc)


def test_unknown_param_and_wrong_type(write_module):
    path = write_module("good_mod4", GOOD)
    p = select_pipeline(load_module(Target(str(path))), Target(str(path), "squares"))
    with pytest.raises(UserError) as exc:
        resolve_params(p, {"rows": "3"})
    assert "no parameter 'rows'" in one_line(exc) and "batch_size, n, scale" in one_line(exc)
    with pytest.raises(UserError) as exc:
        resolve_params(p, {"n": "many"})
    assert "takes int" in one_line(exc) and "'many'" in one_line(exc)
    with pytest.raises(UserError):
        resolve_params(p, {"fast": "maybe"})


def test_parameters_need_defaults():
    with pytest.raises(PipelineDefinitionError, match="needs a default"):

        @pipeline
        def bad(batch_size, rows=3):
            return range(3)


def test_missing_requirement_is_a_reason():
    @pipeline(requires=["surely_not_a_module_xyz"])
    def needs(batch_size: int = 1):
        return range(3)

    assert "surely_not_a_module_xyz" in missing_requirement(needs)


def test_examples_ship_with_the_package():
    folder = examples_dir()
    assert (folder / "jsonl_tokens.py").exists()
    assert (folder / "numpy_batches.py").exists()
    import workbench.examples.jsonl_tokens as mod

    assert "jsonl_tokens" in sys.modules[mod.__name__].__dict__


def test_sys_exit_on_import_is_a_user_error(write_module):
    path = write_module("exits", "import sys\nsys.exit(3)\n")
    with pytest.raises(UserError) as exc:
        load_module(Target(str(path)))
    assert "SystemExit" in one_line(exc)


def test_values_of_every_type_or_one_line():
    """Floats must be finite; list, tuple and dict defaults take a Python literal of that type,
    never code; anything else is one line naming the parameter."""

    @pipeline
    def shapes(
        batch_size: int = 8,
        rate: float = 1.0,
        dims: tuple = (2, 3),
        tags: list = [],  # noqa: B006
        opts: dict = {},  # noqa: B006
    ):
        return range(3)

    got = resolve_params(
        shapes, {"rate": "2.5", "dims": "(4, 5)", "tags": "['a', 'b']", "opts": "{'k': 1}"}
    )
    assert (got["rate"], got["dims"], got["tags"], got["opts"]) == (
        2.5,
        (4, 5),
        ["a", "b"],
        {"k": 1},
    )
    for name, text in [
        ("rate", "1e400"),
        ("rate", "nan"),
        ("rate", "-inf"),
        ("tags", "[1, 2"),
        ("tags", "(1, 2)"),
        ("dims", "__import__('os').getcwd()"),
        ("opts", "[" * 100_000),
        ("opts", "{'k': }"),
    ]:
        with pytest.raises(UserError) as exc:
            resolve_params(shapes, {name: text})
        assert f"parameter {name!r}" in one_line(exc)


def test_a_file_name_with_dots_loads(tmp_path):
    """my.pipe.py: no import statement can name it, pipebench loads it all the same."""
    path = tmp_path / "my.pipe.py"
    path.write_text(GOOD)
    p = select_pipeline(load_module(Target(str(path))), Target(str(path), "cubes"))
    assert p.name == "cubes"


def test_a_pipeline_is_selected_by_its_name_as_shown(write_module):
    path = write_module(
        "odd_names",
        GOOD.replace("def cubes(", "def cubes_(").replace(
            "@pipeline\ndef cubes_(", '@pipeline(name="cu\\x1b]0;T\\x07bes\\tx")\ndef cubes_('
        ),
    )
    module = load_module(Target(str(path)))
    assert select_pipeline(module, Target(str(path), "cubes    x")).name == "cu\x1b]0;T\x07bes\tx"
    with pytest.raises(UserError) as exc:
        select_pipeline(module, Target(str(path), "nope"))
    assert "\x1b" not in one_line(exc) and "cubes    x" in one_line(exc)
