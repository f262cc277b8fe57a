"""What a real ``pipebench run`` costs per item against its bare twin, in instructions.

``overhead.py`` times the two commands; on a shared 2-core machine identical runs differ by
up to 1.7× in throughput, so ratios near 1.02 cannot be told apart there. Here valgrind's
callgrind counts the instructions each thread executed instead: the same count for the
same program, inputs and environment, whatever else the machine is doing.

For each case, the bare twin (``bare_twin.py``) and the whole ``pipebench run`` command
(headless, default options) are run at N and 2N items. The bare twin runs under callgrind.
pipebench itself runs as a user starts it; only its runner child (and its reaper) run under
callgrind: pipebench starts them as ``sys.executable -m ...``, and here ``sys.executable``
is a script that execs valgrind on the real interpreter. Nothing else of the run changes.

Printed, per case:

- **per item, chain thread**: the main thread's instructions at 2N less those at N, over
  the N extra items, for pipebench's runner and for the bare twin, and their ratio: what
  the probe and everything else pipebench does on the chain's thread cost per item,
  start-up, imports, data preparation and the report left out.
- **per run**: the runner's main thread (everything: Python's start, the engine's and the
  module's imports, the chain) and its other threads, at 2N. What the runner does on the
  clock rather than per item (the child-only sections, read on the chain's thread at a
  boundary once a snapshot period, or by the sections thread while the chain is inside
  one long stage; the output flusher) comes 50-250× more often per item under callgrind,
  where a run takes that much longer: so that it comes about as often per item as in a
  real run, pipebench runs here with its snapshot interval ``SLOWDOWN`` times the default.
  The factor callgrind really slowed the chain by is printed beside it.
- **start-up**: the main thread's instructions before the chain (the count at N less N
  items' worth), pipebench's runner over the bare twin.

The parent process is not under callgrind: its work is clock-driven (the ``/proc``
readings, 20 a second), so it is taken from real runs instead (``--real`` pairs, at twice
and four times ``overhead.py``'s base size, interleaved): pipebench's own CPU time (its
process, every thread) and its runner's, both read from pipebench's ``/proc/PID/stat`` as it
has exited (utime + stime, cutime + cstime), the extra of one over the extra of the other.
With it, the whole command's CPU per item against the bare twin's is
estimated as: the chain thread's ratio × (1 + the clock-driven threads' share) + the
parent's share. BLAS and OpenMP run one thread in every run here, so that their work is on
the chain's thread (valgrind runs one thread at a time, and an idle BLAS thread spins).

    .venv/bin/python benchmarks/overhead_instructions.py [--case NAME ...] [--real 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from overhead import BASE, CASES, ROOT, become_subreaper, summary  # noqa: E402

#: Case -> N: items enough that the chain's instructions dwarf the runs' differences in
#: start-up, few enough that a run under callgrind (~50× slower) takes a minute or less.
SIZES = {"jsonl_tokens@64": 10_000, "numpy_batches@256": 40_000, "five_trivial_stages": 200_000}

#: The snapshot interval under callgrind, in multiples of the default (0.1 s): about how
#: much slower a run is there.
SLOWDOWN = 100
DEFAULT_SNAPSHOT_S = 0.1

GOALS = {"jsonl_tokens@64": " (goal ≤ 1.02)", "five_trivial_stages": " (goal ≤ 2.0)"}

_SUMMARY = re.compile(rb"^(?:summary|totals):\s*(\d+)", re.M)
_CMD = re.compile(rb"^cmd:\s*(.*)$", re.M)


@dataclass(frozen=True)
class Counts:
    """Instructions of one command: (process command line, thread number) -> count."""

    threads: dict[tuple[str, int], int]
    items: int

    def main(self, role: str) -> int:
        """The main thread's count of the process whose command line has ``role``."""
        return sum(n for (cmd, t), n in self.threads.items() if role in cmd and t == 1)

    def others(self, role: str) -> int:
        """The other threads of that process."""
        return sum(n for (cmd, t), n in self.threads.items() if role in cmd and t != 1)


def read_counts(out_dir: Path, prefix: str, items: int) -> Counts:
    threads: dict[tuple[str, int], int] = {}
    for f in sorted(out_dir.glob(f"{prefix}.*")):
        tid = f.name.rsplit("-", 1)[-1]
        if not tid.isdigit() or "-" not in f.name:
            continue
        data = f.read_bytes()
        total, cmd = _SUMMARY.search(data), _CMD.search(data)
        if total is None or cmd is None:
            raise SystemExit(f"{f}: no instruction count in callgrind's output")
        threads[(cmd.group(1).decode(), int(tid))] = int(total.group(1))
    if not threads:
        raise SystemExit(f"callgrind wrote nothing for {prefix} in {out_dir}")
    return Counts(threads, items)


