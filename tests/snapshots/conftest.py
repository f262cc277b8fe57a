"""Snapshot fixtures: a fixed catalog, recorded runs replayed, earlier run records on disk."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from workbench.engine.catalog import ModuleInfo, PipelineInfo
from workbench.engine.protocol import Hello
from workbench.engine.runner import RunOptions
from workbench.ui.app import PipebenchApp
from workbench.ui.replay import ReplayHandle, read_events

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_path(name: str) -> str:
    """The module path the recorded run has in its Hello event."""
    hello = next(e for e in read_events(FIXTURES / name) if isinstance(e, Hello))
    return hello.path


def catalog() -> list[ModuleInfo]:
    """The examples as ``discover`` lists them, plus a failing and a broken module."""
    jsonl = fixture_path("jsonl_tokens.jsonl")
    failing = fixture_path("failing.jsonl")
    params = (("batch_size", 64, "int"), ("rows", 100_000, "int"))  # as the runs recorded
    return [
        ModuleInfo(
            jsonl,
            "jsonl_tokens",
            (
                PipelineInfo(
                    "jsonl_tokens",
                    f"{jsonl}:jsonl_tokens",
                    "Stream a JSONL corpus in batches, tokenize it and make padded id arrays.",
                    params,
                ),
                PipelineInfo(
                    "jsonl_tokens_torch",
                    f"{jsonl}:jsonl_tokens_torch",
                    "The streaming source as a torch IterableDataset.",
                    params,
                    reason="needs torch, which is not installed (pip install torch)",
                ),
            ),
        ),
        ModuleInfo(
            failing,
            "failing",
            (
                PipelineInfo(
                    "failing",
                    f"{failing}:failing",
                    "Fails in stage parse.",
                    (("batch_size", 8, "int"), ("n", 1_000_000, "int")),
                ),
            ),
        ),
        ModuleInfo(
            "/data/broken.py",
            "broken",
            error="importing /data/broken.py failed: it needs the module 'pyarrow', "
            "which is not installed here",
        ),
    ]


def write_records(home: Path) -> None:
    """Two earlier runs of jsonl_tokens at other batch sizes, as records on disk."""
    runs = home / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    path = fixture_path("jsonl_tokens.jsonl")
    for i, (batch, rate, peak, secs) in enumerate(
        [(16, 52_300.0, 39_000_000, 1.91), (256, 88_100.0, 47_500_000, 1.13)]
    ):
        rec: dict[str, Any] = {
            "run_id": f"earlier{i}",
            "pipeline": "jsonl_tokens",
            "path": path,
            "params": {"batch_size": batch, "rows": 100_000},
            "status": "finished",
            "items_per_s": rate,
            "duration_s": secs,
            "memory": {"rss_peak_bytes": peak, "private_peak_bytes": peak // 2},
            "started_at": f"2025-01-0{i + 1}T10:00:00+00:00",
        }
        (runs / f"2025010{i + 1}T100000-jsonl_tokens-earlier{i}.json").write_text(json.dumps(rec))


def make_app(*, stop_after: int | None = None) -> PipebenchApp:
    """The real app on the fixed catalog; runs replay the recorded streams (the first
    ``stop_after`` events only, to show a run still going)."""

    def starter(target: str, options: RunOptions) -> ReplayHandle:
        name = "failing.jsonl" if target.endswith(":failing") else "jsonl_tokens.jsonl"
        events = read_events(FIXTURES / name)
        return ReplayHandle(events[:stop_after] if stop_after else events)

    return PipebenchApp(Path("/data"), modules=catalog(), starter=starter, interval=0.01)


async def wait_until(pilot: Pilot[Any], check: Callable[[], bool], timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if check():
            return
        await pilot.pause(0.02)
    raise AssertionError("timed out waiting for the app")


Runner = Callable[[Pilot[Any]], Awaitable[None]]


@pytest.fixture
def records(pipebench_home: Path) -> Path:
    write_records(pipebench_home)
    return pipebench_home
