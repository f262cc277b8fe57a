"""Training samples read from SQLite in batches train a small torch model (seed 002).

Every resource is held by one of pipebench's context managers, so it is released however the
run ends, and the run shows what each one held. The samples are read inside one SQLite
transaction (one consistent snapshot for every epoch); the model trains under ``gpu_memory``
(the CUDA cache emptied on entry and exit) and ``experiment_log`` (its file handler always
removed); each epoch is ``timed``; the epochs' metrics are written in a second transaction
that commits when training completes and rolls back if the run ends early. On CUDA when
there is a device, else on the CPU.
"""

from __future__ import annotations

import functools
import sqlite3
import uuid
from collections.abc import Iterator
from itertools import groupby
from pathlib import Path
from typing import Any

import numpy as np

from workbench import (
    data_dir,
    data_file,
    experiment_log,
    gpu_memory,
    pipeline,
    sqlite_transaction,
    stage,
    timed,
)


def samples_db(rows: int, features: int, classes: int, seed: int = 0) -> Path:
    """The path of a deterministic database of ``rows`` labelled samples, made on first use.

    ``samples(id, x, label)`` holds float32 feature vectors as blobs around one centre per
    class; ``epochs`` receives the metrics. WAL mode, so that the metrics writer and the
    samples reader never wait for each other.
    """

    def write(tmp: Path) -> None:
        rng = np.random.default_rng(seed)
        centres = rng.normal(0.0, 1.5, (classes, features)).astype(np.float32)
        labels = rng.integers(0, classes, rows)
        x = centres[labels] + rng.standard_normal((rows, features), dtype=np.float32)
        conn = sqlite3.connect(tmp)
        try:
            conn.execute(
                "CREATE TABLE samples(id INTEGER PRIMARY KEY, x BLOB NOT NULL, "
                "label INTEGER NOT NULL)"
            )
            conn.execute(
                "CREATE TABLE epochs(run TEXT, epoch INTEGER, loss REAL, accuracy REAL, "
                "seconds REAL, device TEXT)"
            )
            conn.executemany(
                "INSERT INTO samples VALUES (?, ?, ?)",
                ((i, x[i].tobytes(), int(labels[i])) for i in range(rows)),
            )
            conn.commit()
            conn.execute("PRAGMA journal_mode=WAL")
        finally:
            conn.close()

    return data_file(f"training-{rows}x{features}-{classes}-{seed}.db", write)


def read_samples(
    db: Path, batch_size: int, epochs: int, features: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(x, labels)`` batches, one pass over the table per epoch, in one read transaction."""
    with sqlite_transaction(db) as conn:
        for _ in range(epochs):
            cursor = conn.execute("SELECT x, label FROM samples ORDER BY id")
            while rows := cursor.fetchmany(batch_size):
                blob = bytearray(b"".join(r[0] for r in rows))  # writable, for torch
                x = np.frombuffer(blob, np.float32).reshape(len(rows), features)
                yield x, np.fromiter((r[1] for r in rows), np.int64, len(rows))


def to_device(batches: Iterator[tuple[np.ndarray, np.ndarray]], device: str) -> Iterator[Any]:
    """NumPy batches to tensors on the training device."""
    import torch

    for x, y in batches:
        yield torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)


def train(
    batches: Iterator[Any],
    *,
    db: Path,
    device: str,
    features: int,
    hidden: int,
    classes: int,
    lr: float,
    epochs: int,
    batches_per_epoch: int,
    seed: int = 0,
) -> Iterator[Any]:
    """Train an MLP, yielding each batch's per-sample losses; log and store each epoch."""
    import torch
    from torch import nn

    run = uuid.uuid4().hex[:8]
    with experiment_log(data_dir() / "training.log") as log, gpu_memory(device):
        torch.manual_seed(seed)
        model = nn.Sequential(
            nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, classes)
        ).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        loss_fn = nn.CrossEntropyLoss(reduction="none")
        log.info("run %s: %d epochs of %d batches on %s", run, epochs, batches_per_epoch, device)
        with sqlite_transaction(db) as conn:
            numbered = enumerate(batches)  # read to its end, so the reader's transaction ends
            for epoch, group in groupby(numbered, key=lambda ib: ib[0] // batches_per_epoch + 1):
                with timed(f"epoch {epoch}") as clock:
                    loss_sum = torch.zeros((), device=device)
                    correct = torch.zeros((), device=device, dtype=torch.long)
                    seen = 0
                    for _, (x, y) in group:
                        opt.zero_grad(set_to_none=True)
                        logits = model(x)
                        losses = loss_fn(logits, y)
                        losses.mean().backward()
                        opt.step()
                        loss_sum += losses.detach().sum()
                        correct += (logits.argmax(1) == y).sum()
                        seen += len(y)
                        yield losses.detach()
                    loss, accuracy = loss_sum.item() / seen, correct.item() / seen
                conn.execute(
                    "INSERT INTO epochs VALUES (?, ?, ?, ?, ?, ?)",
                    (run, epoch, loss, accuracy, clock.elapsed_s, device),
                )
                log.info(
                    "epoch %d: loss %.4f, accuracy %.3f, %.2f s",
                    epoch,
                    loss,
                    accuracy,
                    clock.elapsed_s,
                )


@pipeline(requires=["torch"])
def training_resources(
    batch_size: int = 64,
    rows: int = 4096,
    features: int = 32,
    classes: int = 4,
    hidden: int = 64,
    epochs: int = 3,
    lr: float = 0.01,
    device: str = "auto",
):
    """SQLite samples train a small MLP under gpu_memory, experiment_log and timed epochs."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    db = samples_db(rows, features, classes)
    step = functools.partial(
        train,
        db=db,
        device=device,
        features=features,
        hidden=hidden,
        classes=classes,
        lr=lr,
        epochs=epochs,
        batches_per_epoch=-(-rows // batch_size),
    )
    return (
        read_samples(db, batch_size, epochs, features),
        stage(functools.partial(to_device, device=device), name="to_device"),
        stage(step, name="train"),
    )
