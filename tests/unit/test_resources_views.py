"""Headless views of the "contexts" and "gpu" sections, from section data as runs send it
(read back into the typed sections, as the parent does)."""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group

from workbench.engine.protocol import Hello, Snapshot, StageSample
from workbench.engine.sections.gpu import GpuSection
from workbench.engine.sections.resources import ContextsSection
from workbench.engine.sections.snapshot import SnapshotSections
from workbench.engine.session import RunState, apply
from workbench.views.resources import contexts_view, gpu_view, tree_order
from workbench.views.run import section_views

GiB = 1 << 30


def rec(
    id: int, name: str, parent: int | None = None, outcome: str = "ok", **extra: Any
) -> dict[str, Any]:
    base = {
        "id": id,
        "kind": "timed",
        "name": name,
        "parent": parent,
        "depth": 0,
        "thread": "MainThread",
        "start_s": float(id),
        "end_s": id + 1.0,
        "duration_s": 1.0,
        "rss_delta_bytes": 1024,
        "gpu_delta_bytes": None,
        "outcome": outcome,
        "exception": None,
        "note": None,
        "exits": 1,
    }
    return {**base, **extra}


def render(renderable: Any, width: int = 80) -> str:
    console = Console(width=width, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def contexts(records: list[dict[str, Any]], **fields: Any) -> ContextsSection:
    return ContextsSection.from_json({"records": records, **fields})


def test_the_run_view_shows_each_section_and_says_which_could_not_be_read() -> None:
    sections = SnapshotSections(
        gpu=GpuSection(state="no NVIDIA driver", nvml="no NVIDIA driver", torch="ok"),
        contexts=contexts([rec(1, "load")], total=1),
        unavailable={"caches": "RuntimeError: boom [/x]"},
    )
    state = apply(RunState("m.py:p"), Hello(1, "p", "m", "m.py", {}, ("s",), "c", "3", 0.0))
    state = apply(state, Snapshot(1, (StageSample(1, 1, 1, True),), 0, None, -1, sections))
    text = render(Group(*section_views(state)), width=100)
    assert text.startswith("GPU: no NVIDIA driver")
    assert "resource contexts" in text and "load" in text
    assert "caches: not shown, its sampler failed: RuntimeError: boom [/x]" in text


def test_tree_order_nests_and_merges_repeated_leaves() -> None:
    records = [
        rec(1, "log"),
        rec(2, "gpu", parent=1),
        rec(3, "db"),
        *[rec(i, "step", parent=2) for i in range(4, 9)],
        rec(9, "epoch 1", parent=2),
    ]
    order = [(r.name, depth) for r, depth in tree_order(contexts(records).records)]
    assert order == [("log", 0), ("gpu", 1), ("step ×5", 2), ("epoch 1", 2), ("db", 0)]


def test_contexts_table_shows_nesting_outcomes_and_notes() -> None:
    data = contexts(
        [
            rec(1, "experiment_log(train.log)", note="6 lines; handler removed"),
            rec(2, "gpu_memory(cuda:0)", parent=1, gpu_delta_bytes=GiB),
            rec(
                3,
                "sqlite_transaction(metrics.db)",
                parent=2,
                outcome="rolled back",
                exception="StopRun",
            ),
            rec(4, "epoch 2", parent=3, outcome="open", end_s=None, duration_s=None),
        ],
        open=1,
        total=4,
        dropped=0,
        totals=[],
        now_s=6.5,
    )
    assert max(len(line) for line in render(contexts_view(data)).splitlines()) <= 80
    text = render(contexts_view(data), width=110)
    lines = text.splitlines()
    assert any(line.startswith(" experiment_log(train.log)") for line in lines)
    assert "handler removed" in text
    assert "  └ gpu_memory(cuda:0)" in text and "+1.00 GiB" in text
    assert "rolled back (stopped)" in text
    assert "epoch 2" in text and "2.50 s…" in text and "open" in text
    assert contexts_view(contexts([])) is None


def test_gpu_view_shows_the_state_when_there_is_no_gpu() -> None:
    data = GpuSection.from_json(
        {
            "state": "no NVIDIA driver",
            "nvml": "no NVIDIA driver",
            "nvml_detail": "NVML Shared Library Not Found",
            "torch": "torch has no CUDA",
        }
    )
    # Each thing said once: the state, NVML's detail, torch's state.
    assert render(gpu_view(data)).strip() == (
        "GPU: no NVIDIA driver (NVML: NVML Shared Library Not Found; torch has no CUDA)"
    )


def test_gpu_view_shows_now_and_peak_with_units() -> None:
    data = GpuSection.from_json(
        {
            "state": None,
            "nvml": "ok",
            "torch": "ok",
            "driver": "580.1",
            "devices": [
                {
                    "index": 0,
                    "name": "NVIDIA H100",
                    "used_bytes": 2 * GiB,
                    "total_bytes": 80 * GiB,
                    "process_bytes": GiB,
                    "util_pct": 40,
                    "allocated_bytes": GiB // 2,
                }
            ],
            "allocated_bytes": GiB // 2,
            "reserved_bytes": GiB,
            "process_bytes": GiB,
            "peak_allocated_bytes": 3 * GiB // 2,
            "peak_reserved_bytes": 2 * GiB,
            "peak_process_bytes": 2 * GiB,
        }
    )
    text = render(gpu_view(data), width=200)
    assert "device used 2.00 GiB of 80.0 GiB, this run 1.00 GiB, 40% busy" in text
    assert "torch.cuda allocated 512 MiB (peak 1.50 GiB)" in text
    assert "process 1.00 GiB (peak 2.00 GiB, NVML)" in text


def test_contexts_are_counted_in_words_that_agree() -> None:
    from workbench.views.resources import contexts_count

    assert contexts_count(1, 0) == "1 context, 0 open"
    assert contexts_count(2, 1, " · ") == "2 contexts · 1 open"
    assert contexts_count(12_000, 0) == "12,000 contexts, 0 open"
