"""The example kernels' figures to reach (issue 5), as ``pipebench kernels`` measures them:
Numba at least 20x pure Python for euclidean distance at n = 1e6, and the best pairwise
implementation within 1.5x of ``X @ Y.T`` alone at n = 1000.

    python benchmarks/kernel_targets.py [--threads 1] [--rigorous]

Both come from real runs in runner children at the same thread setting; ``X @ Y.T`` is
a kernel set of its own on the same inputs, so it is timed by the same harness.
Figures only: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PIPEBENCH_HOME", tempfile.mkdtemp(prefix="pipebench-bench-"))

from workbench.engine.follow import Follower  # noqa: E402
from workbench.engine.kernels.runner import KernelOptions, KernelsJob  # noqa: E402
from workbench.engine.kernels.session import KernelRow, kernel_rows  # noqa: E402
from workbench.units import format_seconds  # noqa: E402

EXAMPLE = ROOT / "pipelines" / "distance_kernels.py"

GEMM_ONLY = '''
"""X @ Y.T alone, on the pairwise kernel's own inputs."""
import sys
sys.path.insert(0, {folder!r})
from distance_kernels import pairwise
from workbench import kernels

@kernels(sizes=(1000,), check="none")
def matmul_only(n):
    return pairwise.inputs(n)

@matmul_only.impl("X @ Y.T")
def xyt(X, Y):
    return X @ Y.T
'''


def run(target: str, options: KernelOptions) -> list[KernelRow]:
    state = Follower(KernelsJob(target, options)).run()
    if state.failure is not None:
        raise SystemExit(f"{target}: {state.failure.message}")
    return kernel_rows(state)


def median(row: KernelRow) -> float:
    assert row.summary is not None, f"{row.impl}: {row.notes}"
    return row.summary.median


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", default="1")
    ap.add_argument("--rigorous", action="store_true", help="3 fresh processes each")
    args = ap.parse_args()
    procs = 3 if args.rigorous else 1
    base = dict(threads=args.threads, processes=procs, gemm=False)

    rows = run(
        str(EXAMPLE),
        KernelOptions(kernel="euclidean", sizes=(1_000_000,), impls=("numba",), **base),
    )  # type: ignore[arg-type]
    by = {r.impl: r for r in rows}
    py, nb = median(by["python"]), median(by["numba"])
    ratio = py / nb
    print(
        f"euclidean, n = 1,000,000: python {format_seconds(py)}, numba "
        f"{format_seconds(nb)} -> numba is {ratio:.1f}x python (goal >= 20x: "
        f"{'met' if ratio >= 20 else 'NOT met'})"
    )

    rows = run(str(EXAMPLE), KernelOptions(kernel="pairwise", sizes=(1000,), **base))  # type: ignore[arg-type]
    trusted = [r for r in rows if r.trusted and not r.impl.endswith("cuda")]
    best = min(trusted, key=median)
    with tempfile.TemporaryDirectory() as tmp:
        mod = Path(tmp) / "matmul_only.py"
        mod.write_text(textwrap.dedent(GEMM_ONLY.format(folder=str(EXAMPLE.parent))))
        (xyt,) = run(str(mod), KernelOptions(**base))  # type: ignore[arg-type]
    gemm = median(xyt)
    for r in sorted(trusted, key=median):
        print(
            f"  pairwise n = 1000 {r.impl:15} {format_seconds(median(r)):>9} "
            f"({median(r) / gemm:.2f}x X @ Y.T)"
        )
    ratio = median(best) / gemm
    print(
        f"pairwise, n = 1000: best is {best.impl} at {format_seconds(median(best))}; "
        f"X @ Y.T alone {format_seconds(gemm)} -> {ratio:.2f}x (goal <= 1.5x: "
        f"{'met' if ratio <= 1.5 else 'NOT met'})"
    )
    print(f"threads: {args.threads}; processes per figure: {procs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
