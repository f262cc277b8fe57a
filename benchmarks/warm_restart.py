"""Keypress to first measured batch, as the TUI restarts a run with another batch size.

The TUI's ``+`` starts the selected pipeline again through ``ui.run_control.launch`` (a
``RunBridge`` following a ``RunJob`` with ``warm=True``). This script does the same for
``numpy_batches_torch``, alternating cold (``warm=False``) and warm restarts, and prints the
time from the "keypress" (the launch) to the first batch out of the chain (the runner's
counter block stamps it with CLOCK_MONOTONIC): median and min–max of each. The first warm
start, which runs cold while it starts the warm server beside it, is reported apart.

Goal (issue 17): warm ≤ 0.3 s median (a cold start was ~2 s).

    .venv/bin/python benchmarks/warm_restart.py [--restarts 8]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from workbench.engine.runner import RunOptions
from workbench.engine.session import report
from workbench.engine.warm import POOL
from workbench.ui.messages import RunEnded
from workbench.ui.run_control import default_starter, launch

ROOT = Path(__file__).resolve().parents[1]
TARGET = f"{ROOT}/pipelines/numpy_batches.py:numpy_batches_torch"


def restart(batch_size: int, warm: bool) -> float:
    """Seconds from the launch to the first batch out of the chain."""
    ended = threading.Event()
    final: list[Any] = []

    def post(message: Any) -> None:
        if isinstance(message, RunEnded):
            final.append(message.state)
            ended.set()

    options = RunOptions(
        params={"batch_size": str(batch_size), "size": "100000"}, max_batches=20, warm=warm
    )
    pressed = time.monotonic_ns()
    launch(default_starter, TARGET, options, post, pipeline="numpy_batches_torch",
           module_path=TARGET.rpartition(":")[0])  # fmt: skip
    if not ended.wait(120):
        raise SystemExit("the run did not end")
    first = report(final[0])["timing"]["first_batch_ns"]
    if not first:
        raise SystemExit(f"no batch: {final[0].message}")
    return (first - pressed) / 1e9


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--restarts", type=int, default=8)
    args = ap.parse_args()
    home = tempfile.mkdtemp(prefix="pipebench-warm-")
    os.chmod(home, 0o700)
    os.environ["PIPEBENCH_HOME"] = home
    restart(64, warm=False)  # data and page cache warm for both
    first_warm = restart(64, warm=True)  # cold, while the server starts beside it
    POOL.server(TARGET, None, wait=True)
    cold, warm = [], []
    sizes = [32, 64, 128, 256]
    for i in range(args.restarts):
        size = sizes[i % len(sizes)]
        if i % 2:
            warm.append(restart(size, warm=True))
            cold.append(restart(size, warm=False))
        else:
            cold.append(restart(size, warm=False))
            warm.append(restart(size, warm=True))
    print(f"load average {os.getloadavg()[0]:.2f}; {len(cold)} restarts each, interleaved")
    for name, values in (("cold", cold), ("warm", warm)):
        print(
            f"{name}: keypress to first batch {statistics.median(values):.3f} s median "
            f"(min {min(values):.3f}, max {max(values):.3f})"
        )
    print(f"first warm start (cold, the server starting beside it): {first_warm:.3f} s")
    print("goal: warm <= 0.300 s median")
    return 0


if __name__ == "__main__":
    sys.exit(main())
