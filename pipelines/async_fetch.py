"""Records fetched from a slow service with async generators (seed 000: async generators for
I/O-bound streaming), one at a time or many at once.

The service is simulated: each request waits ``latency_ms`` (``asyncio.sleep``) and returns
a record. ``async_fetch`` keeps up to ``concurrency`` requests in flight under a semaphore
and hands the records on in order; ``async_fetch_sequential`` awaits one request after the
other. Both chains mix sync and async stages: an async source of record ids, a sync stage
that makes the requests, the async fetch, and sync stages that parse and batch. Run both
with ``pipebench table pipelines/async_fetch.py`` to see what the concurrency buys.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from collections import deque
from collections.abc import AsyncIterator, Iterator
from typing import Any

from workbench import pipeline, stage

Request = dict[str, Any]


async def record_ids(n: int) -> AsyncIterator[int]:
    """The ids to fetch, from an async source (a paginated listing would await here)."""
    for i in range(n):
        yield i


def make_requests(ids: Iterator[int]) -> Iterator[Request]:
    """A sync stage between two async ones: one request per id."""
    for i in ids:
        yield {"url": f"https://records.example/{i}", "id": i}


async def _service(request: Request, latency_s: float) -> bytes:
    """The simulated service: waits, then answers with a JSON body."""
    await asyncio.sleep(latency_s)
    body = {"id": request["id"], "text": f"record {request['id']} " * 8}
    return json.dumps(body).encode()


def fetch_sequential(latency_ms: float) -> Any:
    async def fetch(requests: AsyncIterator[Request]) -> AsyncIterator[bytes]:
        async for request in requests:
            yield await _service(request, latency_ms / 1000)

    return stage(fetch, name="fetch")


def fetch_concurrent(latency_ms: float, concurrency: int) -> Any:
    async def fetch(requests: AsyncIterator[Request]) -> AsyncIterator[bytes]:
        """Up to ``concurrency`` requests in flight; records handed on in order."""
        limit = asyncio.Semaphore(concurrency)

        async def one(request: Request) -> bytes:
            async with limit:
                return await _service(request, latency_ms / 1000)

        in_flight: deque[asyncio.Task[bytes]] = deque()
        try:
            async for request in requests:
                in_flight.append(asyncio.create_task(one(request)))
                if len(in_flight) >= 2 * concurrency:  # keep reading ahead, bounded
                    yield await in_flight.popleft()
            while in_flight:
                yield await in_flight.popleft()
        finally:
            for task in in_flight:  # a stop: nothing is left running
                task.cancel()

    return stage(fetch, name="fetch")


def parse(bodies: Iterator[bytes]) -> Iterator[dict[str, Any]]:
    for body in bodies:
        record = json.loads(body)
        record["checksum"] = zlib.crc32(record["text"].encode())
        yield record


def batches(records: Iterator[dict[str, Any]], batch_size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for record in records:
        batch.append(record)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def _batched(batch_size: int) -> Any:
    return stage(lambda records: batches(records, batch_size), name="batch")


@pipeline
def async_fetch(
    batch_size: int = 32, requests: int = 300, latency_ms: float = 10.0, concurrency: int = 32
):
    """Fetch records from a slow service, up to `concurrency` requests at once."""
    return (
        record_ids(requests),
        make_requests,
        fetch_concurrent(latency_ms, concurrency),
        parse,
        _batched(batch_size),
    )


@pipeline
def async_fetch_sequential(
    batch_size: int = 32, requests: int = 300, latency_ms: float = 10.0, concurrency: int = 32
):
    """The same fetches one after the other (`concurrency` is not used)."""
    return (
        record_ids(requests),
        make_requests,
        fetch_sequential(latency_ms),
        parse,
        _batched(batch_size),
    )
