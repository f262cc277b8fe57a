"""A JSONL corpus streamed in batches, tokenized and turned into features (seed 000).

Four ways to feed the same stages, the rows of the article's table: a generator reading
the file line by line (memory stays flat), a twin that loads the whole file into a list
first (memory grows with the corpus), a producer process that reads and tokenizes the file
into a ``multiprocessing.Queue`` (that work runs beside the last stage, in parallel; memory
depends on the queue's bound, and the probe sees only the wait on the queue), and a torch
``IterableDataset`` behind ``DataLoader(batch_size=None)``.
``pipebench table pipelines/jsonl_tokens.py`` runs them all and prints the comparison.
"""

from __future__ import annotations

import json
import multiprocessing
import queue
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from workbench import data_file, pipeline, progress

Record = dict[str, Any]

_SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "xe", "zu", "ba", "de", "fi", "go"]


def _vocabulary(size: int = 2000) -> list[str]:
    rng = np.random.default_rng(7)
    words = set()
    while len(words) < size:
        n = int(rng.integers(1, 4))
        words.add("".join(_SYLLABLES[int(i)] for i in rng.integers(0, len(_SYLLABLES), n)))
    return sorted(words)


def corpus(rows: int, seed: int = 0) -> Path:
    """The path of a deterministic JSONL corpus of ``rows`` records, made on first use (by
    one run, whole or not at all, however many start at once)."""

    def write(tmp: Path) -> None:
        vocab = np.array(_vocabulary())
        rng = np.random.default_rng(seed)
        with open(tmp, "w", encoding="utf-8") as f:
            for start in range(0, rows, 10_000):
                n = min(10_000, rows - start)
                lengths = rng.integers(12, 60, n)
                words = vocab[rng.integers(0, len(vocab), int(lengths.sum()))]
                labels = rng.integers(0, 4, n)
                ends = np.cumsum(lengths)
                lines = []
                for i in range(n):
                    text = " ".join(words[ends[i] - lengths[i] : ends[i]]).capitalize() + "."
                    record = {"id": start + i, "text": text, "label": int(labels[i])}
                    lines.append(json.dumps(record))
                f.write("\n".join(lines) + "\n")
                progress("writing the JSONL corpus", start + n, rows, unit="rows")

    return data_file(f"corpus-{rows}-{seed}.jsonl", write)


class FileStream:
    """Opens a JSONL file for the length of a ``with`` block and reads it in batches."""

    def __init__(self, file_path: Path, batch_size: int):
        self.file_path = file_path
        self.batch_size = batch_size

    def __enter__(self) -> FileStream:
        self.file = open(self.file_path, encoding="utf-8")
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()

    def batch_generator(self) -> Iterator[list[Record]]:
        batch: list[Record] = []
        for line in self.file:
            batch.append(json.loads(line))
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch:
            yield batch


def read_jsonl(path: Path, batch_size: int) -> Iterator[list[Record]]:
    """Stream the file: one batch in memory at a time; the file closes however it ends."""
    with FileStream(path, batch_size) as stream:
        yield from stream.batch_generator()


def load_all(path: Path, batch_size: int) -> Iterator[list[Record]]:
    """Read every record into a list first, then hand it out in batches."""
    with open(path, encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    for i in range(0, len(records), batch_size):
        yield records[i : i + batch_size]


def produce(path: Path, batch_size: int, out: Any) -> None:
    """The producer process: read, parse and tokenize the file in batches, put each on the
    queue, then ``None`` to say it is done."""
    with FileStream(path, batch_size) as stream:
        for batch in tokenize(stream.batch_generator()):
            out.put(batch)
    out.put(None)


def from_queue(path: Path, batch_size: int, depth: int = 8) -> Iterator[list[Record]]:
    """Batches a producer process puts on a ``multiprocessing.Queue`` of ``depth`` batches
    (what bounds the memory in flight); the producer is ended however the run ends."""
    batches: Any = multiprocessing.Queue(maxsize=depth)
    producer = multiprocessing.Process(
        target=produce, args=(path, batch_size, batches), name="jsonl-producer", daemon=True
    )
    producer.start()
    try:
        while True:
            try:
                batch = batches.get(timeout=1.0)
            except queue.Empty:
                if not producer.is_alive():
                    raise RuntimeError(
                        f"the producer process ended (exit code {producer.exitcode}) "
                        "before it said it was done"
                    ) from None
                continue
            if batch is None:
                break
            yield batch
        producer.join()
    finally:
        if producer.is_alive():
            producer.terminate()
            producer.join(5)
        batches.close()
        batches.cancel_join_thread()


_WORD = re.compile(r"\w+")


def tokenize(batches: Iterator[list[Record]]) -> Iterator[list[Record]]:
    for batch in batches:
        yield [
            {"tokens": _WORD.findall(item["text"].lower()), "label": item["label"]}
            for item in batch
        ]


def to_features(
    batches: Iterator[list[Record]], max_len: int = 64
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Token ids padded to ``max_len`` and labels, as arrays: ``(ids, labels)``."""
    vocab: dict[str, int] = {}
    for batch in batches:
        ids = np.zeros((len(batch), max_len), dtype=np.int32)
        for row, item in enumerate(batch):
            toks = item["tokens"][:max_len]
            ids[row, : len(toks)] = [vocab.setdefault(t, len(vocab) + 1) for t in toks]
        yield ids, np.fromiter((item["label"] for item in batch), np.int64, len(batch))


@pipeline
def jsonl_tokens(batch_size: int = 64, rows: int = 200_000):
    """Stream a JSONL corpus in batches, tokenize it and make padded id arrays."""
    return read_jsonl(corpus(rows), batch_size), tokenize, to_features


@pipeline
def jsonl_tokens_load_all(batch_size: int = 64, rows: int = 200_000):
    """The same stages fed from a list holding the whole corpus (memory grows with it)."""
    return load_all(corpus(rows), batch_size), tokenize, to_features


@pipeline
def jsonl_tokens_queue(batch_size: int = 64, rows: int = 200_000):
    """Reading and tokenizing in a producer process, fed through a multiprocessing.Queue."""
    return from_queue(corpus(rows), batch_size), to_features


def _streaming_dataset(path: Path, batch_size: int) -> Any:
    from torch.utils.data import IterableDataset

    class StreamingDataset(IterableDataset):  # type: ignore[misc]
        """Batches read line by line inside the dataset; DataLoader only iterates."""

        def __iter__(self) -> Iterator[list[Record]]:
            return read_jsonl(path, batch_size)

    return StreamingDataset()


@pipeline(requires=["torch"])
def jsonl_tokens_torch(batch_size: int = 64, rows: int = 200_000):
    """The streaming source as a torch IterableDataset behind DataLoader(batch_size=None)."""
    from torch.utils.data import DataLoader

    loader = DataLoader(_streaming_dataset(corpus(rows), batch_size), batch_size=None)
    return loader, tokenize, to_features