def valgrind(out_dir: Path, prefix: str) -> list[str]:
    return [
        shutil.which("valgrind") or "valgrind",
        "--tool=callgrind",
        "--separate-threads=yes",
        "--trace-children=no",
        f"--callgrind-out-file={out_dir / prefix}.%p",
    ]


def run_bare(target: str, params: dict[str, str], out: Path, prefix: str, env: dict) -> int:
    argv = [*valgrind(out, prefix), sys.executable, str(HERE / "bare_twin.py"), target]
    argv += [f"{k}={v}" for k, v in params.items()]
    done = subprocess.run(
        argv, env=env, cwd=ROOT, capture_output=True, text=True, start_new_session=True
    )
    if done.returncode != 0:
        raise SystemExit(f"the bare twin failed: {done.stderr[-2000:]}")
    return int(json.loads(done.stdout.strip().splitlines()[-1])["batches"])


def run_pipebench(
    target: str, params: dict[str, str], out: Path, prefix: str, env: dict
) -> tuple[int, int]:
    """(items, batches) of the report of a ``pipebench run`` whose runner is under callgrind."""
    wrapper = out / f"python-{prefix}"
    wrapper.write_text(
        "#!/bin/sh\nexec "
        + " ".join(shlex.quote(a) for a in [*valgrind(out, prefix), sys.executable])
        + ' "$@"\n'
    )
    wrapper.chmod(0o755)
    report = out / f"{prefix}.json"
    argv = ["run", target, "--json", str(report)]
    argv += ["--snapshot-interval", str(SLOWDOWN * DEFAULT_SNAPSHOT_S)]
    for k, v in params.items():
        argv += ["--param", f"{k}={v}"]
    code = (
        "import sys; sys.executable = sys.argv.pop(1); sys.argv[0] = 'pipebench';"
        "from workbench.cli.main import main; sys.exit(main())"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(wrapper), *argv],
        env=env, cwd=ROOT, capture_output=True, text=True, start_new_session=True,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"pipebench run failed ({done.returncode}): {done.stderr[-2000:]}")
    rep = json.loads(report.read_text())
    return int(rep["items"]), int(rep["batches"])


def reap() -> None:
    """Wait for every process left to this (sub)reaper, so that none runs on, or counts in
    the CPU time of the next command."""
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def fmt(n: float) -> str:
    return f"{n:,.0f}"


