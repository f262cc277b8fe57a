"""The layers stay apart at run time too, not only in ``lint-imports``' reading of the
source: the engine, the CLI, the views, the authoring API and the example pipelines
import without Textual (or the UI), and authoring imports no engine."""

from __future__ import annotations

import subprocess
import sys

import pytest

WALK = (
    "import sys, pkgutil, importlib\n"
    "def walk(pkg):\n"
    "    mod = importlib.import_module(pkg)\n"
    "    for m in pkgutil.walk_packages(mod.__path__, pkg + '.'):\n"
    "        importlib.import_module(m.name)\n"
    "def loaded(*prefixes):\n"
    "    return sorted(m for m in sys.modules if m.split('.')[0] in prefixes"
    " or any(m == p or m.startswith(p + '.') for p in prefixes))\n"
)


def run(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", WALK + code], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_engine_cli_and_examples_import_without_textual():
    out = run(
        "walk('workbench.engine'); walk('workbench.cli')\n"
        "import workbench.examples.jsonl_tokens, workbench.examples.numpy_batches\n"
        "print(loaded('textual', 'workbench.ui'))\n"
    )
    assert out == "[]"


def test_views_import_without_textual_ui_or_cli():
    assert run("walk('workbench.views'); print(loaded('textual', 'workbench.ui'))") == "[]"


@pytest.mark.parametrize("load", ["import workbench", "walk('workbench.authoring')"])
def test_authoring_imports_no_engine_views_cli_ui_or_textual(load):
    layers = "'textual', 'workbench.engine', 'workbench.views', 'workbench.cli', 'workbench.ui'"
    assert run(f"{load}\nprint(loaded({layers}))") == "[]"
