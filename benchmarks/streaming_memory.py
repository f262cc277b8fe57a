"""Streaming against load-all on a ~1 GB JSONL corpus: peak RSS as pipebench reports it and
as the kernel reports it (getrusage RUSAGE_CHILDREN of a wrapper process).

    python benchmarks/streaming_memory.py [--rows 4200000]

Goals (issue 2): the streaming run's peak stays within 64 MiB of its start RSS, and the two
sources of the peak agree within 5%.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MiB = 2**20

WRAPPER = (
    "import resource, subprocess, sys\n"
    "subprocess.run([sys.executable, '-m', 'workbench.cli.main', *sys.argv[1:]], check=False,"
    " stdout=subprocess.DEVNULL)\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)\n"
)


def measure(pipeline: str, rows: int, workdir: Path) -> tuple[dict, int]:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            WRAPPER,
            "run",
            f"{ROOT}/pipelines/jsonl_tokens.py:{pipeline}",
            "--param",
            f"rows={rows}",
            "--batch-size",
            "64",
            "--json",
            "run.json",
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads((workdir / "run.json").read_text())
    return report, int(out.stdout.split()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=4_200_000, help="about 240 bytes a row")
    args = ap.parse_args()
    home = Path(
        os.environ.setdefault("PIPEBENCH_HOME", tempfile.mkdtemp(prefix="pipebench-bench-"))
    )
    sys.path.insert(0, str(ROOT / "pipelines"))
    import jsonl_tokens

    corpus = jsonl_tokens.corpus(args.rows)  # made once, before either run is measured
    print(f"corpus: {corpus} ({corpus.stat().st_size / 2**30:.2f} GiB, {args.rows:,} rows)")
    print(
        f"{'pipeline':24} {'status':9} {'items/s':>9} {'start':>9} {'peak':>9} "
        f"{'peak-start':>10} {'kernel peak':>11} {'agree':>7}"
    )
    for name in ("jsonl_tokens", "jsonl_tokens_load_all"):
        rep, kernel = measure(name, args.rows, home)
        m = rep["memory"]
        grow = m["rss_peak_bytes"] - m["rss_start_bytes"]
        diff = abs(m["rss_peak_bytes"] - kernel) / kernel * 100
        print(
            f"{name:24} {rep['status']:9} {rep['items_per_s']:9.0f} "
            f"{m['rss_start_bytes'] / MiB:7.1f}Mi {m['rss_peak_bytes'] / MiB:7.1f}Mi "
            f"{grow / MiB:8.1f}Mi {kernel / MiB:9.1f}Mi {diff:6.2f}%"
        )
        if name == "jsonl_tokens":
            print(
                f"  streaming peak - start = {grow / MiB:.1f} MiB "
                f"({'meets' if grow <= 64 * MiB else 'misses'} the 64 MiB goal)"
            )
        print(
            f"  pipebench peak vs kernel peak: {diff:.2f}% apart "
            f"({'meets' if diff <= 5 else 'misses'} the 5% goal); the runner's own VmHWM: "
            f"{(m['runner_hwm_bytes'] or 0) / MiB:.1f} MiB"
        )


if __name__ == "__main__":
    main()
