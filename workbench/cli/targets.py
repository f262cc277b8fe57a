"""Hints for a target that names nothing: ``pipebench run jsonl_tokens`` is neither a file
nor an importable module, but ``pipelines/jsonl_tokens.py:jsonl_tokens`` exists.

The default root is read statically (``ast``), so no user code is imported into the
pipebench process to find the hint (the runner child imports it, as for any run).
"""

from __future__ import annotations

import ast
import difflib
import importlib.machinery
import os
import sys
from pathlib import Path

from workbench.engine.loader import default_root, examples_dir, module_files, parse_target
from workbench.errors import UserError


def _decorated_as(node: ast.expr, decorator: str) -> tuple[bool, str | None]:
    """Whether ``node`` is ``@decorator``, ``@x.decorator`` or a call of either, and the
    literal ``name=`` it gives, if any."""
    call = node if isinstance(node, ast.Call) else None
    func = call.func if call else node
    named = (isinstance(func, ast.Name) and func.id == decorator) or (
        isinstance(func, ast.Attribute) and func.attr == decorator
    )
    name = None
    if named and call is not None:
        for kw in call.keywords:
            if kw.arg == "name" and isinstance(kw.value, ast.Constant):
                name = str(kw.value.value)
    return named, name


def declared(path: Path, decorator: str = "pipeline") -> list[str]:
    """The names of the module-level functions of ``path`` marked ``@decorator``, read
    without importing it; [] when it cannot be read or parsed."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return []
    names = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for dec in node.decorator_list:
                marked, name = _decorated_as(dec, decorator)
                if marked:
                    names.append(name or node.name)
                    break
    return names


def _shown(path: Path, root: Path) -> str:
    """``path`` as a user would type it: relative to the working folder when inside it, as
    ``workbench.examples.NAME`` for a bundled example, else absolute."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        pass
    if root.resolve() == examples_dir().resolve():
        return f"workbench.examples.{path.stem}"
    return str(path)


def importable(name: str) -> bool:
    """Whether the runner child (working folder first on ``sys.path``) could import the
    top-level module ``name``; finds it without importing it."""
    if name in sys.builtin_module_names:
        return True
    return importlib.machinery.PathFinder.find_spec(name, [os.getcwd(), *sys.path]) is not None


def suggestion(
    module: str, name: str | None = None, decorator: str = "pipeline", root: Path | None = None
) -> str | None:
    """The target the user probably meant by the bare module name ``module`` (and the
    ``name`` after its colon, if any), from the default root (``./pipelines``, else the
    bundled examples): a function marked ``@decorator`` called ``module``, a module of that
    name, or the nearest of these names; None when there is none."""
    root = default_root() if root is None else root
    if not root.is_dir():
        return None
    found: dict[str, str] = {}  # function name -> target
    modules: dict[str, str] = {}  # module stem -> how to name it
    for path in module_files(root):
        shown = _shown(path, root)
        modules[path.stem] = shown
        for declared_name in declared(path, decorator):
            found.setdefault(declared_name, f"{shown}:{declared_name}")
    if name is not None:
        return f"{modules[module]}:{name}" if module in modules else None
    if module in found:
        return found[module]
    if module in modules:
        return modules[module]
    near = difflib.get_close_matches(module, [*found, *modules], n=1, cutoff=0.75)
    if not near:
        return None
    return found.get(near[0]) or modules[near[0]]


def check_target(text: str, decorator: str = "pipeline") -> None:
    """Refuse, with a hint, a target whose module is a bare name that is neither a file
    nor an importable module, when the default root has something of that name (or close
    to it). Anything else is left to the runner child, which says what is wrong with it.

    Raises:
        UserError: one line, ``no file or module named 'x'; did you mean TARGET?``.
    """
    target = parse_target(text)
    module = target.module
    if target.is_path or not module.isidentifier():
        return
    if Path(module).exists() or importable(module):
        return
    hint = suggestion(module, target.name, decorator)
    if hint is not None:
        raise UserError(f"no file or module named {module!r}; did you mean {hint}?")
