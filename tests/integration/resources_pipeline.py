"""A pipeline holding every kind of resource context, ended early in the ways a run can end.

Used by tests/integration/test_resources_early_end.py; not a test module itself. The source
writes one row per batch inside a SQLite transaction, logs each batch to an experiment log
and holds a ``gpu_memory`` block; after its contexts have exited it prints how many handlers
the experiment logger still has, so a test can see it from outside the runner.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterator

from workbench import experiment_log, gpu_memory, pipeline, sqlite_transaction, timed

LOGGER = "resources-test"


def source(db: str, log: str, limit: int, fail_at: int) -> Iterator[list[int]]:
    try:
        with (
            experiment_log(log, name=LOGGER) as logger,
            sqlite_transaction(db) as conn,
            gpu_memory("cpu"),
        ):
            conn.execute("CREATE TABLE IF NOT EXISTS t(i INT)")
            i = 0
            while limit <= 0 or i < limit:
                with timed("write"):
                    if i == fail_at:
                        raise ValueError(f"bad row {i}")
                    conn.execute("INSERT INTO t VALUES (?)", (i,))
                    logger.info("batch %d", i)
                yield [i]
                i += 1
    finally:
        print(f"HANDLERS {len(logging.getLogger(LOGGER).handlers)}", flush=True)


def work(
    batches: Iterator[list[int]], sleep_s: float, grow_mb: int, fail_at: int
) -> Iterator[list[int]]:
    held = []
    with timed("work"):
        for b in batches:
            if b[0] == fail_at:
                raise RuntimeError(f"stage failed at batch {b[0]}")
            if grow_mb:
                held.append(b"x" * (grow_mb << 20))  # written, so resident
            time.sleep(sleep_s)
            yield b


@pipeline
def resources(
    db: str = "",
    log: str = "",
    limit: int = 0,
    sleep_ms: int = 5,
    grow_mb: int = 0,
    fail_in_source: int = -1,
    fail_in_stage: int = -1,
):
    """Every kind of resource context, for the early-end tests."""
    return (
        source(db, log, limit, fail_in_source),
        functools.partial(work, sleep_s=sleep_ms / 1000, grow_mb=grow_mb, fail_at=fail_in_stage),
    )


class Batches:
    """An iterator without ``close()`` around a generator, as a DataLoader's iterator is."""

    def __init__(self, inner: Iterator[list[int]]):
        self.inner = inner

    def __iter__(self) -> Batches:
        return self

    def __next__(self) -> list[int]:
        return next(self.inner)


@pipeline
def wrapped_source(db: str = "", log: str = "", sleep_ms: int = 5):
    """The source generator behind an iterator that cannot be closed."""
    return (
        Batches(source(db, log, 0, -1)),
        functools.partial(work, sleep_s=sleep_ms / 1000, grow_mb=0, fail_at=-1),
    )
