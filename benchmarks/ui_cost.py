"""What watching a run in the TUI costs: throughput against the same run headless, the UI
process's CPU during the run, and how often the screen is redrawn.

Goals: TUI throughput at least 0.98 of headless (issue 16); UI CPU under 15% of one core; the screen
redrawn at least 4 times a second during a run.

Method: ``jsonl_tokens`` (default parameters: 200,000 rows, batch 64) is run alternately
headless (``python -m workbench.cli.main run TARGET --json``, stdout not a terminal, so no live
display) and from the TUI (``python -m workbench.cli.main MODULE`` on a 100x30 pseudo-terminal,
``r`` pressed once the tree is shown), which one goes first alternating. Items/s come from each run's record. The UI
process's CPU is its user+system time (threads included, the runner child not) between
pressing ``r`` and the run's record appearing, over that wall time. Frames are counted by
answering Textual's synchronized-output query, so each frame is wrapped in markers.

    .venv/bin/python benchmarks/ui_cost.py [--pairs N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from ui_startup import PtyApp, app_env

ROOT = Path(__file__).resolve().parents[1]
MODULE = ROOT / "pipelines" / "jsonl_tokens.py"
TARGET = f"{MODULE}:jsonl_tokens"


def records(home: Path) -> set[Path]:
    return set((home / "runs").glob("*.json"))


def headless(home: Path) -> float:
    out = home / "headless.json"
    subprocess.run(
        [sys.executable, "-m", "workbench.cli.main", "run", TARGET, "--json", str(out)],
        env=app_env(str(home)),
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=300,
    )
    return float(json.loads(out.read_text())["items_per_s"])


def tui(home: Path) -> tuple[float, float, float, float]:
    """(items/s, UI CPU % of one core, frames per second, run wall seconds)."""
    app = PtyApp([sys.executable, "-m", "workbench.cli.main", str(MODULE)], app_env(str(home)))
    try:
        app.wait_for(b"Stream a JSONL")  # the tree is there, jsonl_tokens selected
        time.sleep(0.5)  # let the start-up settle
        proc = psutil.Process(app.proc.pid)
        before = records(home)
        cpu0 = sum(proc.cpu_times()[:2])
        frames0 = len(app.frame_times)
        t0 = time.monotonic()
        app.send(b"r")
        deadline = t0 + 300
        while not (records(home) - before) and time.monotonic() < deadline:
            time.sleep(0.01)
        wall = time.monotonic() - t0
        cpu = sum(proc.cpu_times()[:2]) - cpu0
        frames = len(app.frame_times) - frames0
        new = (records(home) - before).pop()
        rate = float(json.loads(new.read_text())["items_per_s"])
    finally:
        app.close()
    return rate, 100 * cpu / wall, frames / wall, wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pipebench-uicost-") as tmp:
        home = Path(tmp)
        headless(home)  # warm-up: makes the corpus, warms the page cache
        rows = []
        for i in range(args.pairs):
            # Alternate which goes first, so an order effect cannot pass for a UI cost.
            if i % 2:
                t = tui(home)
                h = headless(home)
            else:
                h = headless(home)
                t = tui(home)
            rows.append((h, *t))
            print(
                f"pair {i + 1}: headless {h:,.0f} items/s | TUI {t[0]:,.0f} items/s, "
                f"UI CPU {t[1]:.1f}% of a core, {t[2]:.1f} frames/s over {t[3]:.2f} s"
            )
    h_med = statistics.median(r[0] for r in rows)
    t_med = statistics.median(r[1] for r in rows)
    ratios = [r[1] / r[0] for r in rows]
    cpu = statistics.median(r[2] for r in rows)
    fps = statistics.median(r[3] for r in rows)
    print(
        f"\njsonl_tokens (rows=200000, batch_size=64), {args.pairs} interleaved pairs, "
        f"{psutil.cpu_count()} CPUs, load average {psutil.getloadavg()[0]:.2f}:"
    )
    print(f"  headless median {h_med:,.0f} items/s; TUI median {t_med:,.0f} items/s")
    print(
        f"  TUI/headless: median of pair ratios {statistics.median(ratios):.3f} "
        f"(ratio of medians {t_med / h_med:.3f}); goal >= 0.98 (issue 16)"
    )
    print(f"  UI process CPU during the run: median {cpu:.1f}% of one core; goal < 15%")
    print(f"  screen redraws during the run: median {fps:.1f} frames/s; goal >= 4")
    return 0


if __name__ == "__main__":
    sys.exit(main())
