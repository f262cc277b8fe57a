"""What a folder or module offers: its pipelines with their parameters, or why not.

Listing imports user modules, so it happens in a child process too
(``python -m workbench.engine.catalog PATH...``), one JSON line per module.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from workbench.engine.kernels.load import (
    KernelSetInfo,
    describe_kernel_sets,
    kernel_infos_from_json,
)
from workbench.engine.loader import (
    Target,
    find_pipelines,
    load_module,
    missing_requirement,
    module_files,
)
from workbench.errors import UserError


@dataclass(frozen=True)
class PipelineInfo:
    """One pipeline as listed."""

    name: str
    target: str
    doc: str
    params: tuple[tuple[str, Any, str], ...]  # (name, default, type name)
    reason: str | None = None  # why it cannot run here, or None

    @property
    def available(self) -> bool:
        return self.reason is None


@dataclass(frozen=True)
class ModuleInfo:
    """One module as listed: its pipelines, or the one-line error importing it gave."""

    path: str
    name: str
    pipelines: tuple[PipelineInfo, ...] = ()
    error: str | None = None
    kernels: tuple[KernelSetInfo, ...] = ()


def _json_safe(v: Any) -> Any:
    return v if isinstance(v, (bool, int, float, str, type(None))) else repr(v)


def describe(path: Path) -> ModuleInfo:
    """Import one module (in this process) and describe it."""
    try:
        module = load_module(Target(str(path)))
    except UserError as exc:
        return ModuleInfo(str(path), path.stem, error=exc.message)
    infos = []
    for p in find_pipelines(module).values():
        infos.append(
            PipelineInfo(
                name=p.name,
                target=f"{path}:{p.name}",
                doc=p.doc.split("\n\n")[0],
                params=tuple((q.name, _json_safe(q.default), q.kind.__name__) for q in p.params),
                reason=missing_requirement(p),
            )
        )
    return ModuleInfo(
        str(path), path.stem, tuple(infos), kernels=describe_kernel_sets(module, str(path))
    )


def expand(root: str | Path) -> list[Path]:
    """The module files a folder or file argument stands for."""
    root = Path(root)
    if root.is_dir():
        return module_files(root)
    if root.suffix == ".py" and root.exists():
        return [root]
    if root.suffix == ".py" or os.sep in str(root):
        raise UserError(f"no such file or folder: {root}")
    raise UserError(f"{root} is not a folder or a .py file")


def _from_json(d: dict[str, Any]) -> ModuleInfo:
    pipes = tuple(
        PipelineInfo(
            p["name"], p["target"], p["doc"], tuple(tuple(x) for x in p["params"]), p["reason"]
        )  # type: ignore[misc]
        for p in d["pipelines"]
    )
    return ModuleInfo(
        d["path"], d["name"], pipes, d["error"], kernel_infos_from_json(d.get("kernels"))
    )


def discover(root: str | Path, timeout: float = 60.0) -> list[ModuleInfo]:
    """Describe every module under ``root`` in a child process; a module that does not
    answer within ``timeout`` is listed with that error."""
    files = expand(root)
    if not files:
        return []
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench.engine.catalog", *map(str, files)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    found = {}
    marker = b"\x1epipebench-catalog "
    for line in out.splitlines():
        if line.startswith(marker):
            info = _from_json(json.loads(line[len(marker) :]))
            found[info.path] = info
    return [
        found.get(str(f))
        or ModuleInfo(str(f), f.stem, error=f"importing {f} did not finish within {timeout:g} s")
        for f in files
    ]


def main(argv: list[str]) -> int:
    for arg in argv:
        info = describe(Path(arg))
        # A marker keeps our lines apart from whatever the modules print on import.
        sys.stdout.write("\x1epipebench-catalog " + json.dumps(asdict(info)) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    os._exit(main(sys.argv[1:]))
