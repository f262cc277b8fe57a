"""What the runner child records in a pipeline module by itself, and what it says about the
chain it built: the sections ``instrumented`` and ``notes``.

Before the pipeline's factory runs, ``instrument`` makes the module's own context managers
report to the run (context manager classes, ``@contextmanager`` functions, functions decorated
with a context manager) and counts its classes' ``cached_property`` values, without a change
to the module's code (``workbench.authoring.autorecord``). The section ``instrumented`` lists
what was changed, so the report says so; ``pipebench run --no-instrument`` (the run option
``instrument: false``) leaves the module as it is. Caches that need no change to be counted
(``lru_cache`` on methods) are found by the caches section on its own.

After the chain is built, ``chain_notes`` says what the stage probe cannot see in it (work
inside tf.data's own threads) and which parts run on the event loop; ``announce`` sends both
sections once, and each caveat as a line of the run's log.
"""

from __future__ import annotations

import contextlib
import inspect
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

from workbench.authoring.autorecord import (
    count_cached_properties,
    record_context_class,
    record_contextmanagers,
)
from workbench.engine.asyncstages import AsyncChain
from workbench.engine.protocol import Log, Sections
from workbench.engine.sections.autofind import ChainNote, InstrumentedItem, InstrumentedSection
from workbench.engine.sections.snapshot import SnapshotSections
from workbench.engine.usercode import is_user_class, is_user_function, user_classes

#: The run option that turns instrumenting off (``RunOptions.mode_options``).
OPTION = "instrument"


def _one() -> Iterator[None]:
    yield


#: The code object every ``@contextmanager`` function shares (contextlib's ``helper``).
_CM_HELPER = contextlib.contextmanager(_one).__code__
#: The code object of every function a context manager decorates (``ContextDecorator``).
_CM_DECORATED = contextlib.ContextDecorator()(lambda: None).__code__


def _decorating_context(func: Any) -> str | None:
    """The name of the user's context manager that decorates ``func``, if one does."""
    if getattr(func, "__code__", None) is not _CM_DECORATED:
        return None
    for cell in func.__closure__ or ():
        try:
            cm = cell.cell_contents
        except ValueError:
            continue
        if isinstance(cm, contextlib._GeneratorContextManager):
            inner = getattr(cm, "func", None)
            return str(getattr(inner, "__qualname__", "?")) if is_user_function(inner) else None
        if isinstance(cm, contextlib.ContextDecorator):
            return type(cm).__qualname__ if is_user_class(type(cm)) else None
    return None


def _target_of(func: Any) -> str:
    for cell in func.__closure__ or ():
        with contextlib.suppress(ValueError):
            if inspect.isfunction(cell.cell_contents):
                return str(cell.cell_contents.__qualname__)
    return str(func.__qualname__)


def instrument(module: ModuleType | None, options: dict[str, Any]) -> InstrumentedSection:
    """Make ``module``'s own context managers report and its ``cached_property`` values
    count (unless ``options["instrument"]`` is false); returns the ``instrumented`` section:
    what was changed, in the module's order."""
    if module is None or not options.get(OPTION, True):
        return InstrumentedSection(enabled=False)
    record_contextmanagers(is_user_function)
    found: list[InstrumentedItem] = []
    for value in list(vars(module).values()):
        if getattr(value, "__code__", None) is _CM_HELPER and is_user_function(
            getattr(value, "__wrapped__", None)
        ):
            found.append(InstrumentedItem("@contextmanager function", value.__qualname__))
            continue
        context = _decorating_context(value)
        if context is not None:
            found.append(
                InstrumentedItem("decorated with a context manager", _target_of(value), context)
            )
    for cls in user_classes(module):
        if record_context_class(cls):
            base = "ContextDecorator" if issubclass(cls, contextlib.ContextDecorator) else ""
            found.append(InstrumentedItem("context manager class", cls.__qualname__, base))
        for prop in count_cached_properties(cls):
            found.append(InstrumentedItem("cached_property", prop.name, "hits and misses counted"))
    return InstrumentedSection(enabled=True, found=tuple(found))


def _tf_dataset(source: Any) -> bool:
    tf = sys.modules.get("tensorflow")
    data = getattr(tf, "data", None)
    try:
        return data is not None and isinstance(source, data.Dataset)
    except Exception:
        return False


#: The note on a tf.data source (also a line of the run's log).
TF_DATA_NOTE = (
    "the source is a tf.data pipeline: work on tf.data's own threads (the generator behind "
    "from_generator, map with num_parallel_calls, prefetch) runs ahead of the chain and is "
    "not seen by the stage probe, so the source's self time is only its wait for the next "
    "element; that work is in the run's CPU time (cpu_s) and memory"
)


def chain_notes(source: Any, chain: AsyncChain) -> list[ChainNote]:
    """Notes on the built chain: a tf.data source, async parts."""
    notes: list[ChainNote] = []
    if _tf_dataset(source):
        notes.append(ChainNote("tf.data", TF_DATA_NOTE, log=True))
    if chain.async_parts:
        names = ", ".join(chain.async_parts)
        notes.append(
            ChainNote(
                "async",
                f"async source and stages on one event loop in the runner: {names}; "
                "each boundary is timed as a sync one (an await is the stage's own time; "
                "tasks a stage starts run whenever the loop runs)",
                log=False,
            )
        )
    return notes


def announce(outbox: Any, instrumented: InstrumentedSection, notes: list[ChainNote]) -> None:
    """Send the ``instrumented`` and ``notes`` sections once (the parent keeps them for
    every snapshot), and each caveat as a line of the run's log."""
    outbox.post(Sections(SnapshotSections(instrumented=instrumented, notes=tuple(notes))))
    for note in notes:
        if note.log:
            outbox.post(Log("pipebench", f"note: {note.text}"))
