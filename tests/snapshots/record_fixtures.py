"""Record the event streams the snapshot tests replay (run by hand, not by pytest).

    PIPEBENCH_HOME=/tmp/pbrec .venv/bin/python tests/snapshots/record_fixtures.py

Each fixture is the JSON-lines form (``protocol.encode``) of every event of one real run,
as the runner handed them to the app (its output as ``Log`` events), ``Exited`` last.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from workbench.engine.protocol import Exited, Log, encode
from workbench.engine.runner import RunOptions, start_run

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


def record(target: str, options: RunOptions, out: Path) -> None:
    handle = start_run(target, options)
    with out.open("w", encoding="utf-8") as f:
        for ev in handle.iter_events():
            if isinstance(ev, Exited):
                handle.output.done.wait(5)
            lines, _skipped = handle.output.take()  # the output, as Log events, in order
            for stream, text in lines:
                f.write(encode(Log(stream, text)))
            f.write(encode(ev))
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
