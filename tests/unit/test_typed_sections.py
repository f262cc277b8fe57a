"""Sections are typed: read by attribute, never as dicts, and their JSON form is whole.

``Snapshot.sections`` is a ``SnapshotSections`` of frozen dataclasses (``engine/sections``).
The rule, checked on the syntax tree of every Python file in ``workbench/`` and
``benchmarks/``:

- nothing reads ``<x>.sections`` as a dict: ``.get(...)``, ``[...]``, ``in``, or hands it
  to ``dict()`` (mypy catches these where the type is known; this catches them where it
  is not);
- a module of the views, the CLI or the UI that takes a typed section (it imports one from
  ``workbench.engine.sections``) reads no section field as a key: no ``.get("…")`` and no
  ``["…"]`` with the name of a field of a section dataclass.

Reports are dicts and stay so: the modules that read run records (history, compare, the
tuning view) import no section type, and are not bound by the second part.
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from workbench.authoring.parallel_stats import ParallelStats
from workbench.engine.report_schema import SECTIONS
from workbench.engine.sections.cache_entries import CacheRow, make_row
from workbench.engine.sections.caches import CachesSampler, CachesSection
from workbench.engine.sections.gpu import GpuSection
from workbench.engine.sections.json_form import JsonForm, SectionDataError
from workbench.engine.sections.parallel import ParallelSection, ParallelStage
from workbench.engine.sections.parallel_sampler import ParallelSampler
from workbench.engine.sections.resources import ContextsSampler
from workbench.engine.sections.snapshot import DECODERS, SnapshotSections
from workbench.engine.sections.torch_cuda import TorchCudaSampler

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("workbench", "benchmarks")
CONSUMERS = ("workbench/views/", "workbench/cli/", "workbench/ui/")
#: The modules that show sections, whatever they import.
SHOWN_IN = (
    "workbench/views/run.py",
    "workbench/views/caches.py",
    "workbench/views/resources.py",
    "workbench/views/parallel.py",
    "workbench/views/autofind.py",
    "workbench/ui/screens/main.py",
    "workbench/ui/widgets/caches_panel.py",
    "workbench/ui/widgets/gpu_panel.py",
    "workbench/ui/widgets/resources_panel.py",
    "workbench/ui/widgets/parallel_panel.py",
)
TYPES_FROM = "workbench.engine.sections."
NOT_TYPES = ("workbench.engine.sections.json_form", "workbench.engine.sections.cache_control")


def _section_types(root: type = JsonForm) -> list[type]:
    out = []
    for cls in root.__subclasses__():
        out += [cls, *_section_types(cls)]
    return out


#: Every field name of every section dataclass.
FIELDS = frozenset(f.name for cls in _section_types() for f in dataclasses.fields(cls))


def _is_sections(node: ast.AST) -> bool:
    """``<x>.sections``, or a variable called ``sections``."""
    return (isinstance(node, ast.Attribute) and node.attr == "sections") or (
        isinstance(node, ast.Name) and node.id == "sections"
    )


def _takes_sections(tree: ast.AST) -> bool:
    """Whether the module imports a section type (it is handed typed sections)."""
    return any(
        isinstance(node, ast.ImportFrom)
        and (node.module or "").startswith(TYPES_FROM)
        and node.module not in NOT_TYPES
        for node in ast.walk(tree)
    )


def violations(source: str, where: str) -> list[str]:
    """Each place in ``source`` (the file ``where``) that reads a section as a dict."""
    out: list[str] = []
    tree = ast.parse(source, filename=where)
    consumer = where in SHOWN_IN or (where.startswith(CONSUMERS) and _takes_sections(tree))

    def flag(node: ast.AST, what: str) -> None:
        out.append(f"{where}:{getattr(node, 'lineno', '?')}: {what}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_sections(node.value):
            if node.attr in ("get", "items", "keys", "values", "pop", "update"):
                flag(node, f"reads the sections as a dict (.sections.{node.attr})")
        elif isinstance(node, ast.Subscript) and _is_sections(node.value):
            flag(node, "reads the sections as a dict (.sections[...])")
        elif isinstance(node, ast.Compare) and any(_is_sections(c) for c in node.comparators):
            flag(node, "asks the sections for a key (... in .sections)")
        elif isinstance(node, ast.Call):
            func = node.func
            name = getattr(func, "id", None)
            if name == "dict" and any(_is_sections(a) for a in node.args):
                flag(node, "turns the sections into a dict")
            first = node.args[0] if node.args else None
            if (
                consumer
                and isinstance(func, ast.Attribute)
                and func.attr == "get"
                and isinstance(first, ast.Constant)
                and first.value in FIELDS
            ):
                flag(node, f'reads a key of a section (.get("{first.value}")): use its attribute')
        if (
            consumer
            and isinstance(node, ast.Subscript)
            and isinstance(node.slice, ast.Constant)
            and node.slice.value in FIELDS
        ):
            flag(node, f'reads a key of a section (["{node.slice.value}"]): use its attribute')
    return out


def python_files() -> list[Path]:
    files: list[Path] = []
    for top in SCANNED:
        files += sorted((ROOT / top).rglob("*.py"))
    return [f for f in files if ".venv" not in f.parts and "__pycache__" not in f.parts]


def test_no_module_reads_a_section_as_a_dict() -> None:
    found = []
    consumers = 0
    for path in python_files():
        rel = path.relative_to(ROOT).as_posix()
        text = path.read_text(encoding="utf-8")
        consumers += rel.startswith(CONSUMERS) and _takes_sections(ast.parse(text))
        found += violations(text, rel)
    assert not found, "\n".join(found)
    assert consumers >= len(SHOWN_IN) - 1, "the rule no longer sees the modules showing sections"
    assert all((ROOT / rel).exists() for rel in SHOWN_IN), "a module showing sections moved"


@pytest.mark.parametrize(
    "code",
    [
        'gpu = snapshot.sections.get("gpu")',
        'sections = snap.sections\nrows = sections.get("caches")',
        'section = state.snapshot.sections["caches"]',
        'if snap is None or "caches" not in snap.sections: pass',
        "rep = {**dict(snap.sections)}",
        "for name, value in snap.sections.items(): pass",
        'from workbench.engine.sections.caches import CachesSection\nrows = data.get("caches")',
        'from workbench.engine.sections.gpu import GpuSection\npeak = data["peak_bytes"]',
    ],
)
def test_each_way_of_reading_a_section_as_a_dict_is_caught(code: str) -> None:
    assert violations(code, "workbench/views/somewhere.py"), code


@pytest.mark.parametrize(
    "code",
    [
        "rows = snap.sections.caches.caches if snap.sections.caches else ()",
        'peak = (rec.get("gpu") or {}).get("peak_bytes")',  # a record: a report, a dict
        'from workbench.engine.sections.gpu import GpuSection\nx = options.get("budget")',
        "for sampler in self.sections: pass",  # the child's list of samplers
    ],
)
def test_what_reads_attributes_or_reports_is_not_flagged(code: str) -> None:
    assert not violations(code, "workbench/views/somewhere.py"), code


def test_every_section_is_decoded_reported_and_sampled_under_its_field_name() -> None:
    fields = {f.name for f in dataclasses.fields(SnapshotSections)} - {"unavailable"}
    assert set(DECODERS) == fields
    assert set(SECTIONS) == fields - {"torch_cuda"}  # torch_cuda is folded into gpu
    samplers = (CachesSampler, ContextsSampler, ParallelSampler, TorchCudaSampler)
    assert {s.section for s in samplers} <= fields


def test_what_is_read_back_is_written_back_in_full() -> None:
    """A section read from data that leaves fields out (an authoring dict, an older runner)
    writes every field: msgspec alone would drop the defaulted ones."""
    stage = ParallelStats("f", 1, "loky", None, 2, 2, True, 4).snapshot()  # no open_s
    section = ParallelSection.from_json({"stages": [stage]})
    written = section.to_json()
    assert set(written) == {f.name for f in dataclasses.fields(ParallelSection)}
    assert set(written["stages"][0]) == {f.name for f in dataclasses.fields(ParallelStage)}
    assert written["stages"][0]["open_s"] is None
    row = CacheRow.from_json({"name": "f", "kind": "memory", "source": "lru_cache"})
    assert set(row.to_json()) == {f.name for f in dataclasses.fields(CacheRow)}


def test_a_section_of_the_wrong_shape_is_unavailable_with_what_is_wrong() -> None:
    row = make_row("f", "memory", "lru_cache", hits=1, misses=1).to_json()
    data = {
        "caches": {"caches": [{**row, "hits": "many"}]},
        "gpu": {"unavailable": "RuntimeError: NVML went away"},
        "contexts": {"records": [], "open": 0},
        "from_a_newer_runner": {"x": 1},
    }
    sections = SnapshotSections.from_json(data)
    assert sections.caches is None and sections.gpu is None
    assert (
        "Expected `int | null`, got `str` - at `$.caches[0].hits`"
        in (sections.unavailable["caches"])
    )
    assert sections.unavailable["gpu"] == "RuntimeError: NVML went away"
    assert sections.contexts is not None and sections.contexts.open == 0
    assert set(sections.to_json()) == {"caches", "gpu", "contexts"}
    with pytest.raises(SectionDataError, match="CacheRow"):
        CacheRow.from_json({"name": "f"})


def test_newer_sections_replace_older_ones_and_unavailable_ones_lose_their_value() -> None:
    old = SnapshotSections(caches=CachesSection(live=True), gpu=GpuSection(samples=1))
    newer = old.updated(SnapshotSections(gpu=GpuSection(samples=2)))
    assert newer.caches == CachesSection(live=True) and newer.gpu == GpuSection(samples=2)
    broken = newer.updated(SnapshotSections(unavailable={"caches": "boom"}))
    assert broken.caches is None and broken.unavailable == {"caches": "boom"}
    healed = broken.updated(SnapshotSections(caches=CachesSection()))
    assert healed.caches == CachesSection() and not healed.unavailable
    assert SnapshotSections().is_empty() and not broken.is_empty()


def test_the_json_form_is_msgspecs_without_importing_msgspec() -> None:
    """``to_json`` walks the dataclass itself (the runner child never imports msgspec): for
    every kind of section, nested rows, tuples, dicts and non-finite floats, it gives what
    msgspec's encoder gives, and what is read back is the value."""
    import msgspec

    from workbench.engine.sections.gpu import TorchCudaSection
    from workbench.engine.sections.resources import ContextsSection

    stage = ParallelStats("f", 1, "loky", None, 2, 2, True, 4).snapshot()
    values = [
        ParallelSection.from_json({"backend": "loky", "stages": [stage]}),
        CachesSection.from_json(
            {"caches": [make_row("f", "memory", "lru_cache", hits=3, misses=1).to_json()]}
        ),
        GpuSection.from_json({"state": "no NVIDIA driver", "nvml": "no NVIDIA driver"}),
        TorchCudaSection.from_json({}),
        ContextsSection.from_json(
            {
                "records": [
                    {
                        "id": 1,
                        "kind": "timed",
                        "name": "load",
                        "parent": None,
                        "depth": 0,
                        "thread": "MainThread",
                        "start_s": 0.5,
                        "end_s": None,
                        "duration_s": None,
                        "rss_delta_bytes": None,
                        "gpu_delta_bytes": None,
                        "outcome": "open",
                        "exception": None,
                        "note": None,
                        "exits": 0,
                    }
                ]
            }  # fmt: skip
        ),
    ]
    for value in values:
        data = value.to_json()
        assert data == msgspec.json.decode(msgspec.json.encode(value)), type(value)
        assert type(value).from_json(data) == value
    odd = dataclasses.replace(values[0].stages[0], items_per_s=float("nan"), speedup=float("inf"))
    data = odd.to_json()
    assert data["items_per_s"] is None and data["speedup"] is None
    assert data == msgspec.json.decode(msgspec.json.encode(odd))
    sections = SnapshotSections(parallel=values[0], caches=values[1])
    assert sections.to_json() == SnapshotSections.from_json(sections.to_json()).to_json()
