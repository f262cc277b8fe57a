"""User text is data (issue 13, items 1 and 2): markup and escape sequences in an exception
message, a print, a stage name, a pipeline name and a file path go through `run`, `kernels`,
`lines`, `list`, `history` and `compare` as text: no MarkupError, no raw sequence on the
terminal, and the text itself shown."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.integration.hostile import ESCAPES, MARKUP, argv, no_raw_sequences

#: What every piece of user text in the module carries: markup, then escape sequences.
HOSTILE = MARKUP + " " + ESCAPES

MODULE = """
import sys
from workbench import kernels, pipeline, stage

TEXT = {text!r}


def src(n):
    for i in range(n):
        yield [i]


def talk(fail_at):
    def talk(it):
        for i, b in enumerate(it):
            print("print " + TEXT)
            print("stderr " + TEXT, file=sys.stderr)
            if i == fail_at:
                raise ValueError("msg " + TEXT)
            yield b
    return talk


@pipeline(name="pipe " + TEXT)
def p(n: int = 10, fail_at: int = 5):
    return src(n), stage(talk(fail_at), name="stage " + TEXT)


@kernels(sizes=(10,), reference="python", name="kern " + TEXT)
def k(n):
    return (list(range(n)),)


@k.impl("python")
def k_python(a):
    print("kernel print " + TEXT)
    return float(sum(a))


@k.impl("impl " + TEXT)
def k_other(a):
    raise RuntimeError("kernel raise " + TEXT)
"""


@pytest.fixture
def hostile_module(tmp_path: Path) -> Path:
    """The module, in a folder whose path holds markup and an escape sequence."""
    folder = tmp_path / "data [red]x[" / "y] \x1b]0;T\x07 [bold]"
    folder.mkdir(parents=True)
    path = folder / "mod [bold].py"
    path.write_text(textwrap.dedent(MODULE.format(text=HOSTILE)))
    return path


def pb(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`pipebench ARGS` with its output to pipes, wide enough that no name is cut."""
    env = {**os.environ, "COLUMNS": "400"}
    out = subprocess.run(
        argv(*args),
        cwd=cwd,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout,
        env=env,
    )
    for stream in (out.stdout, out.stderr):
        assert "Traceback" not in stream and "MarkupError" not in stream, stream
        no_raw_sequences(stream)
    return out


def shown(text: str) -> str:
    """``text`` as pipebench shows it: the markup verbatim (the sequences are gone)."""
    return f"{text} {MARKUP}"


def test_run_shows_every_user_string_as_text(tmp_path, hostile_module, pipebench_home):
    out = pb("run", str(hostile_module), "--json", "run.json", cwd=tmp_path)
    assert out.returncode == 1, out.stderr  # the stage raised: a failed run
    for needle in ("print", "stderr", "pipe", "stage", "msg"):
        assert shown(needle) in out.stdout, needle
    error = [ln for ln in out.stdout.splitlines() if ln.startswith("error: ")]
    assert len(error) == 1 and shown("msg") in error[0], error
    assert "[red]x[/y]" in out.stdout  # the path, as it is
    rep = json.loads((tmp_path / "run.json").read_text())
    assert rep["error"]["message"] == "msg " + HOSTILE  # the record keeps the text itself
    assert rep["stages"][1]["name"] == "stage " + HOSTILE
    # Its log tail is for screens: sanitised once, when it was kept.
    assert any(shown("print") in line for line in rep["log_tail"])
    assert not any("\x1b" in line for line in rep["log_tail"])

    # Later commands read that record: history, compare, list.
    pb("run", str(hostile_module), "--param", "fail_at=-1", cwd=tmp_path)
    hist = pb("history", cwd=tmp_path)
    assert hist.returncode == 0 and shown("pipe") in hist.stdout
    comp = pb("compare", "1", "2", cwd=tmp_path)
    assert comp.returncode == 0, comp.stderr
    assert shown("pipe") in comp.stdout and shown("stage") in comp.stdout
    listed = pb("list", str(hostile_module.parent), cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert shown("pipe") in listed.stdout and "[red]x[/y]" in listed.stdout


def test_kernels_shows_user_strings_as_text(tmp_path, hostile_module):
    out = pb("kernels", str(hostile_module), cwd=tmp_path)
    assert out.returncode == 1  # one implementation raised
    assert shown("kern") in out.stdout and shown("impl") in out.stdout
    assert shown("kernel raise") in out.stderr
    assert shown("kernel print") in out.stdout


def test_lines_shows_user_strings_as_text(tmp_path, hostile_module):
    out = pb("lines", str(hostile_module), "--all", cwd=tmp_path)
    assert out.returncode == 1
    assert shown("msg") in out.stdout + out.stderr


def test_lines_of_a_run_that_ends_well_shows_names_as_text(tmp_path, hostile_module):
    out = pb("lines", str(hostile_module), "--all", "--param", "fail_at=-1", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert shown("stage") in out.stdout


def test_a_terminal_gets_no_sequence_a_pipeline_printed(tmp_path, hostile_module):
    """On a terminal, pipebench draws with colour and its own live view; what the pipeline
    printed (clear screen, home, cursor up, window title, clipboard) never reaches it."""
    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": "200", "LINES": "50", "TERM": "xterm-256color"}
    proc = subprocess.Popen(
        argv("run", str(hostile_module), "--param", "n=2000", "--param", "fail_at=-1"),
        cwd=tmp_path,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
    )
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            proc.kill()
            raise AssertionError("no output for 60 s")
        try:
            data = os.read(master, 1 << 16)
        except OSError:  # EIO: the terminal's other end closed
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(30) == 0
    screen = b"".join(chunks).decode("utf-8", "replace")
    assert shown("print") in screen
    for seq in ("\x1b[2J", "\x1b[H", "\x1b[5A", "\x1b]0;", "\x1b]52;", "\x07", "\u202e"):
        assert seq not in screen, repr(seq)
