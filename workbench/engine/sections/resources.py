"""The run's "contexts" section: every resource context the pipeline entered, live.

The context managers themselves are public (``workbench.authoring.resources``) and record into the
process's registry (``workbench.authoring.recording``); this sampler starts the registry's clock with
the run, sends its records with each snapshot, and checks at the end that none is left open.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, field, replace
from typing import Any, TypedDict

from workbench.authoring.recording import REGISTRY, Registry
from workbench.engine.sections import SamplerContext, SectionSampler
from workbench.engine.sections.json_form import JsonForm


class ContextDetail(TypedDict, total=False):
    """What a context of one kind adds (bytes; absent where it does not apply).

    ``gpu_memory``: ``cuda`` (whether CUDA was there to measure), ``device`` ("cuda:N"),
    torch's allocated and reserved bytes before and after the block and their peaks inside
    it, ``reserved_after_empty_bytes`` (after emptying torch's cache on exit),
    ``emptied_on_exit``. ``experiment_log``: the log file's ``path``, the ``lines`` written,
    ``handler_removed``. ``sqlite_transaction``: the database's ``path``, the rows it
    ``changes``.
    """

    cuda: bool
    device: str
    allocated_before_bytes: int
    reserved_before_bytes: int
    allocated_after_bytes: int
    reserved_after_bytes: int
    peak_allocated_bytes: int
    peak_reserved_bytes: int
    reserved_after_empty_bytes: int
    emptied_on_exit: bool
    path: str
    lines: int
    handler_removed: bool
    changes: int


@dataclass(frozen=True)
class ContextRow(JsonForm):
    """One resource context (a ``with`` block) of the run: when it was entered and left,
    what it changed, how it ended (from ``workbench.authoring.recording.ContextRecord``).

    ``kind``: "gpu_memory", "experiment_log", "sqlite_transaction", "timed" or "context"
    (the module's own context managers). ``parent`` is the ``id`` of the context it is
    nested in (None at the top; ``depth`` counts the levels), ``thread`` the thread that
    entered it. Times are seconds since the run started (``start_s``, ``end_s``;
    ``duration_s`` None while open). ``rss_*_bytes``: the runner's RSS before and after the
    block and the change; ``gpu_*_bytes``: torch.cuda's allocated bytes, when CUDA is in
    use (None: not measured). ``outcome``: "open", "ok", "committed", "rolled back",
    "closed" (the chain closed it), "stopped (reason)" (a stop, budget or time limit ended
    it, where the stop landed or as the chain was closed for it), "interrupted" or the type
    of the exception it ended with (``exception``: that type's name). ``exits``: how many
    times it was exited (1 once closed; more is a bug worth seeing). ``note``: what
    pipebench has to say about it.
    """

    id: int
    kind: str
    name: str
    parent: int | None
    depth: int
    thread: str
    start_s: float
    end_s: float | None = None
    duration_s: float | None = None
    rss_before_bytes: int | None = None
    rss_after_bytes: int | None = None
    rss_delta_bytes: int | None = None
    gpu_before_bytes: int | None = None
    gpu_after_bytes: int | None = None
    gpu_delta_bytes: int | None = None
    outcome: str = "open"
    exception: str | None = None
    note: str | None = None
    exits: int = 0
    detail: ContextDetail = field(default_factory=lambda: ContextDetail())


@dataclass(frozen=True)
class ContextTotal(JsonForm):
    """All the contexts of one kind and name: how many, their summed duration in seconds,
    and how many ``failed`` (ended with an exception of their own; a block ended by a stop
    or by the end of the run is no failure: ``authoring.recording.failed_outcome``)."""

    kind: str
    name: str
    count: int
    total_s: float
    failed: int


@dataclass(frozen=True)
class ContextsSection(JsonForm):
    """Section "contexts" (runner child): the contexts the run entered, in entry order.

    ``records`` keeps every open context and the last 200 closed ones (``dropped``: the
    closed ones no longer kept); ``open`` and ``total`` count them all; ``totals``: per
    kind and name, the 50 largest summed durations; ``now_s``: the run's clock when read
    (seconds since the run started), for the running time of open contexts. Live readings
    leave ``now_s`` to their reader and give ``origin_ns`` instead, the run's start on
    ``CLOCK_MONOTONIC`` (shared by the processes of the machine): a reading then changes
    only when a context does, and one that did not is not sent.
    """

    records: tuple[ContextRow, ...] = ()
    open: int = 0
    total: int = 0
    dropped: int = 0
    totals: tuple[ContextTotal, ...] = ()
    now_s: float | None = None
    origin_ns: int | None = None


#: Closed records in each live reading (all that are kept go in the final one): the live
#: readings are made and sent by the runner while its chain runs, up to 10 times a second,
#: and what they cost (memory the allocator keeps, GIL time) counts in the run's figures.
LIVE_CLOSED = 20


class ContextsSampler(SectionSampler):
    """Section "contexts": records of entered and exited contexts with their nesting.
    Live readings hold every open context and the last ``LIVE_CLOSED`` closed ones; the
    final reading holds every record kept (``authoring.recording.MAX_CLOSED``)."""

    name = section = "contexts"

    def __init__(self, registry: Registry = REGISTRY):
        super().__init__()
        self.registry = registry
        registry.begin_run()
        registry.listener = self._entered
        self._last: tuple[Any, ContextsSection] | None = None

    def _entered(self) -> None:
        if self.wake is not None:
            self.wake()

    def active(self) -> bool:
        return bool(self.registry.records())

    def read(self) -> ContextsSection:
        return self._read(LIVE_CLOSED)

    def read_final(self) -> ContextsSection:
        return self._read(None)

    def _read(self, closed: int | None) -> ContextsSection:
        data = self.registry.section(closed)
        # The registry hands the same records list back until a context changes: type it
        # once per change, not once per snapshot. Its dicts have the rows' fields exactly:
        # no msgspec in the runner, whose imports would count in the run's memory.
        if self._last is None or self._last[0] is not data["records"]:
            typed = ContextsSection(
                records=tuple(ContextRow(**r) for r in data["records"]),
                open=data["open"],
                total=data["total"],
                dropped=data["dropped"],
                totals=tuple(ContextTotal(**t) for t in data["totals"]),
                origin_ns=data["origin_ns"],
            )
            self._last = (data["records"], typed)
        if closed is not None:
            return self._last[1]  # the same value until a context changes
        return replace(self._last[1], now_s=data["now_s"])

    def close(self) -> None:
        """After the chain is closed. A context still open then belongs to a generator that
        nothing closed (say a helper generator in a reference cycle): collect it, so that
        its ``with`` blocks exit; whatever is left is marked as left open."""
        if self.registry.open_records():
            gc.collect()
        for rec in self.registry.open_records():
            rec.note = "still open when the run ended"
            self.registry.changed()


def make_sampler(ctx: SamplerContext) -> ContextsSampler:
    """Section factory (see ``engine.child.section_samplers``)."""
    return ContextsSampler()
