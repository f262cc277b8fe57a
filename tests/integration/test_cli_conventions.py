"""What users expect of a command line, checked on the installed ``pipebench`` in real
child processes: ``--version``, ``python -m workbench``, ``--json -``, typo suggestions,
hints for a bare pipeline name, shell completion."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import workbench
from tests.unit.test_compare import A, B
from workbench.engine import records

ROOT = Path(__file__).resolve().parents[2]
PIPEBENCH = Path(sys.executable).with_name("pipebench")

STAGES = """
from workbench import pipeline

@pipeline
def counts(batch_size: int = 4, rows: int = 40):
    return (list(range(i, min(i + batch_size, rows))) for i in range(0, rows, batch_size)), double

def double(batches):
    for b in batches:
        print("batch", b[0])
        yield [2 * x for x in b]
"""

KERNELS = """
import numpy as np
from workbench import kernels

@kernels(sizes=(16,), reference="numpy")
def twice(n):
    return (np.arange(n, dtype=np.float64),)

@twice.impl("numpy")
def twice_numpy(a):
    return a * 2.0
"""


def pipebench(*args: str, cwd: Path, env: dict[str, str] | None = None):
    return subprocess.run(
        [str(PIPEBENCH), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_version_names_pipebench_python_and_the_probe(tmp_path):
    out = pipebench("--version", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    line = out.stdout.strip()
    assert line.startswith(f"pipebench {workbench.__version__} (Python {sys.version.split()[0]}")
    assert "stage probe: C extension" in line or "stage probe: pure-Python fallback" in line
    forced = pipebench("--version", cwd=tmp_path, env={"PIPEBENCH_PURE_PROBE": "1"})
    assert "stage probe: pure-Python fallback (PIPEBENCH_PURE_PROBE is set)" in forced.stdout


def test_python_dash_m_workbench_is_the_command(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "workbench", "--version"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("pipebench ")


@pytest.mark.parametrize(
    ("word", "line"),
    [
        ("rnu", "unknown command or path 'rnu'; did you mean 'run'?"),
        ("histroy", "unknown command or path 'histroy'; did you mean 'history'?"),
        ("frobnicate", "unknown command or path 'frobnicate'; commands: list, run,"),
    ],
)
def test_a_command_typo_suggests_the_nearest(tmp_path, word, line):
    out = pipebench(word, "x.py", cwd=tmp_path)
    assert out.returncode == 2
    assert line in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_an_existing_path_still_opens_the_workbench_and_a_missing_one_says_so(tmp_path):
    (tmp_path / "counts.py").write_text(STAGES)
    out = pipebench("counts.py", cwd=tmp_path)  # not a terminal: lists what it would show
    assert out.returncode == 0, out.stderr
    assert "counts" in out.stdout
    out = pipebench("missing/folder", cwd=tmp_path)
    assert out.returncode == 2 and "no such file or folder: missing/folder" in out.stderr


def test_a_bare_pipeline_name_hints_at_its_target(tmp_path):
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    (pipelines / "counting.py").write_text(STAGES)
    out = pipebench("run", "counts", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip() == (
        "error: no file or module named 'counts'; did you mean pipelines/counting.py:counts?"
    )
    out = pipebench("lines", "count", cwd=tmp_path)  # the nearest name
    assert "did you mean pipelines/counting.py:counts?" in out.stderr and out.returncode == 2
    out = pipebench("run", "counting:counts", cwd=tmp_path)
    assert "did you mean pipelines/counting.py:counts?" in out.stderr
    out = pipebench("run", "nothing_like_it", cwd=tmp_path)  # no hint: the child's own line
    assert out.returncode == 2 and "no module named 'nothing_like_it'" in out.stderr


def test_a_bare_name_outside_a_project_hints_at_the_bundled_example(tmp_path):
    out = pipebench("run", "jsonl_tokens", cwd=tmp_path)
    assert out.returncode == 2
    assert "did you mean workbench.examples.jsonl_tokens:jsonl_tokens?" in out.stderr


def test_json_dash_puts_the_report_alone_on_stdout(tmp_path):
    (tmp_path / "counts.py").write_text(STAGES)
    out = pipebench("run", "counts.py", "--json", "-", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)  # nothing else on stdout
    assert report["status"] == "finished" and report["items"] == 40
    assert "double" in out.stderr and "│ batch 0" in out.stderr  # the table and the log
    assert not (tmp_path / "-").exists()


def test_json_dash_for_history_compare_kernels_lines_and_sweep(tmp_path):
    records.save_run(A)
    records.save_run(dict(B, started_at="2026-01-02T00:00:00"))
    out = pipebench("history", "--json", "-", cwd=tmp_path)
    assert [r["number"] for r in json.loads(out.stdout)] == [1, 2]
    assert "2 runs" in out.stderr
    out = pipebench("compare", "1", "2", "--json", "-", cwd=tmp_path)
    assert json.loads(out.stdout)["b"] == B["run_id"] and "×2.50" in out.stderr

    (tmp_path / "k.py").write_text(KERNELS)
    quick = ["--samples", "1", "--warmup", "0.01", "--min-time", "0.001", "--no-gemm"]
    out = pipebench("kernels", "k.py", *quick, "--json", "-", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["status"] == "finished" and "twice" in out.stderr

    (tmp_path / "counts.py").write_text(STAGES)
    out = pipebench("lines", "counts.py", "--stage", "double", "--json", "-", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["kind"] == "lines" and "cost of looking" in out.stderr

    sweep = ["--batch-sizes", "2,4", "--seconds-per-run", "1", "--warmup-batches", "0"]
    sweep += ["--samples", "1", "--max-samples", "1"]
    out = pipebench("sweep", "counts.py", *sweep, "--json", "-", cwd=tmp_path)
    assert out.returncode in (0, 1), out.stderr
    assert [p["batch_size"] for p in json.loads(out.stdout)["points"]] == [2, 4]
    assert "batch_size" in out.stderr


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completion_script_completes_the_subcommands(tmp_path):
    out = pipebench("--print-completion", "bash", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    script = tmp_path / "pipebench.bash"
    script.write_text(out.stdout)
    assert subprocess.run(["bash", "-n", str(script)], timeout=30).returncode == 0
    # Complete `pipebench hi<TAB>` and `pipebench run --max-b<TAB>` as bash would.
    probe = (
        f"source {script}\n"
        "COMP_WORDS=(pipebench hi); COMP_CWORD=1; COMP_LINE='pipebench hi'; COMP_POINT=12\n"
        "_shtab_pipebench pipebench hi pipebench; echo ${COMPREPLY[@]}\n"
        "COMP_WORDS=(pipebench run --max-b); COMP_CWORD=2\n"
        "_shtab_pipebench pipebench --max-b run; echo ${COMPREPLY[@]}\n"
    )
    done = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, timeout=30)
    assert done.stdout.split("\n")[:2] == ["history", "--max-batches"], done.stderr
    zsh = pipebench("--print-completion", "zsh", cwd=tmp_path)
    assert zsh.returncode == 0 and "#compdef pipebench" in zsh.stdout


def test_every_help_page_renders():
    from workbench.cli.main import COMMANDS, build_parser

    parser = build_parser()
    assert "--version" in parser.format_help()
    for name in COMMANDS:
        out = subprocess.run(
            [str(PIPEBENCH), name, "--help"], capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0 and out.stdout.startswith("usage: pipebench"), out.stderr


@pytest.mark.parametrize("command", ["run", "table", "history", "sweep", "kernels", "lines"])
def test_a_json_path_that_cannot_be_written_is_refused_before_anything_runs(tmp_path, command):
    """A folder, a missing folder, an empty path: one line, exit 2, at once (the report
    must not be lost to a path found bad after the run)."""
    (tmp_path / "m.py").write_text(STAGES)
    target = {"history": [], "table": ["m.py"]}.get(command, ["m.py:counts"])
    for bad, said in ((str(tmp_path), "is a folder"), (str(tmp_path / "no" / "r.json"),
                      "no folder"), ("", "an empty path")):  # fmt: skip
        r = pipebench(command, *target, "--json", bad, cwd=tmp_path,
                      env={"PIPEBENCH_HOME": str(tmp_path / "home")})  # fmt: skip
        assert r.returncode == 2 and said in r.stderr, (command, bad, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "no").exists() and not (tmp_path / "home" / "runs").exists()


def test_a_json_path_that_is_a_pipe_or_a_link_is_written_through(tmp_path):
    (tmp_path / "m.py").write_text(STAGES)
    env = {"PIPEBENCH_HOME": str(tmp_path / "home")}
    (tmp_path / "target.json").write_text("{}")
    (tmp_path / "link.json").symlink_to(tmp_path / "target.json")
    r = pipebench("run", "m.py:counts", "--json", "link.json", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "link.json").is_symlink()  # the link kept, its target written
    assert json.loads((tmp_path / "target.json").read_text())["pipeline"] == "counts"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE, text=True)
    r = pipebench("run", "m.py:counts", "--json", str(fifo), cwd=tmp_path, env=env)
    out, _ = reader.communicate(timeout=30)
    assert r.returncode == 0 and json.loads(out)["pipeline"] == "counts"
    assert fifo.is_fifo()  # still a pipe, not replaced by a file
