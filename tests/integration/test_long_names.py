"""A name of thousands of characters is cut where it is shown; the figures beside it keep
their columns (a 3,000-character stage name turned every figure of the table into '…')."""

from __future__ import annotations

import re
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
    assert max(len(line) for line in r.out.splitlines()) <= 80
    k = pipebench("kernels", str(path), "--samples", "3", "--no-gemm", cwd=tmp_path, json_name=None)
    assert k.code == 0, k.err
    impl_line = next(line for line in k.out.splitlines() if "isss" in line)
    assert "…" in impl_line and "✓" in impl_line and re.search(r"\d (n|µ)s", impl_line), impl_line
    h = pipebench("history", cwd=tmp_path, json_name=None)
    row = h.out.split("────\n", 1)[1].split("the same in every run")[0]
    assert h.code == 0 and len(row.splitlines()) <= 6, h.out  # a few lines, not dozens
