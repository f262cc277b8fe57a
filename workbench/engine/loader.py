"""Import a user's pipeline module by path or name and find what it declares.

Every failure is a ``UserError`` whose message is one line naming the problem and the fix.
Runs in the runner child (user code is never imported into the UI process).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import math
import os
import re
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from workbench.authoring.pipeline import Param, Pipeline, PipelineDefinitionError
from workbench.errors import StopRun, UserError
from workbench.text import exception_text, names_match, printable

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Target:
    """What to run: a module (file path or dotted name) and optionally one pipeline in it."""

    module: str
    name: str | None = None

    @property
    def is_path(self) -> bool:
        return self.module.endswith(".py") or os.sep in self.module or "/" in self.module

    def __str__(self) -> str:
        return f"{self.module}:{self.name}" if self.name else self.module


def parse_target(text: str) -> Target:
    """``path/to/module.py[:name]`` or ``package.module[:name]``.

    A pipeline may be called anything (``@pipeline(name="tokenize (fast): v2")``): after a
    ``.py:`` whose path exists, the rest is the name, whatever it holds.
    """
    start = 0
    while (at := text.find(".py:", start)) >= 0:
        path, name = text[: at + 3], text[at + 4 :]
        if name and os.path.isfile(path):
            return Target(path, name)
        start = at + 1
    module, sep, name = text.rpartition(":")
    if sep and _NAME.fullmatch(name) and module:
        return Target(module, name)
    return Target(text)


def examples_dir() -> Path:
    """The bundled example pipelines, wherever pipebench is installed."""
    import workbench.examples

    return Path(next(iter(workbench.examples.__path__)))


def default_root() -> Path:
    """``./pipelines`` when it exists, else the bundled examples."""
    here = Path.cwd() / "pipelines"
    return here if here.is_dir() else examples_dir()


def module_files(folder: Path) -> list[Path]:
    """The pipeline modules of a folder: its ``*.py`` files not starting with ``_``."""
    return sorted(p for p in folder.glob("*.py") if not p.name.startswith("_"))


def _import_path(path: Path) -> ModuleType:
    if not path.exists():
        raise UserError(f"no such file: {path} (give a path to a .py file or a module name)")
    if path.is_dir():
        raise UserError(f"{path} is a folder: name one module in it, e.g. {path}/NAME.py")
    if path.suffix != ".py":
        raise UserError(f"{path} is not a Python module: give a path to a .py file")
    path = path.resolve()
    folder, stem = str(path.parent), path.stem
    if folder not in sys.path:
        # Like `python path/to/module.py`: siblings are importable, and the module has a
        # real name so that process pools and DataLoader workers can pickle what it defines.
        sys.path.insert(0, folder)
    existing = sys.modules.get(stem)
    if "." in stem or (existing is not None and getattr(existing, "__file__", None) != str(path)):
        # my.pipe.py: no import can name it (the dot means a package), so it is loaded
        # from its file; so is a file whose name another module already has
        name = stem.replace(".", "_")
        taken = sys.modules.get(name)
        if name == stem or (taken is not None and getattr(taken, "__file__", None) != str(path)):
            name = f"_pipebench_{abs(hash(path))}"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        return module
    importlib.invalidate_caches()
    return importlib.import_module(stem)


def load_module(target: Target) -> ModuleType:
    """Import the target's module, turning every way it can fail into one clear line."""
    where = target.module
    try:
        if target.is_path:
            return _import_path(Path(target.module))
        return importlib.import_module(target.module)
    except UserError:
        raise
    except SyntaxError as exc:
        raise UserError(
            f"syntax error in {exc.filename}, line {exc.lineno}: {exc.msg}",
            traceback=traceback.format_exc(),
        ) from None
    except ModuleNotFoundError as exc:
        if not target.is_path and exc.name and target.module.startswith(exc.name):
            raise UserError(
                f"no module named {target.module!r}: give a path to a .py file, "
                "or install the package that provides it"
            ) from None
        raise UserError(
            f"importing {where} failed: it needs the module {exc.name!r}, "
            "which is not installed here",
            traceback=traceback.format_exc(),
        ) from None
    except PipelineDefinitionError as exc:
        raise UserError(f"{where}: {exc}", traceback=traceback.format_exc()) from None
    except (KeyboardInterrupt, StopRun):
        raise
    except BaseException as exc:  # SystemExit included: an import must not end the run
        raise UserError(
            f"importing {where} raised {exception_text(exc)}",
            traceback=traceback.format_exc(),
        ) from None


