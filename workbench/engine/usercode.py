"""Which classes and functions are the user's own code, for what pipebench finds in them.

The user's code is what lies in the pipeline module's folder and not in an installed package
under it (the rule ``sections.lru_timing`` keeps, set when the child loads the module), and
never pipebench's own package.
"""

from __future__ import annotations

import inspect
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from workbench.engine.sections.lru_timing import is_user_file

_OWN = str(Path(__file__).resolve().parents[1]) + os.sep  # workbench/


def is_user_function(func: Any) -> bool:
    """Whether ``func`` (a function, or anything with ``__code__``) is the user's code."""
    code = getattr(func, "__code__", None)
    if code is None:
        return False
    filename = code.co_filename
    return is_user_file(filename) and not os.path.realpath(filename).startswith(_OWN)


def is_user_class(cls: type) -> bool:
    """Whether ``cls`` was defined in a module of the user's code."""
    module = sys.modules.get(getattr(cls, "__module__", "") or "")
    filename = getattr(module, "__file__", None)
    if not filename:
        return False
    return is_user_file(filename) and not os.path.realpath(filename).startswith(_OWN)


def user_classes(module: ModuleType) -> list[type]:
    """The classes of the user's code that ``module`` holds at its top level, and the
    classes defined inside those, each once, in the module's order."""
    out: list[type] = []
    for value in list(vars(module).values()):
        if not inspect.isclass(value) or value in out or not is_user_class(value):
            continue
        out.append(value)
        for inner in list(vars(value).values()):
            if inspect.isclass(inner) and inner not in out and is_user_class(inner):
                out.append(inner)
    return out
