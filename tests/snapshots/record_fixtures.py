"""Record the event streams the snapshot tests replay (run by hand, not by pytest).

    PIPEBENCH_HOME=/tmp/pbrec .venv/bin/python tests/snapshots/record_fixtures.py

Each fixture is the JSON-lines form (``protocol.encode``) of every event of one real run,
as the runner handed them to the app (its output as ``Log`` events), ``Exited`` last.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import TextIO

from workbench.engine.follow import Follower, RunJob, Step
from workbench.engine.protocol import Event, Exited, Log, encode
from workbench.engine.runner import RunOptions
from workbench.engine.session import RunState

HERE = Path(__file__).parent / "fixtures"
EXAMPLES = Path(__file__).resolve().parents[2] / "pipelines"

FAILING = '''
"""A pipeline whose second stage fails after a while (snapshot fixture)."""
import time

from workbench import pipeline


def numbers(n):
    for i in range(n):
        time.sleep(0.0002)
        yield list(range(i, i + 8))


def parse(batches):
    for i, batch in enumerate(batches):
        if i == 3000:
            print("about to fail on batch", i)
            raise ValueError(f"bad record in batch {i}")
        yield [x * 2 for x in batch]


def total(batches):
    for batch in batches:
        yield sum(batch)


@pipeline
def failing(batch_size: int = 8, n: int = 1_000_000):
    """Fails in stage parse at batch 3000."""
    return numbers(n), parse, total
'''


class Recording(RunJob):
    """A run job that also writes every event it folds, its output as ``Log`` events in
    the order the follower took it, and ``Exited`` last (the output of a run is all in by
    the time its ``Exited`` is queued, and is taken after it)."""

    def __init__(self, target: str, options: RunOptions, f: TextIO) -> None:
        super().__init__(target, options)
        self.f = f
        self.exited: Exited | None = None

    def fold(self, state: RunState, step: Step, event: Event) -> RunState:
        if isinstance(event, Exited):
            self.exited = event
        else:
            self.f.write(encode(event))
        return super().fold(state, step, event)

    def fold_lines(
        self, state: RunState, step: Step, lines: list[tuple[str, str]], skipped: int
    ) -> RunState:
        for stream, text in lines:
            self.f.write(encode(Log(stream, text)))
        return super().fold_lines(state, step, lines, skipped)

    def close(self) -> None:
        if self.exited is not None:
            self.f.write(encode(self.exited))


def record(target: str, options: RunOptions, out: Path) -> None:
    with out.open("w", encoding="utf-8") as f:
        Follower(Recording(target, options, f)).run()
    print(f"wrote {out}")


def main() -> int:
    HERE.mkdir(exist_ok=True)
    record(
        f"{EXAMPLES}/jsonl_tokens.py:jsonl_tokens",
        RunOptions(params={"rows": "100000"}),
        HERE / "jsonl_tokens.jsonl",
    )
    mods = Path("/tmp/pipebench-fixtures")
    mods.mkdir(exist_ok=True)
    (mods / "failing.py").write_text(textwrap.dedent(FAILING).lstrip())
    record(f"{mods}/failing.py:failing", RunOptions(), HERE / "failing.jsonl")
    return 0


if __name__ == "__main__":
    sys.exit(main())
