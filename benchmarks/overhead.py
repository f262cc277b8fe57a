"""What a real ``pipebench run`` costs against a bare twin of the same chain.

For each case, the whole ``pipebench run`` command (headless, default options) and
``bare_twin.py`` (the same module, factory and stages drained by plain Python) are run in
pairs, interleaved, the order alternating, both started the same way: each in a session of
its own (``setsid``), so that scheduler autogroups give neither a CPU share of its own. Wall
time is from the fork to the last process of the command reaped; CPU time is the user +
system time of every process the command started (this driver is a child subreaper, so even
pipebench's reaper is reaped and counted). Both runs move the same items. Printed: median
and min–max of the pair ratios, wall and CPU, of the whole command (start-up included) and per
item: each pair is also run with twice the items, and the ratio of the two commands' extra
time for the extra items leaves out what does not grow with them (the interpreters' start-up,
imports, the report); the start-up to the
first batch out of the chain, from each command's fork (pipebench over bare); for the five
trivial stages, the extra wall time per item per boundary. ``--tui`` adds the TUI against
headless (``ui_cost.py``'s method).

Goals (issue 16, this 2-core machine): jsonl_tokens @64 ≤ 1.02 CPU and wall per item; five
trivial stages ≤ 2.0× bare and ≤ 30 ns per item per boundary; start-up to the first batch
≤ 0.15 s over bare for a NumPy pipeline; TUI ≥ 0.98 of headless throughput.

    .venv/bin/python benchmarks/overhead.py [--pairs 10] [--case NAME] [--tui]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
PIPEBENCH = str(Path(sys.executable).with_name("pipebench"))

#: name -> (module, pipeline, parameters, the parameter that scales the items or None)
CASES = {
    "jsonl_tokens@64": (
        ROOT / "pipelines/jsonl_tokens.py",
        "jsonl_tokens",
        {"batch_size": "64"},
        "rows",
    ),
    "numpy_batches@256": (
        ROOT / "pipelines/numpy_batches.py",
        "numpy_batches",
        {"batch_size": "256"},
        "size",
    ),
    "five_trivial_stages": (HERE / "trivial_chain.py", "five", {}, "n"),
    # Start-up: a NumPy pipeline with little data, so the first batch comes early.
    "startup_numpy": (
        ROOT / "pipelines/numpy_batches.py",
        "numpy_batches",
        {"size": "20000"},
        None,
    ),
}
#: The items of each scaled case at its base size (the parameter's default): the marginal
#: figures are from runs at this size and at twice it.
BASE = {"rows": 200_000, "size": 1_000_000, "n": 20_000_000}


@dataclass(frozen=True)
class Measure:
    wall_s: float
    cpu_s: float
    first_batch_s: float | None  # from the command's fork to its first batch out of the chain
    items: int | None
    batches: int
    positions: int  # source + stages: the boundaries an item crosses


def become_subreaper() -> None:
    """Orphans of the commands (pipebench's reaper) are re-parented here, so they are
    waited for and their CPU time counts."""
    ctypes.CDLL(None, use_errno=True).prctl(36, 1)  # PR_SET_CHILD_SUBREAPER


def run(argv: list[str], env: dict[str, str]) -> tuple[float, float, int, str]:
    """(wall s, CPU s of every process it started, fork time ns, stdout)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic_ns()
    proc = subprocess.Popen(
        argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        start_new_session=True, text=True,
    )  # fmt: skip
    out, _ = proc.communicate()
    while True:  # reap everything the command left to end on its own
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            break
    wall = (time.monotonic_ns() - t0) / 1e9
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])} exited with {proc.returncode}")
    return wall, cpu, t0, out


def measure_pipebench(target: str, params: dict[str, str], env: dict[str, str]) -> Measure:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "r.json"
        argv = [PIPEBENCH, "run", target, "--json", str(report)]
        for k, v in params.items():
            argv += ["--param", f"{k}={v}"]
        wall, cpu, t0, _ = run(argv, env)
        rep = json.loads(report.read_text())
    first_ns = (rep.get("timing") or {}).get("first_batch_ns")
    first = (first_ns - t0) / 1e9 if first_ns else None
    return Measure(wall, cpu, first, rep["items"], rep["batches"], len(rep["stages"]))


def measure_bare(target: str, params: dict[str, str], env: dict[str, str]) -> Measure:
    argv = [sys.executable, str(HERE / "bare_twin.py"), target]
    argv += [f"{k}={v}" for k, v in params.items()]
    wall, cpu, t0, out = run(argv, env)
    data = json.loads(out.strip().splitlines()[-1])
    first = (data["first_batch_ns"] - t0) / 1e9 if data["first_batch_ns"] else None
    return Measure(wall, cpu, first, None, data["batches"], 0)


def summary(values: list[float], digits: int = 3, unit: str = "") -> str:
    """The median and the min–max of ``values``, each with ``unit`` after it."""
    return (
        f"{statistics.median(values):.{digits}f}{unit} "
        f"(min {min(values):.{digits}f}{unit}, max {max(values):.{digits}f}{unit})"
    )


