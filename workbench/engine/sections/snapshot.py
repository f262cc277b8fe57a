"""Every section of a run at one moment, typed: what ``Snapshot.sections`` holds, and what a
``Sections`` event of the runner child carries.

One field per section, None where the run has not sent it (yet). The JSON form, on the wire
and in the run report alike, is one key per section present, with the section's JSON as its
value; a section whose sampler failed is ``{"unavailable": "<why>"}`` there, and is kept here
in ``unavailable`` (section name -> why) with its field None, so a stale value is never
shown as the current one.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from workbench.engine.sections.json_form import SectionDataError

if TYPE_CHECKING:  # a section's module is imported where it is read or written
    from workbench.engine.sections.autofind import ChainNote, InstrumentedSection
    from workbench.engine.sections.caches import CachesSection
    from workbench.engine.sections.gpu import GpuSection, TorchCudaSection
    from workbench.engine.sections.parallel import ParallelSection
    from workbench.engine.sections.resources import ContextsSection


def _section(module: str, cls: str) -> Callable[[Any], Any]:
    """What reads a section's JSON form back: ``cls.from_json`` of
    ``workbench.engine.sections.<module>``, imported on the first read (a runner child only
    writes sections, and imports only those of its own samplers)."""

    def decode(data: Any) -> Any:
        return getattr(
            importlib.import_module(f"workbench.engine.sections.{module}"), cls
        ).from_json(data)

    return decode


def _notes(data: Any) -> tuple[ChainNote, ...]:
    from workbench.engine.sections.autofind import ChainNote

    if not isinstance(data, list):
        raise SectionDataError(f"notes: expected a list, got {type(data).__name__}")
    return tuple(ChainNote.from_json(n) for n in data)


#: Section name -> what reads its JSON form back; the names are the fields below.
DECODERS: dict[str, Callable[[Any], Any]] = {
    "gpu": _section("gpu", "GpuSection"),
    "caches": _section("caches", "CachesSection"),
    "contexts": _section("resources", "ContextsSection"),
    "parallel": _section("parallel", "ParallelSection"),
    "instrumented": _section("autofind", "InstrumentedSection"),
    "notes": _notes,
    "torch_cuda": _section("gpu", "TorchCudaSection"),
}


@dataclass(frozen=True)
class SnapshotSections:
    """The run's sections: ``gpu`` (the parent's NVML with torch's figures), ``caches``,
    ``contexts``, ``parallel`` (the runner child's samplers), ``instrumented`` and ``notes``
    (sent once, when the chain is built); ``torch_cuda`` is the child's own reading of
    torch.cuda, folded into ``gpu`` by the parent and never in a ``Snapshot``.
    ``unavailable``: section name -> why its sampler failed (one line)."""

    gpu: GpuSection | None = None
    caches: CachesSection | None = None
    contexts: ContextsSection | None = None
    parallel: ParallelSection | None = None
    instrumented: InstrumentedSection | None = None
    notes: tuple[ChainNote, ...] | None = None
    torch_cuda: TorchCudaSection | None = None
    unavailable: Mapping[str, str] = field(default_factory=dict)

    def present(self) -> dict[str, Any]:
        """Section name -> value, for the sections there are."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name != "unavailable" and getattr(self, f.name) is not None
        }

    def why_unavailable(self, section: str) -> str | None:
        """Why the section called ``section`` could not be read, or None if it could."""
        return self.unavailable.get(section)

    def is_empty(self) -> bool:
        """Whether there is no section at all, not even an unavailable one."""
        return not self.unavailable and not self.present()

    def updated(self, newer: SnapshotSections) -> SnapshotSections:
        """These sections, with those ``newer`` has in place of their old values (a section
        ``newer`` says is unavailable loses its old value)."""
        changes: dict[str, Any] = newer.present()
        unavailable = {k: v for k, v in self.unavailable.items() if k not in changes}
        for name, why in newer.unavailable.items():
            unavailable[name] = why
            changes[name] = None
        return dataclasses.replace(self, **changes, unavailable=unavailable)

    def to_json(self) -> dict[str, Any]:
        """One key per section present (its JSON), ``{"unavailable": why}`` for the others
        the run has said something about."""
        out: dict[str, Any] = {}
        for name, value in self.present().items():
            out[name] = [n.to_json() for n in value] if name == "notes" else value.to_json()
        for name, why in self.unavailable.items():
            out[name] = {"unavailable": why}
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SnapshotSections:
        """The sections in ``data`` (``to_json``'s form). A section that does not have its
        shape is unavailable, with what is wrong with it; keys not known here are left out
        (a newer runner's sections)."""
        values: dict[str, Any] = {}
        unavailable: dict[str, str] = {}
        for name, raw in data.items():
            decode = DECODERS.get(name)
            if decode is None or raw is None:
                continue
            if isinstance(raw, dict) and set(raw) == {"unavailable"}:
                unavailable[name] = str(raw["unavailable"])
                continue
            try:
                values[name] = decode(raw)
            except SectionDataError as exc:
                unavailable[name] = f"pipebench could not read this section: {exc}"
        return cls(**values, unavailable=unavailable)
