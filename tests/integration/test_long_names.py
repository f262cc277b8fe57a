"""A name of thousands of characters is cut where it is shown; the figures beside it keep
their columns (a 3,000-character stage name turned every figure of the table into '…')."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.integration.helpers import pipebench

LONG = "s" * 3000

MODULE = f"""
import numpy as np
from workbench import kernels, pipeline, stage


def numbers(n):
    yield from range(n)


def double(it):
    for x in it:
        yield 2 * x


@pipeline(name="p{LONG}")
def p(batch_size: int = 1, n: int = 50):
    return numbers(n), stage(double, "d{LONG}")


@kernels(sizes=(10,))
def total(n):
    return (np.arange(n, dtype=np.float64),)


@total.impl("python")
def total_python(a):
    return float(sum(a))


@total.impl("i{LONG}")
def total_long(a):
    return float(np.sum(a))
"""


def test_long_names_are_cut_and_the_figures_kept(write_module: Any, tmp_path: Path) -> None:
    path = write_module("longnames", MODULE)
    r = pipebench("run", f"{path}:p{LONG}", cwd=tmp_path)
    assert r.code == 0, r.err
    stage_line = next(line for line in r.out.splitlines() if line.lstrip().startswith("dsss"))
    assert "…" in stage_line and re.search(r"\b50\s+50\b", stage_line), stage_line  # items, batches
    shown = [line for line in r.out.splitlines() if not line.startswith("record: ")]
    assert max(len(line) for line in shown) <= 80  # the record's path alone is printed whole
    k = pipebench("kernels", str(path), "--samples", "3", "--no-gemm", cwd=tmp_path, json_name=None)
    assert k.code == 0, k.err
    impl_line = next(line for line in k.out.splitlines() if "isss" in line)
    assert "…" in impl_line and "✓" in impl_line and re.search(r"\d (n|µ)s", impl_line), impl_line
    h = pipebench("history", cwd=tmp_path, json_name=None)
    row = h.out.split("────\n", 1)[1].split("the same in every run")[0]
    assert h.code == 0 and len(row.splitlines()) <= 6, h.out  # a few lines, not dozens


def test_the_record_path_is_printed_whole_however_long(write_module, tmp_path) -> None:
    """Piped (80 columns), a record path longer than the width is printed whole on its
    line, to be copied: never folded inside, never cut."""
    path = write_module(
        "short",
        "from workbench import pipeline\n\n\n@pipeline\ndef env(batch_size: int = 1):\n    return (range(3),)\n",
    )
    home = tmp_path / ("a-folder-name-long-enough-to-push-the-record-path-past-80-columns" * 2)
    res = subprocess.run(
        [sys.executable, "-m", "workbench.cli.main", "run", f"{path}:env"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PIPEBENCH_HOME": str(home)},
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    (line,) = [ln for ln in res.stdout.splitlines() if ln.startswith("record: ")]
    recorded = Path(line.removeprefix("record: "))
    assert recorded.is_file() and recorded.parent == home / "runs", line
