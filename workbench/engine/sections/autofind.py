"""The sections ``instrumented`` and ``notes``: what the runner child recorded in a pipeline
module by itself, and what it says about the chain it built (sent once, by
``engine.autofind``)."""

from __future__ import annotations

from dataclasses import dataclass

from workbench.engine.sections.json_form import JsonForm


@dataclass(frozen=True)
class InstrumentedItem(JsonForm):
    """One thing of the module made to report without a change to its code: ``kind``
    ("@contextmanager function", "decorated with a context manager", "context manager
    class", "cached_property"), its qualified ``name``, and a ``detail`` ("" when none: the
    decorating context manager, "ContextDecorator", "hits and misses counted")."""

    kind: str
    name: str
    detail: str = ""


@dataclass(frozen=True)
class InstrumentedSection(JsonForm):
    """Section "instrumented": whether instrumenting was on (``enabled``; off with
    ``pipebench run --no-instrument``) and what it changed, in the module's order."""

    enabled: bool = True
    found: tuple[InstrumentedItem, ...] = ()


@dataclass(frozen=True)
class ChainNote(JsonForm):
    """One note on the built chain (section "notes" is a list of them): ``about`` what
    ("tf.data", "async"), the ``text``, and ``log``: whether it is a caveat worth a line of
    the run's log."""

    about: str
    text: str
    log: bool = False
