"""How a stop asked for while a run starts ends: cancelled (a stop before the first batch) or
crashed, by how long after the start it was asked.

The TUI asks for such stops when + or - is pressed while a run starts (issue 17: "+ pressed
twice while a run starts kills it during import"). A stop must end as a cancel at any delay;
this prints, per delay, how the runs ended.

Method: a module that sleeps 1 s while it imports; each run is followed by the engine's
``Follower`` (as the TUI's bridge follows it) and ``request_stop`` is called DELAY seconds
after the follower starts, in a timer thread. Status and ``cancelled`` come from the final
``RunState``.

    .venv/bin/python benchmarks/stop_while_starting.py [--runs N] [--delays 0.05,0.1,0.3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
from collections import Counter
from pathlib import Path

MODULE = """
import time
from workbench import pipeline

time.sleep(1.0)  # a slow import (torch takes about 2 s)


def numbers(n):
    for i in range(n):
        yield [i]


@pipeline
def slow_import(batch_size: int = 1, n: int = 10):
    return (numbers(n),)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per delay (default 3)")
    parser.add_argument(
        "--delays",
        default="0.02,0.05,0.1,0.2,0.3,0.5",
        help="seconds after the start at which the stop is asked (comma-separated)",
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="pipebench-stop-"))
    os.environ["PIPEBENCH_HOME"] = str(folder / "home")
    module = folder / "slow_import.py"
    module.write_text(MODULE)
    from workbench.engine.follow import Follower, RunJob
    from workbench.engine.runner import RunOptions

    print(f"{'delay':>7}  {'runs':>4}  outcome")
    for delay in (float(d) for d in args.delays.split(",")):
        seen: Counter[str] = Counter()
        for _ in range(args.runs):
            follower = Follower(RunJob(f"{module}:slow_import", RunOptions()))
            timer = threading.Timer(delay, follower.request_stop)
            timer.start()
            state = follower.run()
            timer.join()
            if state.exited is None:
                seen["never started (stopped first)"] += 1
            else:
                seen["cancelled" if state.cancelled else state.status] += 1
        outcome = ", ".join(f"{n} {what}" for what, n in sorted(seen.items()))
        print(f"{delay:>6.2f}s  {args.runs:>4}  {outcome}")


if __name__ == "__main__":
    main()