def pair(
    target: str, params: dict[str, str], env: dict[str, str], pb_first: bool
) -> tuple[Measure, Measure]:
    """One pipebench run and one bare run of the same chain, in the order given."""
    if pb_first:
        pb = measure_pipebench(target, params, env)
        return pb, measure_bare(target, params, env)
    bare = measure_bare(target, params, env)
    return measure_pipebench(target, params, env), bare


def run_case(name: str, pairs: int, env: dict[str, str]) -> None:
    path, pipe, params, scale = CASES[name]
    target = f"{path}:{pipe}"
    # Warm-up at each size: data files made (the first run of a size makes its own, which
    # no pair must time), page cache filled.
    measure_pipebench(target, params, env)
    if scale is not None:
        measure_pipebench(target, {**params, scale: str(2 * BASE[scale])}, env)
    walls, cpus, extra_ns, firsts = [], [], [], []
    m_walls: list[float] = []
    m_cpus: list[float] = []
    pb = bare = None
    for i in range(pairs):
        pb, bare = pair(target, params, env, pb_first=i % 2 == 0)
        assert pb.batches == bare.batches, (pb, bare)
        walls.append(pb.wall_s / bare.wall_s)
        cpus.append(pb.cpu_s / bare.cpu_s)
        if pb.items:
            extra_ns.append((pb.wall_s - bare.wall_s) / pb.items / pb.positions * 1e9)
        if pb.first_batch_s is not None and bare.first_batch_s is not None:
            firsts.append(pb.first_batch_s - bare.first_batch_s)
        if scale is not None:
            # Twice the items: the difference is what the items cost, start-up and
            # teardown (the same at both sizes) left out.
            double = {**params, scale: str(2 * BASE[scale])}
            pb2, bare2 = pair(target, double, env, pb_first=i % 2 == 1)
            m_walls.append((pb2.wall_s - pb.wall_s) / (bare2.wall_s - bare.wall_s))
            m_cpus.append((pb2.cpu_s - pb.cpu_s) / (bare2.cpu_s - bare.cpu_s))
    assert pb is not None and bare is not None
    print(
        f"\n{name}: {pairs} pairs, {pb.items or 0:,} items, each crossing {pb.positions} "
        "boundaries (the source and each stage)"
    )
    print(f"  whole command, pipebench / bare:  wall {summary(walls, unit='×')}")
    print(f"                                    CPU  {summary(cpus, unit='×')}")
    if m_walls:
        print(
            f"  per item (runs at {BASE[scale]:,} and {2 * BASE[scale]:,} {scale}: the "
            "difference, start-up left out), pipebench / bare:"
        )
        print(
            f"                                    wall {summary(m_walls, unit='×')}{goal(name, m_walls)}"
        )
        print(
            f"                                    CPU  {summary(m_cpus, unit='×')}{goal(name, m_cpus)}"
        )
    if name == "five_trivial_stages":
        print(
            f"  extra wall per item per boundary: {summary(extra_ns, 1)} ns "
            f"(goal ≤ 30 ns: {'met' if statistics.median(extra_ns) <= 30 else 'NOT met'}); "
            f"whole command{goal(name, walls)}"
        )
    if firsts:
        met = "met" if statistics.median(firsts) <= 0.15 else "NOT met"
        print(
            f"  first batch, pipebench later than bare by: {summary(firsts)} s"
            + (f" (goal ≤ 0.15 s: {met})" if name == "startup_numpy" else "")
        )


def goal(name: str, ratios: list[float]) -> str:
    """The issue's goal for this case's ratio, and whether the median meets it."""
    limit = {"jsonl_tokens@64": 1.02, "five_trivial_stages": 2.0}.get(name)
    if limit is None:
        return ""
    met = "met" if statistics.median(ratios) <= limit else "NOT met"
    return f" (goal ≤ {limit}: {met})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=10, help="interleaved pairs per case")
    ap.add_argument(
        "--case", choices=sorted(CASES), action="append", help="one case (again for more)"
    )
    ap.add_argument("--tui", action="store_true", help="also the TUI against headless")
    args = ap.parse_args()
    become_subreaper()
    home = tempfile.mkdtemp(prefix="pipebench-overhead-")
    os.chmod(home, 0o700)
    env = {**os.environ, "PIPEBENCH_HOME": home}
    from workbench.engine import probe

    print(
        f"{probe.IMPLEMENTATION} probe, clock {probe.TICKS}; "
        f"load average {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs"
    )
    for name in args.case or list(CASES):
        run_case(name, args.pairs, env)
    if args.tui:
        print("\nTUI against headless (ui_cost.py):", flush=True)
        subprocess.run([sys.executable, str(HERE / "ui_cost.py"), "--pairs", str(args.pairs)],
                       env=env, check=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
