"""Pipelines that keep their own books, for ``benchmarks/honesty.py``.

Each stage times its own work with ``time.perf_counter`` (from the moment its upstream
handed it a batch to the moment it yields, so its upstream's time is not in it) and the
last stage stamps every batch it yields with ``time.monotonic_ns()`` (the clock the
runner's snapshots use). At the end of the chain each writes one JSON line to the file
``out``: ``{"stage": name, "own_s": ...}``, the last stage also ``"stamps": [[t_ns,
items], ...]`` and the runner's own ``VmHWM``. The benchmark reads that file and sets it
beside the report of the same ``pipebench run``.

Run them as any pipeline module, e.g. ``pipebench run benchmarks/honesty_pipelines.py:phases
--param out=/tmp/books.jsonl``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from workbench import pipeline, stage


def spin(seconds: float) -> None:
    """Busy the CPU for ``seconds`` (work that holds the GIL, as pure Python stages do)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def book(out: str, entry: dict[str, Any]) -> None:
    """Append one JSON line to ``out`` (each stage writes once, at the end of the chain)."""
    if out:
        with open(out, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")


def vm_hwm_bytes() -> int | None:
    """This process's peak RSS as the kernel keeps it (``VmHWM``), read by the pipeline."""
    try:
        with open(f"/proc/{os.getpid()}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


# ---- rates and self times: a fast phase, then a slow one ---------------------------------------


def produce(n_fast: int, n_slow: int, batch_size: int, out: str) -> Iterator[list[int]]:
    """The source: ``n_fast`` batches at 1 ms of work, then ``n_slow`` at 3 ms."""
    own = 0.0
    first_ns = None
    try:
        for i in range(n_fast + n_slow):
            t = time.perf_counter()
            if first_ns is None:
                first_ns = time.monotonic_ns()
            time.sleep(0.0008 if i < n_fast else 0.0025)
            spin(0.0002 if i < n_fast else 0.0005)
            batch = list(range(batch_size))
            own += time.perf_counter() - t
            yield batch
    finally:
        book(out, {"stage": "produce", "own_s": own, "first_ns": first_ns})


def transform(batches: Iterator[list[int]], n_fast: int, out: str) -> Iterator[list[int]]:
    """2 ms of work a batch in the fast phase, 8 ms in the slow one."""
    own = 0.0
    try:
        for i, batch in enumerate(batches):
            t = time.perf_counter()
            time.sleep(0.0015 if i < n_fast else 0.0065)
            spin(0.0005 if i < n_fast else 0.0015)
            result = [x + 1 for x in batch]
            own += time.perf_counter() - t
            yield result
    finally:
        book(out, {"stage": "transform", "own_s": own})


def stamp(batches: Iterator[list[int]], out: str) -> Iterator[list[int]]:
    """The last stage: 0.5 ms of work, then the batch's stamp and item count."""
    own = 0.0
    stamps: list[tuple[int, int]] = []
    try:
        for batch in batches:
            t = time.perf_counter()
            spin(0.0005)
            stamps.append((time.monotonic_ns(), len(batch)))
            own += time.perf_counter() - t
            yield batch
    finally:
        book(out, {"stage": "stamp", "own_s": own, "stamps": stamps})


@pipeline
def phases(
    batch_size: int = 100, n_fast: int = 500, n_slow: int = 160, out: str = ""
) -> tuple[Any, ...]:
    """A fast phase (about 4.5 ms a batch) then a slow one (about 14 ms), each over 2 s."""
    return (
        produce(n_fast, n_slow, batch_size, out),
        stage(lambda b: transform(b, n_fast, out), name="transform"),
        stage(lambda b: stamp(b, out), name="stamp"),
    )


# ---- peak memory: a short spike inside one batch -----------------------------------------------


def steady(n: int, batch_size: int) -> Iterator[list[int]]:
    for _ in range(n):
        time.sleep(0.005)
        yield list(range(batch_size))


def spike(batches: Iterator[list[int]], at: int, spike_mib: int) -> Iterator[list[int]]:
    """At batch ``at``: ``spike_mib`` MiB allocated, every page touched, and freed again
    within the batch (tens of ms): a peak that sampling alone could miss."""
    for i, batch in enumerate(batches):
        if i == at:
            block = np.ones(spike_mib << 20, dtype=np.uint8)
            batch = batch + [int(block[:: 1 << 12].sum())]
            del block
        yield batch


def hwm(batches: Iterator[list[int]], out: str) -> Iterator[list[int]]:
    try:
        yield from batches
    finally:
        book(out, {"stage": "hwm", "vm_hwm_bytes": vm_hwm_bytes()})


@pipeline
def memory_spike(
    batch_size: int = 64, n: int = 80, at: int = 40, spike_mib: int = 384, out: str = ""
) -> tuple[Any, ...]:
    """``n`` light batches; at batch ``at``, ``spike_mib`` MiB held for a moment."""
    return (
        steady(n, batch_size),
        stage(lambda b: spike(b, at, spike_mib), name="spike"),
        stage(lambda b: hwm(b, out), name="hwm"),
    )


# ---- items: every shape a stage yields, and the overrides ----------------------------------------


def rows(n: int, batch_size: int) -> Iterator[list[tuple[float, float, int]]]:
    """A list of ``(x, y, label)`` rows a batch: ``batch_size`` items."""
    for b in range(n):
        yield [(float(i), float(-i), (b + i) % 2) for i in range(batch_size)]


def one_row_each(batches: Iterator[list[tuple[float, float, int]]]) -> Iterator[tuple]:
    """Each row on its own: a tuple, one item (not three)."""
    for batch in batches:
        yield from batch


def collate(rows_in: Iterator[tuple], batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(features, labels)`` arrays of one leading dimension: ``batch_size`` items."""
    buf: list[tuple] = []
    for row in rows_in:
        buf.append(row)
        if len(buf) == batch_size:
            arr = np.asarray(buf, dtype=np.float32)
            yield arr[:, :2], arr[:, 2].astype(np.int64)
            buf = []


def as_dict(pairs: Iterator[tuple[np.ndarray, np.ndarray]]) -> Iterator[dict[str, np.ndarray]]:
    """A dict of arrays of one leading dimension: that many items."""
    for x, y in pairs:
        yield {"x": x, "y": y}


def as_tensor(dicts: Iterator[dict[str, np.ndarray]], torch: Any) -> Iterator[Any]:
    """A torch tensor (rows, 3): its leading dimension."""
    for d in dicts:
        yield torch.from_numpy(np.concatenate([d["x"], d["y"][:, None].astype(np.float32)], 1))


def loss(tensors: Iterator[Any]) -> Iterator[float]:
    """One number a batch: one item."""
    for t in tensors:
        yield float(t.sum())


@pipeline(requires=["torch"])
def item_shapes(batch_size: int = 32, n: int = 40) -> tuple[Any, ...]:
    """Lists, tuples, pairs of arrays, dicts of arrays, tensors, a number, an override."""
    import torch  # here, before the chain starts: not in a stage's time

    return (
        rows(n, batch_size),
        stage(one_row_each, name="tuples"),
        stage(lambda r: collate(r, batch_size), name="pairs"),
        stage(as_dict, name="dicts"),
        stage(lambda d: as_tensor(d, torch), name="tensors"),
        stage(loss, name="loss"),
        stage(passthrough, name="loss_as_samples", items=batch_size),
    )


def records(n: int, batch_size: int) -> Iterator[dict[str, Any]]:
    for _ in range(n):
        yield {"n": batch_size, "payload": b"x" * batch_size}


def passthrough(values: Iterator[Any]) -> Iterator[Any]:
    yield from values


@pipeline(items=lambda value: value["n"])
def pipeline_override(batch_size: int = 32, n: int = 40) -> tuple[Any, ...]:
    """Dicts that say how many samples they carry; ``@pipeline(items=...)`` reads it."""
    return records(n, batch_size), passthrough
