"""The GPU and resources panels, each mounted alone in a tiny app and driven by Pilot."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult
from textual.widgets import Sparkline, Static, Tree

from workbench.engine.follow import follow_run
from workbench.engine.runner import RunOptions
from workbench.engine.sections.gpu import GpuSection
from workbench.engine.sections.resources import ContextsSection
from workbench.ui.widgets.gpu_panel import GpuPanel
from workbench.ui.widgets.resources_panel import ResourcesPanel

GiB = 1 << 30
PIPELINE = Path(__file__).resolve().parents[1] / "integration" / "resources_pipeline.py"


class OnePanel(App[None]):
    def __init__(self, panel: Any) -> None:
        super().__init__()
        self.panel = panel

    def compose(self) -> ComposeResult:
        yield self.panel


def text_of(panel: Any, selector: str) -> str:
    return str(panel.query_one(selector, Static).render())


def gpu_sample(n: int, allocated: int) -> GpuSection:
    """A "gpu" section as a run on one GPU sends it."""
    return GpuSection.from_json(
        {
            "state": None,
            "nvml": "ok",
            "torch": "ok",
            "driver": "580.1",
            "samples": n,
            "devices": [
                {
                    "index": 0,
                    "name": "NVIDIA H100",
                    "used_bytes": 4 * GiB,
                    "total_bytes": 80 * GiB,
                    "process_bytes": 2 * GiB,
                    "util_pct": 30,
                    "allocated_bytes": allocated,
                    "reserved_bytes": GiB,
                }
            ],
            "allocated_bytes": allocated,
            "reserved_bytes": GiB,
            "process_bytes": 2 * GiB,
            "peak_allocated_bytes": 3 * GiB // 2,
            "peak_reserved_bytes": 2 * GiB,
            "peak_process_bytes": 2 * GiB,
            "peak_bytes": 3 * GiB // 2,
        }
    )


def test_gpu_panel_shows_the_state_then_now_peak_and_history() -> None:
    async def scenario() -> None:
        panel = GpuPanel()
        async with OnePanel(panel).run_test(size=(44, 12)) as pilot:
            assert text_of(panel, "#gpu-figures") == "no run yet"
            panel.update_section(
                GpuSection(
                    state="no NVIDIA driver",
                    nvml="no NVIDIA driver",
                    torch="torch has no CUDA",
                    samples=1,
                )
            )
            await pilot.pause()
            figures = text_of(panel, "#gpu-figures")
            assert figures.startswith("no NVIDIA driver") and "torch has no CUDA" in figures
            assert panel.query_one(Sparkline).has_class("-empty")

            panel.reset()
            for n, alloc in enumerate([GiB // 4, GiB // 2, GiB // 2, GiB], start=1):
                panel.update_section(gpu_sample(n, alloc))
                panel.update_section(gpu_sample(n, alloc))  # same sample, next snapshot
            await pilot.pause()
            figures = text_of(panel, "#gpu-figures")
            assert "torch alloc 1.00 GiB peak 1.50 GiB" in figures
            assert "process 2.00 GiB peak 2.00 GiB (NVML)" in figures
            assert "cuda:0 4.00 GiB of 80.0 GiB · 30%" in figures
            spark = panel.query_one(Sparkline)
            assert list(spark.data or []) == [GiB / 4, GiB / 2, GiB / 2, GiB]
            assert not spark.has_class("-empty") and spark.region.height > 0
            assert "peak 1.50 GiB" in text_of(panel, "#gpu-note")

    asyncio.run(scenario())


def rec(
    id: int, name: str, parent: int | None = None, outcome: str = "ok", **extra: Any
) -> dict[str, Any]:
    return {
        "id": id,
        "kind": "timed",
        "name": name,
        "parent": parent,
        "depth": 0,
        "thread": "MainThread",
        "start_s": 0.0,
        "duration_s": None if outcome == "open" else 0.5,
        "rss_delta_bytes": 0,
        "gpu_delta_bytes": None,
        "outcome": outcome,
        "exception": None,
        "exits": 1,
        **extra,
    }


def contexts(data: dict[str, Any]) -> ContextsSection:
    """A "contexts" section as the parent reads it from the runner's JSON."""
    return ContextsSection.from_json(data)


