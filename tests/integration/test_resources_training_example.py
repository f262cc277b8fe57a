"""pipelines/training_resources.py run for real (on CUDA where there is one, else the CPU),
ended early, and listed without torch."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from workbench.engine.follow import follow_run
from workbench.engine.runner import RunOptions
from workbench.engine.session import report

EXAMPLE = Path(__file__).parents[2] / "pipelines" / "training_resources.py"
SMALL = {"rows": "1024", "epochs": "2", "batch_size": "128"}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PIPEBENCH_HOME", str(tmp_path))
    return tmp_path


def run(**options: Any) -> dict[str, Any]:
    target = f"{EXAMPLE}:training_resources"
    return report(follow_run(target, RunOptions(**options)))


def epochs_rows(home: Path) -> list[tuple[Any, ...]]:
    (db,) = (home / "data").glob("training-*.db")
    return sqlite3.connect(db).execute("SELECT run, epoch FROM epochs").fetchall()


def test_the_example_trains_and_reports_its_contexts(home: Path) -> None:
    pytest.importorskip("torch")
    rep = run(params=SMALL)
    assert rep["status"] == "finished", rep["message"]
    records = rep["contexts"]["records"]
    names = [r["name"] for r in records]
    assert "epoch 1" in names and "epoch 2" in names
    assert {r["kind"] for r in records} == {
        "experiment_log",
        "gpu_memory",
        "sqlite_transaction",
        "timed",
    }
    assert all(r["exits"] == 1 for r in records)
    by_name = {r["name"]: r for r in records}
    assert by_name["epoch 1"]["parent"] is not None  # nested in the metrics transaction
    assert [r["outcome"] for r in records if r["kind"] == "sqlite_transaction"] == [
        "committed",
        "committed",
    ]
    assert [e for _, e in epochs_rows(home)] == [1, 2]
    assert rep["items"] == 2 * 1024
    gpu = rep["gpu"]
    assert "peak_bytes" in gpu and "state" in gpu
    log = (home / "data" / "training.log").read_text()
    assert "epoch 2: loss" in log and log.rstrip().endswith("experiment ended: ok")


def test_the_example_ended_early_rolls_its_metrics_back(home: Path) -> None:
    pytest.importorskip("torch")
    rep = run(params=SMALL, max_batches=10)
    assert rep["status"] == "stopped" and rep["stop_reason"] == "max_batches"
    records = rep["contexts"]["records"]
    assert all(r["exits"] == 1 for r in records)
    metrics = next(
        r for r in records if r["kind"] == "sqlite_transaction" and r["parent"] is not None
    )
    assert metrics["outcome"] == "rolled back"
    assert epochs_rows(home) == []
    assert (
        (home / "data" / "training.log").read_text().rstrip().endswith("experiment ended: closed")
    )


def test_the_example_is_listed_as_unavailable_without_torch() -> None:
    code = textwrap.dedent(f"""
        import importlib.abc, sys
        class NoTorch(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ModuleNotFoundError("No module named 'torch'")
                return None
        sys.meta_path.insert(0, NoTorch())
        sys.modules.pop("torch", None)
        from workbench.engine.catalog import main
        main([{str(EXAMPLE)!r}])
    """)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    info = json.loads(out.split("\x1epipebench-catalog ", 1)[1])
    assert info["error"] is None
    (pipe,) = info["pipelines"]
    assert pipe["name"] == "training_resources"
    assert pipe["reason"].startswith("needs torch")
