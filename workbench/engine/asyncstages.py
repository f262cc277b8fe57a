"""Async generators as a pipeline's source or stages, on one event loop per run.

An async source (an async generator, or any async iterable) and an async stage
(``async def stage(upstream): async for x in upstream: ... yield y``) run on an asyncio event
loop that the runner's main thread drives in steps, so that every stage boundary still goes
through the stage probe exactly as a sync one does:

- The output of an async source or stage is wrapped in an ``AsyncOutput``: a sync iterator
  whose ``__next__`` runs the loop until the async generator's next value is ready. The probe
  wraps it as it wraps any iterator, so the stage is charged the time the loop ran for it,
  its awaits included (an I/O wait is the stage's own time).
- An async stage gets an ``AsyncUpstream``: an async iterator over the probe of the position
  before it. Its ``__anext__`` stops the loop and the main thread takes the next value
  through that probe (the stage's ``AsyncOutput`` serves the request), so that boundary is
  timed too, and a sync upstream never runs inside the loop.
- A sync stage after an async one gets the probe, a sync iterator, as usual.

Tasks an async stage starts (concurrent fetches under a semaphore) run whenever the loop
runs: while the stage waits for its own next value, and also while an async stage upstream
of it works, whose self time then holds their callbacks. While a sync stage runs, the loop
does not: the run stays on one thread and pipebench adds none.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

from workbench.authoring.pipeline import Stage
from workbench.errors import UserError

if TYPE_CHECKING:  # asyncio itself only where a chain has an async stage
    import asyncio

_END = object()  # what ``_anext`` returns at the end of an async iterator


async def _anext(it: Any, loop: asyncio.AbstractEventLoop) -> Any:
    """The next value of ``it`` (``_END`` at its end); stops the loop as it returns, so the
    main thread gets the value after this loop iteration (not one more for a callback)."""
    try:
        return await it.__anext__()
    except StopAsyncIteration:
        return _END
    finally:
        loop.stop()


def _function_of(stage: Any) -> Any:
    """The function a stage runs: a ``Stage``'s own, a partial's, or the callable itself."""
    fn = stage.fn if isinstance(stage, Stage) and stage.workers is None else stage
    while isinstance(fn, functools.partial):
        fn = fn.func
    return fn


def is_async_stage(stage: Any) -> bool:
    """Whether ``stage`` is an async generator function (also behind a ``Stage``, a
    ``functools.partial`` or a ``functools.wraps`` decorator): it then gets an async
    iterator over its upstream."""
    fn = _function_of(stage)
    if inspect.isasyncgenfunction(fn):
        return True
    if inspect.isgeneratorfunction(fn):
        return False
    try:
        inner = inspect.unwrap(fn)
    except ValueError:
        return False
    if inspect.isasyncgenfunction(inner):
        return True
    if inspect.isroutine(fn) or inspect.isclass(fn):
        return False
    call = inspect.getattr_static(type(fn), "__call__", None)  # a callable object's method
    return inspect.isasyncgenfunction(call)


def is_async_iterable(obj: Any) -> bool:
    """An async iterable that is not also a sync one (a sync one is iterated as such)."""
    t = type(obj)
    return (hasattr(t, "__aiter__") or hasattr(t, "__anext__")) and not hasattr(t, "__iter__")


class EventLoop:
    """The run's event loop: made at the first async part, run in steps by the main thread,
    closed with the last ``AsyncOutput`` (remaining tasks cancelled, async generators shut
    down), as ``asyncio.run`` ends its loop."""

    def __init__(self) -> None:
        import asyncio

        self.loop = asyncio.new_event_loop()
        self.outputs = 0  # AsyncOutputs not closed yet

    def stop(self, *_: object) -> None:
        self.loop.stop()

    def run_until(self, done: Callable[[], bool]) -> None:
        """Run the loop until ``done()`` (checked each time something stops the loop: a
        step's task finishing, or an async stage asking its upstream for a value)."""
        while not done():
            self.loop.run_forever()

    def step(self, coro: Any) -> asyncio.Task[Any]:
        """A task for ``coro`` that stops the loop when it is done."""
        task = self.loop.create_task(coro)
        task.add_done_callback(self.stop)
        return task

    def release(self) -> None:
        """One ``AsyncOutput`` was closed; the last one closes the loop."""
        self.outputs -= 1
        if self.outputs > 0 or self.loop.is_closed():
            return
        import asyncio

        loop = self.loop
        try:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for t in pending:
                t.cancel()
            if pending:
                gathered = loop.create_task(_settle(pending))
                gathered.add_done_callback(self.stop)
                self.run_until(gathered.done)
            shutdown = self.step(loop.shutdown_asyncgens())
            self.run_until(shutdown.done)
        finally:
            loop.close()


async def _settle(tasks: list[asyncio.Task[Any]]) -> None:
    import asyncio

    await asyncio.gather(*tasks, return_exceptions=True)


class AsyncUpstream(AsyncIterator[Any]):
    """What an async stage iterates: the probe of the position before it, read by the main
    thread with the loop stopped, one value at a time."""

    def __init__(self, events: EventLoop, it: Iterator[Any], stage: str):
        self.events = events
        self.it = it
        self.stage = stage
        self.future: asyncio.Future[Any] | None = None
        self.closing = False

    def __aiter__(self) -> AsyncUpstream:
        return self

    async def __anext__(self) -> Any:
        if self.closing:
            raise StopAsyncIteration
        if self.future is not None:
            raise RuntimeError(
                f"stage {self.stage}: its upstream is already being read by another task; "
                "read it from one task at a time (as with any async generator)"
            )
        fut = self.events.loop.create_future()
        self.future = fut
        self.events.loop.stop()  # the main thread takes the value (see AsyncOutput)
        try:
            return await fut
        finally:
            self.future = None

    @property
    def waiting(self) -> bool:
        """The stage asked for a value that has not been taken yet."""
        return self.future is not None and not self.future.done()

    def serve(self) -> None:
        """Take the next value through the probe (main thread, loop stopped) and hand it,
        or its end or its exception, to the waiting stage."""
        fut = self.future
        assert fut is not None
        try:
            value = next(self.it)
        except StopIteration:
            if not fut.done():
                fut.set_exception(StopAsyncIteration())
        except BaseException as exc:  # a stage's error, or a stop: the stage sees it raised
            if not fut.done():
                fut.set_exception(exc)
        else:
            if not fut.done():
                fut.set_result(value)


class AsyncOutput(Iterator[Any]):
    """The sync iterator over an async source's or stage's values that the probe wraps."""

    def __init__(
        self, events: EventLoop, it: Any, upstream: AsyncUpstream | None, name: str
    ) -> None:
        self.events = events
        self.it = it
        self.upstream = upstream
        self.name = name
        self.task: asyncio.Task[Any] | None = None
        self.closed = False
        events.outputs += 1

    def __iter__(self) -> AsyncOutput:
        return self

    def __next__(self) -> Any:
        if self.closed:
            raise StopIteration
        task = self.events.loop.create_task(_anext(self.it, self.events.loop))
        self.task = task
        up = self.upstream
        if up is None:
            self.events.run_until(task.done)
        else:
            while True:
                self.events.run_until(lambda: task.done() or up.waiting)
                if task.done():
                    break
                up.serve()
        self.task = None
        value = task.result()
        if value is _END:
            raise StopIteration
        return value

    def close(self) -> None:
        """Close the async generator on the loop (its ``finally`` blocks and ``async with``
        blocks run), first cancelling a step that a stop interrupted."""
        if self.closed:
            return
        self.closed = True
        events = self.events
        try:
            if self.upstream is not None:
                self.upstream.closing = True
            task = self.task
            if task is not None and not task.done():
                task.cancel()
                events.run_until(task.done)
            aclose = getattr(self.it, "aclose", None)
            if aclose is not None:
                closing = events.step(aclose())
                events.run_until(closing.done)
                closing.result()  # a finally block that raises: reported as a sync one is
        finally:
            self.task = None
            events.release()


def _not_iterable(what: str, obj: Any) -> str:
    """The end of the message for a source or stage output that cannot be iterated."""
    if inspect.iscoroutine(obj):
        obj.close()  # never awaited: no warning for it
        return (
            f"{what} is a coroutine (an `async def` function without `yield`): make that "
            "function an async generator (`async def` with `yield`) or a generator"
        )
    if inspect.isasyncgenfunction(obj) or inspect.isgeneratorfunction(obj):
        kind = "an async generator" if inspect.isasyncgenfunction(obj) else "a generator"
        return f"{what} is {kind} function, not called: call it (`{obj.__name__}(...)`)"
    return ""


class AsyncChain:
    """Turns a pipeline's source and stage outputs into the sync iterators the probes wrap,
    async ones included (see the module's docstring); made by the runner child per run."""

    def __init__(self, pipeline: str):
        self.pipeline = pipeline
        self.events: EventLoop | None = None
        self.async_parts: list[str] = []  # names of the async source and stages, in order
        self._upstream: AsyncUpstream | None = None

    def _loop(self) -> EventLoop:
        if self.events is None:
            self.events = EventLoop()
        return self.events

    def source(self, source: Any, name: str) -> Iterator[Any]:
        """The iterator over the source's values.

        Raises:
            UserError: the source is neither iterable nor async iterable.
        """
        if is_async_iterable(source):
            self.async_parts.append(name)
            return AsyncOutput(self._loop(), source.__aiter__(), None, name)
        try:
            return iter(source)
        except TypeError:
            why = _not_iterable("it", source)
            raise UserError(
                f"pipeline {self.pipeline}: the source ({type(source).__name__}) is not "
                "iterable" + (f": {why}" if why else " (nor an async iterable)")
            ) from None

    def call(self, stage: Any, upstream: Iterator[Any], name: str) -> Any:
        """Call ``stage`` on ``upstream``: an async stage gets an async iterator over it."""
        self._upstream = None
        if is_async_stage(stage):
            self._upstream = AsyncUpstream(self._loop(), upstream, name)
            return stage(self._upstream)
        return stage(upstream)

    def output(self, out: Any, name: str) -> Iterator[Any]:
        """The iterator over what the stage just called returned.

        Raises:
            UserError: it returned neither an iterator nor an async iterator.
        """
        upstream, self._upstream = self._upstream, None
        if isinstance(out, Iterator):
            return out
        if is_async_iterable(out):
            if upstream is None:  # a plain function returning an async iterator
                raise UserError(
                    f"stage {name} returned {type(out).__name__}, an async iterator, but was "
                    "given a sync one: make the stage itself an async generator function "
                    "(`async def` with `yield`, reading upstream with `async for`)"
                )
            self.async_parts.append(name)
            return AsyncOutput(self._loop(), out.__aiter__(), upstream, name)
        why = _not_iterable("that", out)
        raise UserError(
            f"stage {name} returned {type(out).__name__}, not an iterator: "
            + (
                why
                or "make it a generator (use yield), an async generator (async def "
                "with yield) or return iter(...)"
            )  # fmt: skip
        )