def labels(node: Any, depth: int = 0) -> list[tuple[int, str]]:
    out = []
    for child in node.children:
        out.append((depth, str(child.label)))
        out += labels(child, depth + 1)
    return out


def test_resources_panel_nests_updates_in_place_and_groups_repeats() -> None:
    async def scenario() -> None:
        panel = ResourcesPanel()
        async with OnePanel(panel).run_test(size=(60, 20)) as pilot:
            tree = panel.query_one(Tree)
            panel.update_section(
                contexts(
                    {
                        "records": [
                            rec(1, "experiment_log(x.log)", outcome="open"),
                            rec(2, "sqlite_transaction(m.db)", parent=1, outcome="open"),
                        ],
                        "open": 2,
                        "total": 2,
                        "now_s": 3.0,
                    }
                )
            )
            await pilot.pause()
            shown = labels(tree.root)
            assert [d for d, _ in shown] == [0, 1]
            assert shown[1][1].startswith("sqlite_transaction(m.db) 3.00 s… open")
            node = tree.root.children[0].children[0]

            steps = [rec(i, "step", parent=2) for i in range(3, 53)]
            panel.update_section(
                contexts(
                    {
                        "records": [
                            rec(1, "experiment_log(x.log)", outcome="stopped (user)"),
                            rec(
                                2,
                                "sqlite_transaction(m.db)",
                                parent=1,
                                outcome="rolled back",
                                exception="StopRun",
                            ),
                            *steps,
                        ],
                        "open": 0,
                        "total": 52,
                        "now_s": 4.0,
                    }
                )
            )
            await pilot.pause()
            assert tree.root.children[0].children[0] is node  # updated in place
            shown = labels(tree.root)
            assert shown[1][1].startswith("sqlite_transaction(m.db) 500 ms rolled back (stopped)")
            assert shown[2] == (2, "step ×50 25.0 s ok")
            summary = text_of(panel, "#resources-summary")
            assert summary == "52 contexts · 0 open"  # a stop is no failure

    asyncio.run(scenario())


def test_resources_panel_from_a_real_run(tmp_path: Path) -> None:
    """The last "contexts" section of a real stopped run, as the TUI receives it."""
    db = tmp_path / "rows.db"
    sqlite3.connect(db).execute("CREATE TABLE t(i INT)").connection.close()
    params = {"db": str(db), "log": str(tmp_path / "e.log"), "limit": "200"}
    state = follow_run(f"{PIPELINE}:resources", RunOptions(params=params, max_batches=20))
    assert state.snapshot is not None
    section = state.snapshot.sections.contexts
    assert section is not None

    async def scenario() -> None:
        panel = ResourcesPanel()
        async with OnePanel(panel).run_test(size=(60, 20)) as pilot:
            panel.update_section(section)
            await pilot.pause()
            shown = labels(panel.query_one(Tree).root)
            names = [(d, label.split(" ")[0]) for d, label in shown]
            assert (0, "work") in names and (0, "experiment_log(e.log)") in names
            assert (1, "sqlite_transaction(rows.db)") in names
            assert (2, "gpu_memory(cpu)") in names
            assert any("rolled back (closed)" in label for _, label in shown)
            assert any(label.startswith("write ×") for _, label in shown)

    asyncio.run(scenario())


def test_a_section_that_could_not_be_read_says_why() -> None:
    """A sampler that failed in the run: the panels say why, as text (not markup)."""

    async def scenario() -> None:
        gpu, resources = GpuPanel(), ResourcesPanel()

        class TwoPanels(App[None]):
            def compose(self) -> ComposeResult:
                yield gpu
                yield resources

        async with TwoPanels().run_test(size=(60, 20)) as pilot:
            gpu.update_section(None, "RuntimeError: NVML went away [/x]")
            resources.update_section(None, "ValueError: bad record [/x]")
            await pilot.pause()
            assert text_of(gpu, "#gpu-figures") == (
                "GPU figures not shown: RuntimeError: NVML went away [/x]"
            )
            assert text_of(resources, "#resources-summary") == (
                "contexts not shown: ValueError: bad record [/x]"
            )

    asyncio.run(scenario())
