"""The engine, the CLI and the example pipelines never pull in Textual (or the UI)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_engine_cli_and_examples_import_without_textual():
    code = (
        "import sys, pkgutil, importlib, workbench.engine, workbench.cli.main, workbench.views.run\n"
        "for m in pkgutil.walk_packages(workbench.engine.__path__, 'workbench.engine.'):\n"
        "    importlib.import_module(m.name)\n"
        "import workbench.examples.jsonl_tokens, workbench.examples.numpy_batches\n"
        "bad = [m for m in sys.modules if m.split('.')[0] == 'textual'"
        " or m.startswith('workbench.ui')]\n"
        "print(bad)\n"
        "assert not bad, bad\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_import_linter_contract_holds():
    lint = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "kept" in out.stdout.lower()