def parent_and_children_cpu(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run ``argv`` to its end: (its own CPU seconds, all threads; the CPU seconds of the
    children it waited for), read from its ``/proc/PID/stat`` while it is a zombie, before
    it is reaped (clock ticks: 10 ms)."""
    proc = subprocess.Popen(
        argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
    fields = Path(f"/proc/{proc.pid}/stat").read_bytes().rsplit(b")", 1)[1].split()
    proc.wait()
    reap()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])} exited with {proc.returncode}")
    tick = os.sysconf("SC_CLK_TCK")
    utime, stime, cutime, cstime = (int(x) / tick for x in fields[11:15])
    return utime + stime, cutime + cstime


def real_shares(
    target: str, params: dict[str, str], scale: str, runs: int, env: dict[str, str]
) -> tuple[list[float], float]:
    """Real runs (not under callgrind) at twice and four times the base size, interleaved:
    per pair, pipebench's own extra CPU time (its process, every thread) over its runner's
    extra CPU time; and the median duration of the chain at the smaller size (s), to tell
    how much slower callgrind ran it."""
    shares, durations = [], []
    sizes = (2 * BASE[scale], 4 * BASE[scale])
    with tempfile.TemporaryDirectory() as tmp:

        def one(size: int) -> tuple[float, float, float]:
            report = Path(tmp) / "r.json"
            argv = [str(Path(sys.executable).with_name("pipebench")), "run", target]
            argv += ["--json", str(report)]
            for k, v in {**params, scale: str(size)}.items():
                argv += ["--param", f"{k}={v}"]
            own, runner = parent_and_children_cpu(argv, env)
            return own, runner, float(json.loads(report.read_text())["sink_s"])

        one(sizes[0])  # data made, caches warm
        for i in range(runs):
            order = sizes if i % 2 == 0 else sizes[::-1]
            got = {size: one(size) for size in order}
            small, large = got[sizes[0]], got[sizes[1]]
            shares.append((large[0] - small[0]) / (large[1] - small[1]))
            durations.append(small[2])
    return shares, statistics.median(durations) / 2


def run_case(name: str, out: Path, env: dict[str, str], real: int) -> None:
    path, pipe, params, scale = CASES[name]
    assert scale is not None, name
    target = f"{path}:{pipe}"
    n = SIZES[name]
    sizes = {"n": {**params, scale: str(n)}, "2n": {**params, scale: str(2 * n)}}
    for p in sizes.values():  # data files made before anything is counted
        subprocess.run(
            [sys.executable, str(HERE / "bare_twin.py"), target, *(f"{k}={v}" for k, v in p.items())],
            env=env, cwd=ROOT, check=True, capture_output=True,
        )  # fmt: skip
    jobs = {}
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for size, p in sizes.items():
            jobs[("bare", size)] = pool.submit(run_bare, target, p, out, f"{name}-bare-{size}", env)
            jobs[("pb", size)] = pool.submit(
                run_pipebench, target, p, out, f"{name}-pb-{size}", env
            )
    reap()  # pipebench's reaper, under callgrind too, outlives its command a little
    items = {size: jobs[("pb", size)].result()[0] for size in sizes}
    for size in sizes:
        assert jobs[("pb", size)].result()[1] == jobs[("bare", size)].result(), name
    bare = {s: read_counts(out, f"{name}-bare-{s}", items[s]) for s in sizes}
    pb = {s: read_counts(out, f"{name}-pb-{s}", items[s]) for s in sizes}
    extra_items = items["2n"] - items["n"]
    runner = "workbench.engine.child"
    pb_item = (pb["2n"].main(runner) - pb["n"].main(runner)) / extra_items
    bare_item = (bare["2n"].main("bare_twin") - bare["n"].main("bare_twin")) / extra_items
    chain = pb_item / bare_item
    pb_start = pb["n"].main(runner) - pb_item * items["n"]
    bare_start = bare["n"].main("bare_twin") - bare_item * items["n"]
    print(f"\n{name}: runs at {items['n']:,} and {items['2n']:,} items", flush=True)
    print(
        f"  per item, chain thread:  pipebench {fmt(pb_item)}, bare {fmt(bare_item)} "
        f"instructions: {chain:.4f}× ({pb_item - bare_item:+,.0f})"
    )
    print(
        f"  start-up (main thread, before the chain): pipebench {pb_start / 1e6:,.0f}M, "
        f"bare {bare_start / 1e6:,.0f}M instructions ({(pb_start - bare_start) / 1e6:+,.0f}M)"
    )
    clocked = pb["2n"].others(runner)
    print(
        f"  per run at {items['2n']:,} items: runner main thread "
        f"{pb['2n'].main(runner) / 1e6:,.0f}M, its clock-driven threads {clocked / 1e6:,.1f}M; "
        f"bare twin "
        f"{bare['2n'].main('bare_twin') / 1e6:,.0f}M"
    )
    if real <= 0:
        return
    shares, real_s = real_shares(target, params, scale, real, env)
    slow = float(json.loads((out / f"{name}-pb-2n.json").read_text())["sink_s"])
    # The real chain at the base size took real_s; under callgrind, 2n items took `slow`.
    dilation = slow / (real_s * items["2n"] / BASE[scale])
    clocked_share = clocked / pb["2n"].main(runner)
    parent = statistics.median(shares)
    estimate = chain * (1 + clocked_share) + parent
    print(
        f"  real runs with {scale}={2 * BASE[scale]:,} and {scale}={4 * BASE[scale]:,} ({real} pairs): "
        f"pipebench's own extra CPU over its runner's: {summary(shares, 4)}"
    )
    if clocked:
        print(
            f"  clock-driven threads of the runner (snapshot interval {SLOWDOWN}× the default; "
            f"callgrind ran {dilation:.0f}× slower): {clocked_share:.4f} of its chain thread"
        )
    else:
        print(
            "  clock-driven threads of the runner: none ran (nothing in this chain is read "
            "by the runner alone: no cache, resource context, torch or parallel stage)"
        )
    print(
        f"  CPU per item, whole command / bare, estimated: {chain:.4f} × "
        f"(1 + {clocked_share:.4f}) + {parent:.4f} = {estimate:.3f}{GOALS.get(name, '')}"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", choices=sorted(SIZES), action="append")
    ap.add_argument(
        "--real", type=int, default=3, help="pairs of real runs for the parent's share (0: none)"
    )
    ap.add_argument("--keep", help="keep callgrind's files in this folder (for callgrind_annotate)")
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt install valgrind)")
    home = tempfile.mkdtemp(prefix="pipebench-instructions-")
    os.chmod(home, 0o700)
    # One hash seed for every run: str hashes, and with them set and dict orders, stay put.
    env = {**os.environ, "PIPEBENCH_HOME": home, "PYTHONHASHSEED": "0"}
    env.update({k: "1" for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")})
    out = Path(args.keep) if args.keep else Path(home) / "callgrind"
    out.mkdir(parents=True, exist_ok=True)
    become_subreaper()
    print(f"instructions counted by callgrind ({out}); {os.cpu_count()} CPUs", flush=True)
    try:
        for name in args.case or list(SIZES):
            run_case(name, out, env, args.real)
    finally:
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