def find_pipelines(module: ModuleType) -> dict[str, Pipeline]:
    """The ``@pipeline`` factories a module defines, by name, in source order."""
    found = {}
    for value in vars(module).values():
        if isinstance(value, Pipeline) and getattr(value.factory, "__module__", None) in (
            module.__name__,
            None,
        ):
            found[value.name] = value
    return found


def _what_was_found(module: ModuleType) -> str:
    funcs = [
        n
        for n, v in vars(module).items()
        if inspect.isfunction(v) and v.__module__ == module.__name__ and not n.startswith("_")
    ]
    if not funcs:
        return "it defines no functions"
    shown = ", ".join(funcs[:5]) + (", ..." if len(funcs) > 5 else "")
    return f"it defines {len(funcs)} function(s) ({shown}) but none is marked @pipeline"


def select_pipeline(module: ModuleType, target: Target) -> Pipeline:
    """The pipeline the target names, or the module's only one."""
    found = find_pipelines(module)
    if not found:
        raise UserError(
            f"no pipelines in {target.module}: {_what_was_found(module)}; "
            "decorate a factory with @workbench.pipeline"
        )
    if target.name is None:
        if len(found) == 1:
            return next(iter(found.values()))
        first = next(iter(found))
        names = ", ".join(found)
        raise UserError(
            f"{target.module} has {len(found)} pipelines ({names}): "
            f"name one, e.g. {target.module}:{first}"
        )
    if target.name in found:
        return found[target.name]
    # A name as the screen shows it (``pipebench list``: control characters made visible,
    # escape sequences left out) selects its pipeline too.
    for name, p in found.items():
        if names_match(target.name, name):
            return p
    shown = ", ".join(printable(name) for name in found)
    raise UserError(f"no pipeline {target.name!r} in {target.module}; available: {shown}")


def missing_requirement(p: Pipeline) -> str | None:
    """Why the pipeline cannot run here (a required module is missing), or None."""
    for name in p.requires:
        try:
            if importlib.util.find_spec(name) is None:
                return f"needs {name}, which is not installed (pip install {name})"
        except (ImportError, ValueError):
            return f"needs {name}, which cannot be imported here"
    return None


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def convert(param: Param, text: str, pipeline_name: str) -> Any:
    """A command-line value converted to the parameter's type: bool (true/false, yes/no,
    on/off, 1/0), int (``_`` allowed), a finite float, a list, tuple or dict written as a
    Python literal; any other type takes the text as it is.

    Raises:
        UserError: one line naming the parameter, its type and the value it cannot take.
    """
    kind = param.kind
    try:
        if kind is bool:
            low = text.lower()
            if low in _TRUE | _FALSE:
                return low in _TRUE
            raise ValueError
        if kind is int:
            return int(text.replace("_", ""))
        if kind is float:
            value = float(text)
            if not math.isfinite(value):
                raise ValueError
            return value
        if kind in (list, tuple, dict):  # a Python literal of that type: [1, 2], (3, 4)
            value = ast.literal_eval(text)
            if not isinstance(value, kind):
                raise ValueError
            return value
        return text
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise UserError(
            f"parameter {param.name!r} of {pipeline_name} takes {kind.__name__}, "
            f"not {text!r} (default: {param.default!r})"
        ) from None


def resolve_params(p: Pipeline, given: dict[str, str]) -> dict[str, Any]:
    """The pipeline's defaults overridden by the given text values, each type-checked."""
    by_name = {q.name: q for q in p.params}
    params = p.defaults
    for key, text in given.items():
        if key not in by_name:
            known = ", ".join(by_name) or "none"
            raise UserError(f"{p.name} has no parameter {key!r}; its parameters: {known}")
        params[key] = convert(by_name[key], text, p.name)
    return params
