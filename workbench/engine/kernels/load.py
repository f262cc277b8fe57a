"""Find the kernel sets a module declares and pick the ones a run asks for.

Kept apart from the timing code (and free of NumPy) so that listing a folder can use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from workbench.authoring.kernels import KernelSet, missing_module
from workbench.engine.loader import Target, find_pipelines
from workbench.errors import UserError


def find_kernel_sets(module: ModuleType) -> dict[str, KernelSet]:
    """The ``@kernels`` sets a module defines, by name, in source order."""
    found = {}
    for value in vars(module).values():
        if isinstance(value, KernelSet) and getattr(value.factory, "__module__", None) in (
            module.__name__,
            None,
        ):
            found[value.name] = value
    return found


def select_kernel_sets(
    module: ModuleType, target: Target, name: str | None = None
) -> list[KernelSet]:
    """The kernel set named (by ``--kernel`` or ``module:name``), else all of the module's."""
    found = find_kernel_sets(module)
    if not found:
        hint = ""
        if find_pipelines(module):
            hint = "; it has pipelines: run them with `pipebench run`"
        raise UserError(
            f"no kernel sets in {target.module}: decorate an input factory with "
            f'@workbench.kernels and add implementations with @NAME.impl("label"){hint}'
        )
    name = name or target.name
    if name is None:
        return list(found.values())
    if name not in found:
        raise UserError(f"no kernel {name!r} in {target.module}; available: {', '.join(found)}")
    return [found[name]]


@dataclass(frozen=True)
class KernelSetInfo:
    """One kernel set as listed (``pipebench list``, the UI's catalog)."""

    name: str
    target: str
    doc: str
    impls: tuple[str, ...]
    sizes: tuple[int, ...]
    reference: str | None
    unavailable: tuple[tuple[str, str], ...] = ()  # (label, why) for missing modules


def describe_kernel_sets(module: ModuleType, path: str) -> tuple[KernelSetInfo, ...]:
    """The kernel sets of an imported module, as listed."""
    infos = []
    for k in find_kernel_sets(module).values():
        missing = tuple(
            (label, why)
            for label, impl in k.impls.items()
            if (why := missing_module(impl)) is not None
        )
        infos.append(
            KernelSetInfo(
                k.name,
                f"{path}:{k.name}",
                k.doc.split("\n\n")[0],
                tuple(k.impls),
                k.sizes,
                k.reference,
                missing,
            )
        )
    return tuple(infos)


def kernel_infos_from_json(items: Any) -> tuple[KernelSetInfo, ...]:
    """The inverse of ``dataclasses.asdict`` on a tuple of ``KernelSetInfo``."""
    return tuple(
        KernelSetInfo(
            k["name"],
            k["target"],
            k["doc"],
            tuple(k["impls"]),
            tuple(k["sizes"]),
            k["reference"],
            tuple(tuple(u) for u in k.get("unavailable", ())),
        )  # type: ignore[misc]
        for k in items or ()
    )
