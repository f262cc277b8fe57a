"""The run report's shape, as types: the published JSON Schema is generated from them.

``session.report`` builds the report that ``pipebench run --json`` writes and the run
records keep; these TypedDicts say what each field is, in which unit, and the sections
(caches, gpu, contexts, parallel, instrumented, notes) are their own frozen dataclasses
(``engine/sections``), whose fields are their JSON keys. The schema shipped in the package
(``workbench/engine/report.schema.json``, schema version ``REPORT_SCHEMA``) is ``schema()``
of ``RunReport``: every object of a fixed shape takes no other key (a misspelt field fails),
and every field of a section is required (the report writes them all, null when not
measured). A test regenerates it and fails if the file drifted, and validates real reports
of every status and with every section against it. ``REPORT_SCHEMA`` is bumped when a field
changes meaning.

Regenerate the file after a change here:
``python -m workbench.engine.report_schema > workbench/engine/report.schema.json``
"""

from __future__ import annotations

import json
import sys
from typing import Any, Literal, TypedDict

from typing_extensions import NotRequired

from workbench.engine.sections.autofind import ChainNote, InstrumentedSection
from workbench.engine.sections.caches import CachesSection
from workbench.engine.sections.gpu import GpuSection
from workbench.engine.sections.json_form import JsonForm
from workbench.engine.sections.parallel import ParallelSection
from workbench.engine.sections.resources import ContextsSection

Status = Literal[
    "finished", "stopped", "failed", "budget_exceeded", "crashed", "starting", "running"
]


class RateWindow(TypedDict):
    """The live rate's window: at least ``min_s`` seconds and ``min_batches`` batches."""

    min_s: float
    min_batches: int


class StageReport(TypedDict):
    """One stage (the source first): counts, averages over the run, self time in seconds."""

    name: str
    items: int
    batches: int
    items_per_s: float
    batches_per_s: float
    self_s: float  # time inside the stage's next() minus its upstream's, compile included
    self_pct: float  # of the run's wall time
    compile_s: float  # JIT (Numba) compilation inside the stage's self time
    mean_batch_s: float | None  # self time per batch, compilation left out
    bottleneck: bool  # the largest self time, named only with enough evidence
    done: bool  # the stage ran out (StopIteration)


class Totals(TypedDict):
    """Memory of a set of processes at one moment, in bytes (null: not measured)."""

    rss_bytes: int
    private_bytes: int  # anonymous + shared: what the kernel cannot drop
    anon_bytes: int
    file_bytes: int  # clean pages of mapped files, which the kernel can drop
    shmem_bytes: int
    uss_bytes: int | None
    pss_bytes: int | None


class ProcessReport(TypedDict):
    """One process of the run's tree: its last figures and peaks."""

    pid: int
    role: str  # "runner", "DataLoader worker", "loky worker", "child process", ...
    name: str
    alive: bool
    now: Totals
    peak: Totals
    hwm_bytes: int | None  # the kernel's RSS high-water mark (VmHWM)


class MemoryReport(TypedDict):
    """The run's process tree, read by pipebench from /proc (``sections.memory``)."""

    now: Totals
    start: Totals
    peak: Totals
    processes: list[ProcessReport]
    samples: int
    interval_s: float
    runner_hwm_bytes: int | None
    runner_startup_peak_rss_bytes: int | None  # the runner's RSS peak (VmHWM) before its chain
    budget_bytes: int | None
    budget_on: str  # "private", "rss" or "pss"
    source: str
    cpu_s: float
    budget_crossed_ns: int | None  # CLOCK_MONOTONIC when the budget was first passed
    budget_killed_ns: int | None  # ... and when the tree was killed for it
    budget_at_kill_bytes: int | None  # the budget's measure at the kill
    rss_start_bytes: int
    rss_peak_bytes: int
    rss_end_bytes: int
    private_start_bytes: int
    private_peak_bytes: int
    private_end_bytes: int
    file_peak_bytes: int
    uss_peak_bytes: int | None
    pss_peak_bytes: int | None
    processes_seen: int


class ErrorReport(TypedDict):
    """Why a run failed or crashed."""

    type: str
    message: str | None
    traceback: str | None
    stage: str | None
    phase: str  # "load", "build" or "run"


