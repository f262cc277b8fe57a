"""The GPU section of a real run reports torch as the pipeline left it, even when a stage
imports torch itself after the chain started (CPU torch here: "torch has no CUDA")."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.helpers import pipebench

pytest.importorskip("torch")

LAZY = """
from workbench import pipeline


def numbers():
    for i in range(20):
        yield [i] * 4


def to_tensor(batches):
    import torch  # only once the chain runs

    for b in batches:
        yield torch.tensor(b)


@pipeline
def lazy():
    return numbers(), to_tensor
"""


def test_a_stage_that_imports_torch_itself_is_seen(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PIPEBENCH_HOME", str(tmp_path / "home"))
    (tmp_path / "lazy_torch.py").write_text(LAZY)
    r = pipebench("run", "lazy_torch.py", cwd=tmp_path)
    assert r.code == 0, r.err
    assert r.report is not None
    torch_state = r.report["gpu"]["torch"]
    import torch

    expected = "torch has no CUDA" if torch.version.cuda is None else None
    if expected is None:
        assert torch_state != "torch not imported by the pipeline"
    else:
        assert torch_state == expected
