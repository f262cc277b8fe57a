"""A pipeline module's own context managers and ``cached_property`` values, recorded and
counted with no change to its code.

The runner child applies these when it builds a run (``workbench.engine.autofind``);
``pipebench run --no-instrument`` leaves the module as it is.

- A context manager class of the user's code (``__enter__``/``__exit__``, a
  ``ContextDecorator`` among them) has both methods wrapped in place, so every ``with`` on an
  instance is recorded as ``workbench.track()`` records one (``workbench.authoring.recording``):
  entry and exit times, duration, RSS and CUDA change, the exception it ended with, and the
  outcome: "rolled back" or "committed" when its ``__exit__`` was seen calling a
  ``rollback()`` or ``commit()`` method.
- ``contextlib``'s generator context managers (``@contextmanager``, used in a ``with`` or as a
  decorator) are wrapped once, at the class: one whose generator function is user code is
  recorded the same way, any other (a library's) goes straight through.
- A ``functools.cached_property`` is replaced by ``CountedCachedProperty``, which counts hits
  (reads of a value already computed), misses (computations, timed) and deletions.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, NamedTuple

from workbench.authoring.cachestats import STATS_ATTR, CacheStats, time_misses
from workbench.authoring.recording import (
    REGISTRY,
    ContextRecord,
    describe_exit,
    owner_frame,
    shielded,
)

#: Set on a method this module wrapped (so it is never wrapped twice).
MARK = "__pipebench_recorded__"
#: Method names whose call during an ``__exit__`` is an outcome worth naming.
_OUTCOME_CALLS = {"rollback": "rolled back", "commit": "committed"}
#: Records of the instances entered and not yet left, by ``id`` (a stack: an instance can
#: be entered again before it is left).
_open: dict[int, list[ContextRecord]] = {}
_local = threading.local()  # ids of instances whose wrapped method is running on this thread


def _busy() -> set[int]:
    busy: set[int] | None = getattr(_local, "busy", None)
    if busy is None:
        busy = _local.busy = set()
    return busy


def _watched_calls(code: Any) -> bool:
    """Whether ``code`` (an ``__exit__`` or a generator function) names a rollback or
    commit method, so that its exit is watched for the call."""
    return code is not None and not _OUTCOME_CALLS.keys().isdisjoint(code.co_names)


def _call_watched(call: Callable[[], Any], watch: bool) -> tuple[Any, list[str]]:
    """``call()``, and the rollback/commit methods it was seen calling (its own calls and
    those of what it calls), watched with a profile function on this thread only while it
    runs. Not watched when another profiler runs (``cProfile``): it is left alone."""
    if not watch or sys.getprofile() is not None:
        return call(), []
    seen: list[str] = []

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "c_call":
            name = getattr(arg, "__name__", "")
        elif event == "call":
            name = frame.f_code.co_name
        else:
            return
        if name in _OUTCOME_CALLS:
            seen.append(name)

    sys.setprofile(profile)
    try:
        return call(), seen
    finally:
        sys.setprofile(None)


def _outcome(
    exc_type: type[BaseException] | None,
    exc: BaseException | None,
    suppress: bool,
    seen: list[str],
) -> tuple[str, str | None]:
    """The record's outcome and exception type, as ``Tracked`` gives them, with a rollback
    or commit seen during the exit named."""
    name: str | None
    if exc is None and exc_type is not None:
        outcome, name = exc_type.__name__, exc_type.__name__
    else:
        outcome, name = describe_exit(exc)
    if "rollback" in seen:
        outcome = "rolled back"
    elif "commit" in seen and exc_type is None:
        outcome = "committed"
    elif suppress and exc_type is not None:
        outcome = f"suppressed {name}"
    return outcome, name


def _leave(
    rec: ContextRecord,
    exit_call: Callable[[], Any],
    watch: bool,
    exc_type: type[BaseException] | None,
    exc: BaseException | None,
) -> Any:
    """Run the original exit and record how the block ended; returns what the exit did."""
    outcome, name = _outcome(exc_type, exc, False, [])
    try:
        result, seen = _call_watched(exit_call, watch)
    except BaseException as close_exc:
        outcome = f"exit raised {type(close_exc).__name__}"
        raise
    else:
        outcome, name = _outcome(exc_type, exc, bool(result), seen)
    finally:
        REGISTRY.exit(rec, outcome, name)
    return result


def record_context_class(cls: type) -> bool:
    """Record every ``with`` on an instance of ``cls`` (see the module's docstring).

    Only methods ``cls`` defines itself are wrapped; a ``super().__enter__()`` inside one
    recorded call is not recorded again. Returns whether ``cls`` defines both methods (and
    is now recorded).
    """
    enter, leave = cls.__dict__.get("__enter__"), cls.__dict__.get("__exit__")
    if not (callable(enter) and callable(leave)):
        return False
    if getattr(enter, MARK, False):
        return True
    watch = _watched_calls(getattr(leave, "__code__", None))

    @functools.wraps(enter)
    def __enter__(self: Any) -> Any:
        key, busy = id(self), _busy()
        if key in busy:
            return enter(self)
        busy.add(key)
        entered = False
        try:
            with shielded():
                rec = REGISTRY.enter("context", type(self).__qualname__, owner_frame())
                try:
                    value = enter(self)
                except BaseException as exc:
                    REGISTRY.exit(rec, *_outcome(type(exc), exc, False, []))
                    raise
                _open.setdefault(key, []).append(rec)
                entered = True
        except BaseException as exc:
            if not entered:
                raise
            busy.discard(key)
            return _stopped_on_entry(self, exc, value)
        finally:
            busy.discard(key)
        return value

    @functools.wraps(leave)
    def __exit__(
        self: Any,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any:
        key, busy = id(self), _busy()
        stack = _open.get(key)
        if key in busy or not stack:  # inside a recorded exit, or entered before recording
            return leave(self, exc_type, exc, tb)
        rec = stack.pop()
        if not stack:
            del _open[key]
        busy.add(key)
        try:
            with shielded():
                return _leave(rec, lambda: leave(self, exc_type, exc, tb), watch, exc_type, exc)
        finally:
            busy.discard(key)

    setattr(__enter__, MARK, True)
    setattr(__exit__, MARK, True)
    type.__setattr__(cls, "__enter__", __enter__)
    type.__setattr__(cls, "__exit__", __exit__)
    return True


def _stopped_on_entry(cm: Any, exc: BaseException, value: Any) -> Any:
    """A stop held back while ``cm`` was entered (see ``recording._Shield``) is raised as
    the shield ends: inside ``__enter__``, where ``with`` would take the context as never
    entered and never call its ``__exit__`` (the resource kept, its cleanup never run). It
    is left here as if the stop had landed on the first line of the ``with`` body."""
    if not type(cm).__exit__(cm, type(exc), exc, exc.__traceback__):
        raise exc
    return value  # its __exit__ swallowed the stop: the body runs (the next boundary stops)


_RECORD_ATTR = "_pipebench_record"
_user_code: list[Callable[[Any], bool]] = []  # the predicate the contextlib wrappers use


def record_contextmanagers(is_user_code: Callable[[Any], bool]) -> None:
    """Record the ``@contextmanager`` (and ``@asynccontextmanager``) context managers whose
    generator function ``is_user_code`` accepts, however they are used."""
    _user_code[:] = [is_user_code]
    _wrap_generator_cm(contextlib._GeneratorContextManager)
    _wrap_async_generator_cm(contextlib._AsyncGeneratorContextManager)


def _recorded_func(cm: Any) -> Any:
    func = getattr(cm, "func", None)
    return func if func is not None and _user_code and _user_code[0](func) else None


def _wrap_generator_cm(cls: type) -> None:
    enter, leave = cls.__enter__, cls.__exit__  # type: ignore[attr-defined]
    if getattr(enter, MARK, False):
        return

    @functools.wraps(enter)
    def __enter__(self: Any) -> Any:
        func = _recorded_func(self)  # contextlib deletes self.func as it enters
        if func is None:
            return enter(self)
        entered = False
        try:
            with shielded():
                rec = REGISTRY.enter("context", func.__qualname__, owner_frame())
                try:
                    value = enter(self)
                except BaseException as exc:
                    REGISTRY.exit(rec, *_outcome(type(exc), exc, False, []))
                    raise
                setattr(self, _RECORD_ATTR, (rec, _watched_calls(getattr(func, "__code__", None))))
                entered = True
        except BaseException as exc:
            if not entered:
                raise
            return _stopped_on_entry(self, exc, value)
        return value

    @functools.wraps(leave)
    def __exit__(
        self: Any,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any:
        held = self.__dict__.pop(_RECORD_ATTR, None)
        if held is None:
            return leave(self, exc_type, exc, tb)
        rec, watch = held
        with shielded():
            return _leave(rec, lambda: leave(self, exc_type, exc, tb), watch, exc_type, exc)

    setattr(__enter__, MARK, True)
    type.__setattr__(cls, "__enter__", __enter__)
    type.__setattr__(cls, "__exit__", __exit__)


def _wrap_async_generator_cm(cls: type) -> None:
    enter, leave = cls.__aenter__, cls.__aexit__  # type: ignore[attr-defined]
    if getattr(enter, MARK, False):
        return

    @functools.wraps(enter)
    async def __aenter__(self: Any) -> Any:
        func = _recorded_func(self)
        if func is None:
            return await enter(self)
        rec = REGISTRY.enter("context", func.__qualname__, owner_frame())
        try:
            value = await enter(self)
        except BaseException as exc:
            REGISTRY.exit(rec, *_outcome(type(exc), exc, False, []))
            raise
        setattr(self, _RECORD_ATTR, rec)
        return value

    @functools.wraps(leave)
    async def __aexit__(
        self: Any,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any:
        rec = self.__dict__.pop(_RECORD_ATTR, None)
        if rec is None:
            return await leave(self, exc_type, exc, tb)
        outcome, name = _outcome(exc_type, exc, False, [])
        try:
            result = await leave(self, exc_type, exc, tb)
        except BaseException as close_exc:
            outcome = f"exit raised {type(close_exc).__name__}"
            raise
        else:
            outcome, name = _outcome(exc_type, exc, bool(result), [])
        finally:
            REGISTRY.exit(rec, outcome, name)
        return result

    setattr(__aenter__, MARK, True)
    type.__setattr__(cls, "__aenter__", __aenter__)
    type.__setattr__(cls, "__aexit__", __aexit__)


class PropertyInfo(NamedTuple):
    """``CountedCachedProperty.cache_info()``: as ``lru_cache``'s, plus deletions."""

    hits: int
    misses: int
    deletions: int


class CountedCachedProperty(functools.cached_property):  # type: ignore[type-arg]
    """``functools.cached_property`` that counts: a hit is a read of the value already
    computed for an instance, a miss a computation (timed, its result's size estimated), a
    deletion a ``del obj.attr`` (which makes the next read compute again).

    It is a data descriptor (it has ``__set__``), so that reads of a computed value, which
    ``cached_property`` leaves to the instance's ``__dict__``, come through it and are
    counted; values are still kept in the instance's ``__dict__``, as before.
    """

    def __init__(self, original: functools.cached_property, name: str):  # type: ignore[type-arg]
        super().__init__(original.func)
        self.attrname = original.attrname
        self.__doc__ = original.__doc__
        self.name = name
        self.hits = self.misses = self.deletions = 0
        stats = CacheStats(name, "memory")
        setattr(self, STATS_ATTR, stats)
        self._compute = time_misses(original.func, stats)

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        try:
            values = instance.__dict__
        except AttributeError:
            raise TypeError(
                f"No '__dict__' attribute on {type(instance).__name__!r} instance to cache "
                f"{self.attrname!r} property."
            ) from None
        try:
            value = values[self.attrname]
        except KeyError:
            pass
        else:
            self.hits += 1
            return value
        self.misses += 1
        value = self._compute(instance)
        values[self.attrname] = value
        return value

    def __set__(self, instance: Any, value: Any) -> None:
        instance.__dict__[self.attrname] = value

    def __delete__(self, instance: Any) -> None:
        try:
            del instance.__dict__[self.attrname]
        except KeyError:
            raise AttributeError(self.attrname) from None
        self.deletions += 1

    def cache_info(self) -> PropertyInfo:
        return PropertyInfo(self.hits, self.misses, self.deletions)


def count_cached_properties(cls: type) -> list[CountedCachedProperty]:
    """Replace each ``cached_property`` ``cls`` defines with a ``CountedCachedProperty``;
    returns those it has now (the new and any replaced before)."""
    out = []
    for attr, value in list(vars(cls).items()):
        if isinstance(value, CountedCachedProperty):
            out.append(value)
        elif isinstance(value, functools.cached_property) and value.attrname:
            counted = CountedCachedProperty(value, f"{cls.__qualname__}.{attr}")
            type.__setattr__(cls, attr, counted)
            out.append(counted)
    return out