class Environment(TypedDict):
    pipebench: str
    python: str
    probe: str | None  # "c" or "python"
    pid: int | None
    host: str
    exit_code: int | None


class Timing(TypedDict):
    """CLOCK_MONOTONIC stamps in ns, for benchmarks that compare with their own clock."""

    runner_spawned_ns: int | None
    first_batch_ns: int | None


class SweepTag(TypedDict):
    sweep_id: str
    batch_size: int
    phase: str
    sample: NotRequired[int]  # 1 for the first run of this size in the sweep, 2, ...


class RunReport(TypedDict):
    """One run of one pipeline, as ``pipebench run --json`` writes it."""

    schema: int
    run_id: str
    target: str
    pipeline: str | None
    module: str | None
    path: str | None
    params: dict[str, Any] | None
    status: Status
    cancelled: bool  # stopped before its first batch came out: not a result
    stop_reason: str | None  # "user", "sigterm", "sighup", "max_seconds", "memory_budget", ...
    message: str | None
    started_at: str | None  # ISO 8601, UTC
    finished_at: str | None
    duration_s: float  # the chain's wall time (the parent's clock for a killed run)
    items: int  # out of the last stage (see workbench.authoring.items)
    batches: int
    items_per_s: float  # average over the run
    batches_per_s: float
    rate_max_items_per_s: float | None  # the largest windowed live rate
    rate_window: RateWindow
    bottleneck: str | None
    stages: list[StageReport]
    sink_s: float
    to_first_batch_s: float | None  # from the runner's start to the first batch out
    timing: Timing
    cpu_s: float | None  # CPU seconds of the run's tree since its chain started
    memory: MemoryReport | None
    error: ErrorReport | None
    options: dict[str, Any]
    environment: Environment
    ended_processes: list[str]  # processes of the run pipebench ended after it
    log_lines: int
    log_tail: list[str]
    # Sections: the last value of each (see engine/sections); one whose sampler failed is
    # {"unavailable": "<why>"} instead (``SectionUnavailable``).
    caches: NotRequired[CachesSection]
    gpu: NotRequired[GpuSection]
    contexts: NotRequired[ContextsSection]
    parallel: NotRequired[ParallelSection]
    instrumented: NotRequired[InstrumentedSection]
    notes: NotRequired[list[ChainNote]]
    sweep: NotRequired[SweepTag]


#: The report's fields that are sections, each of which may be ``SectionUnavailable``.
SECTIONS = ("caches", "gpu", "contexts", "parallel", "instrumented", "notes")


class SectionUnavailable(TypedDict):
    """A section whose sampler failed, in place of its figures: why, in one line."""

    unavailable: str


def _dataclasses(root: type = JsonForm) -> dict[str, type]:
    """Every section dataclass (a ``JsonForm``), by the name its schema is defined under."""
    out: dict[str, type] = {}
    subclasses: list[type] = root.__subclasses__()
    for cls in subclasses:
        out[cls.__name__] = cls
        out.update(_dataclasses(cls))
    return out


def schema() -> dict[str, Any]:
    """The JSON Schema of ``RunReport``: msgspec generates it from the types above and the
    sections' dataclasses; then every object of a fixed shape is closed
    (``additionalProperties: false``), every field of a section dataclass is required, and
    each section may be ``SectionUnavailable`` instead."""
    import msgspec

    out: dict[str, Any] = msgspec.json.schema(RunReport)
    defs: dict[str, Any] = out["$defs"]
    (unavailable,), more = msgspec.json.schema_components([SectionUnavailable])
    defs.update(more)
    section_types = _dataclasses()
    for name, d in defs.items():
        if d.get("type") == "object" and "properties" in d:
            d["additionalProperties"] = False
            if name in section_types:  # written in full: null, not absent, when not measured
                d["required"] = sorted(d["properties"])
    fields = defs["RunReport"]["properties"]
    for name in SECTIONS:
        fields[name] = {"anyOf": [fields[name], unavailable]}
    out["$id"] = "https://pipebench.dev/schemas/run-report.json"
    out["title"] = "pipebench run report"
    out["description"] = (RunReport.__doc__ or "").strip()
    return out


if __name__ == "__main__":
    json.dump(schema(), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
