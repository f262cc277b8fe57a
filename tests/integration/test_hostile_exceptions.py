"""A pipeline's exception is its code too: one whose ``__str__`` raises still fails the run
in one line that names the stage and the exception's type, with a report."""

from __future__ import annotations

from pathlib import Path

from tests.integration.helpers import pipebench

BAD_STR = """
from workbench import pipeline


class BadStr(Exception):
    def __str__(self):
        raise RuntimeError("str exploded")


def numbers(n):
    yield from range(n)


def breaks(items):
    for i, x in enumerate(items):
        if i == 3:
            raise BadStr()
        yield x


@pipeline
def bad_str(n: int = 10):
    return numbers(n), breaks
"""


def test_an_exception_whose_str_raises_fails_the_run_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "bad_str.py").write_text(BAD_STR)
    r = pipebench("run", "bad_str.py", cwd=tmp_path)
    assert r.code == 1, r.err
    assert r.report is not None and r.report["status"] == "failed"
    error = r.report["error"]
    assert "BadStr" in str(error) and "raised RuntimeError" in str(error), error
    assert "stage breaks raised BadStr" in r.out + r.err
    assert "crashed" not in r.out + r.err
