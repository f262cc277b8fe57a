"""The machine a kernel runs on: thread pinning, BLAS vendor, CPU model, GEMM probe.

Threads are pinned (1 by default) for every pool a kernel can use: BLAS and OpenMP
through threadpoolctl, Numba's and torch's own; the settings in effect are reported,
since a speedup means little without them. The GEMM probe measures the matrix-multiply
rate of this process at those settings: the yardstick for "fraction of the machine".
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Callable
from typing import Any

from workbench.errors import UserError


def usable_cpus() -> int:
    """Logical CPUs this process may run on (its affinity), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def parse_threads(text: str | int) -> int:
    """``1``, ``4`` or ``all`` (every usable CPU) as a thread count."""
    if isinstance(text, int):
        value = text
    elif str(text).strip().lower() == "all":
        return usable_cpus()
    else:
        try:
            value = int(str(text))
        except ValueError:
            raise UserError(f"--threads takes a whole number or 'all', not {text!r}") from None
    if value < 1:
        raise UserError(f"--threads must be at least 1, not {value}")
    return value


def apply_threads(count: int) -> None:
    """Pin every thread pool loaded so far to ``count`` threads (call again after a
    library loads: limits apply to the pools that exist)."""
    from threadpoolctl import threadpool_limits

    numba = sys.modules.get("numba")
    if numba is not None:  # first: this starts Numba's threading layer (it may load OpenMP)
        numba.set_num_threads(min(count, numba.config.NUMBA_NUM_THREADS))
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(count)
    threadpool_limits(limits=count)


def thread_report(requested: str) -> dict[str, Any]:
    """The thread counts in effect, per pool, and the BLAS libraries loaded."""
    from threadpoolctl import threadpool_info

    blas: list[dict[str, Any]] = []
    openmp: list[dict[str, Any]] = []
    for lib in threadpool_info():
        entry = {
            "library": lib.get("internal_api"),
            "threads": lib.get("num_threads"),
            "version": lib.get("version"),
            "prefix": lib.get("prefix"),
            "threading_layer": lib.get("threading_layer"),
            "architecture": lib.get("architecture"),
        }
        (blas if lib.get("user_api") == "blas" else openmp).append(entry)
    report: dict[str, Any] = {"requested": requested, "blas": blas, "openmp": openmp}
    numba = sys.modules.get("numba")
    if numba is not None:
        report["numba"] = numba.get_num_threads()
        report["numba_max"] = numba.config.NUMBA_NUM_THREADS
    torch = sys.modules.get("torch")
    if torch is not None:
        report["torch"] = torch.get_num_threads()
    return report


def blas_vendor(threads: dict[str, Any]) -> str:
    """``openblas 0.3.31 (pthreads, SkylakeX)``-style text for the first BLAS loaded."""
    libs = threads.get("blas") or []
    if not libs:
        return "no BLAS loaded"
    lib = libs[0]
    extra = ", ".join(str(x) for x in (lib.get("threading_layer"), lib.get("architecture")) if x)
    text = f"{lib.get('library')} {lib.get('version') or ''}".strip()
    return f"{text} ({extra})" if extra else text


def cpu_model() -> str:
    """The CPU's model name, as the OS reports it."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def versions() -> dict[str, str]:
    """Versions of the numeric libraries loaded in this process."""
    out = {}
    for name in ("numpy", "numba", "torch", "llvmlite"):
        module = sys.modules.get(name)
        if module is not None:
            out[name] = str(getattr(module, "__version__", "?"))
    torch = sys.modules.get("torch")
    if torch is not None:
        out["torch_cuda"] = str(getattr(torch.version, "cuda", None))
    return out


def gemm_probe(
    measure: Callable[..., Any], min_call_s: float = 0.02, max_n: int = 4096
) -> dict[str, Any]:
    """The float64 matrix-multiply rate of this process at its thread settings.

    The size is doubled from 256 until one call takes ``min_call_s`` (so BLAS runs near
    its peak), then timed with the harness's own ``measure(fn, args, sync)``.
    """
    import numpy as np

    rng = np.random.default_rng(0)
    a, b, n = _grow(
        lambda n: (rng.random((n, n)), rng.random((n, n))), np.matmul, None, min_call_s, max_n
    )
    return _rate(measure(np.matmul, (a, b), None), n, "cpu")


def gemm_probe_cuda(
    measure: Callable[..., Any], min_call_s: float = 0.005, max_n: int = 16384
) -> dict[str, Any]:
    """The same on the CUDA device torch sees (float64 ``torch.matmul``, synchronised)."""
    import torch

    sync = torch.cuda.synchronize
    a, b, n = _grow(
        lambda n: (
            torch.rand(n, n, dtype=torch.float64, device="cuda"),
            torch.rand(n, n, dtype=torch.float64, device="cuda"),
        ),
        torch.matmul,
        sync,
        min_call_s,
        max_n,
    )
    out = _rate(measure(torch.matmul, (a, b), sync), n, "cuda")
    out["name"] = torch.cuda.get_device_name()
    return out


def _grow(
    make: Callable[[int], tuple[Any, Any]],
    mul: Callable[[Any, Any], Any],
    sync: Callable[[], Any] | None,
    min_call_s: float,
    max_n: int,
) -> tuple[Any, Any, int]:
    import time

    n = 256
    while True:
        a, b = make(n)
        mul(a, b)  # first call: library and thread-pool start-up
        t0 = time.perf_counter()
        mul(a, b)
        if sync is not None:
            sync()
        if time.perf_counter() - t0 >= min_call_s or n >= max_n:
            return a, b, n
        n *= 2


def _rate(m: Any, n: int, device: str) -> dict[str, Any]:
    flops = 2.0 * n**3
    median = m.summary.median if m.summary else None
    return {
        "device": device,
        "n": n,
        "flops": flops,
        "samples": list(m.samples),
        "loops": m.loops,
        "median_s": median,
        "gflops": flops / median / 1e9 if median else None,
    }
