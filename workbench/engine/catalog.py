"""What a folder or module offers: its pipelines with their parameters, or why not.

Listing imports user modules, so it happens in child processes, one per module
(``python -m workbench.engine.catalog --out FILE PATH``): a module that hangs, exits or
starts processes at import affects its own entry only.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
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

#: How long one module may take to import before it is listed as not answering.
IMPORT_TIMEOUT_S = 60.0


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
    if root.exists():
        raise UserError(f"{root} is not a Python module: give a folder or a .py file")
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


def discover(
    root: str | Path,
    timeout: float = IMPORT_TIMEOUT_S,
    cancelled: Callable[[], bool] | None = None,
) -> list[ModuleInfo]:
    """Describe every module under ``root``, each imported in a child process of its own
    (a few at a time), in the order of ``expand``. A module that does not answer within
    ``timeout`` seconds, or ends its process, is listed with that error and the others
    are not held up; what a module starts at import is ended with its child. Stops early,
    listing the rest as not described, once ``cancelled()`` is true.

    Raises:
        UserError: ``root`` is no folder or ``.py`` file (see ``expand``).
    """
    files = expand(root)
    results: dict[int, ModuleInfo] = {}
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    todo = list(enumerate(files))
    running: dict[subprocess.Popen[bytes], tuple[int, Path, Path, float]] = {}
    at_once = max(2, os.cpu_count() or 2)
    with tempfile.TemporaryDirectory(prefix="pipebench-catalog-") as tmp:
        try:
            while todo or running:
                if cancelled is not None and cancelled():
                    break
                while todo and len(running) < at_once:
                    i, f = todo.pop(0)
                    out = Path(tmp) / f"{i}.json"
                    proc = subprocess.Popen(
                        [sys.executable, "-m", "workbench.engine.catalog", "--out", str(out),
                         str(f)],
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,  # a module's prints, and no pipe that
                        stderr=subprocess.DEVNULL,  # what it starts could hold open
                        env=env,
                        start_new_session=True,
                    )  # fmt: skip
                    running[proc] = (i, f, out, time.monotonic() + timeout)
                for proc, (i, f, out, deadline) in list(running.items()):
                    code = proc.poll()
                    if code is None and time.monotonic() < deadline:
                        continue
                    del running[proc]
                    if code is None:
                        _end(proc)
                        results[i] = ModuleInfo(
                            str(f), f.stem, error=f"importing {f} did not finish within "
                            f"{timeout:g} s"
                        )  # fmt: skip
                    else:
                        results[i] = _answer(f, out, code)
                time.sleep(0.02)
        finally:
            for proc in running:
                _end(proc)
    return [
        results.get(i) or ModuleInfo(str(f), f.stem, error="not described (stopped)")
        for i, f in enumerate(files)
    ]


def _end(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _answer(f: Path, out: Path, code: int) -> ModuleInfo:
    """The module's description from its child's answer file, or why there is none."""
    try:
        return _from_json(json.loads(out.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with {code}"
        return ModuleInfo(
            str(f), f.stem, error=f"importing {f} ended its process (it {how}) before it was "
            "described: does the module call os._exit or sys.exit at import?"
        )  # fmt: skip


def _end_descendants() -> None:
    """End what the module started at import (a server, a ``setsid`` helper): listing
    must not leave processes behind. This process is their subreaper, so even a daemon
    that forked twice is still below it."""
    import psutil

    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            child.kill()


def main(argv: list[str]) -> int:
    """``python -m workbench.engine.catalog [--out FILE] PATH...``: describe each module,
    as one JSON object in FILE (one module), or as marked lines on stdout."""
    out = None
    if argv[:1] == ["--out"]:
        out, argv = Path(argv[1]), argv[2:]
    if sys.platform.startswith("linux"):
        _prctl(36, 1)  # PR_SET_CHILD_SUBREAPER: what the module starts stays below us
    infos = [describe(Path(arg)) for arg in argv]
    _end_descendants()
    if out is not None:
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(infos[0])), encoding="utf-8")
        os.replace(tmp, out)
        return 0
    for info in infos:
        # A marker keeps our lines apart from whatever the modules print on import.
        sys.stdout.write("\x1epipebench-catalog " + json.dumps(asdict(info)) + "\n")
    sys.stdout.flush()
    return 0


def _prctl(option: int, value: int) -> None:
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(option, value)


if __name__ == "__main__":
    os._exit(main(sys.argv[1:]))
