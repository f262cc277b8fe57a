"""Property-based test of hostile user text through real runner children and the real
`pipebench` commands (issue 13): arbitrary text — markup, escape sequences, control
characters, lone surrogates, invalid UTF-8 on stdout, very long lines — as a pipeline's
prints, its exception message, its stage and pipeline names, its kernel and implementation
labels and its folder's name, through `run`, `history`, `compare`, `kernels`, `lines` and
`list`: no command crashes, nothing reaches the terminal raw, and the text lands in the log
and the error line as text. Each example costs a dozen real processes: a few per test run
(hypothesis keeps a failing one in .hypothesis/ for the next run; PIPEBENCH_FUZZ_EXAMPLES=N
asks for N); the cheap properties run by the thousand in tests/unit/test_user_text_fuzz.py."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.fuzz_text import hostile_bytes, hostile_text, raw_controls
from tests.integration.hostile import argv
from workbench.engine.output import MAX_LINE
from workbench.text import cap, printable, split_lines

FEW = settings(
    max_examples=int(os.environ.get("PIPEBENCH_FUZZ_EXAMPLES", "4")),
    deadline=None,
    # each example is a real run: no shrinking (hundreds more runs); the failing example
    # is printed as it was generated
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

MODULE = """
import sys
from workbench import kernels, pipeline, stage

TEXT = {text!r}
RAW = {raw!r}


def src(n):
    for i in range(n):
        yield [i]


def talk(fail_at):
    def talk(it):
        for i, b in enumerate(it):
            print("print:" + TEXT)
            sys.stdout.flush()
            sys.stdout.buffer.write(b"raw:" + RAW + b"\\n")  # not even UTF-8
            sys.stdout.buffer.flush()
            if i == fail_at:
                raise ValueError("msg:" + TEXT)
            yield b
    return talk


@pipeline(name="pipe:" + TEXT)
def p(n: int = 4, fail_at: int = 2):
    return src(n), stage(talk(fail_at), name="stage:" + TEXT)


@kernels(sizes=(10,), reference="python", name="kern:" + TEXT)
def k(n):
    return (list(range(n)),)


@k.impl("python")
def k_python(a):
    print("kprint:" + TEXT)
    return float(sum(a))


@k.impl("impl:" + TEXT)
def k_other(a):
    raise RuntimeError("kraise:" + TEXT)
"""


def folder_name(text: str, raw: bytes) -> str:
    """A folder name made of the same hostile text (a path holds any byte but / and NUL)."""
    b = (b"d" + raw + text.encode("utf-8", "replace"))[:150]
    b = b.replace(b"/", b"_").replace(b"\0", b"_")
    return os.fsdecode(b)


def pb(*args: str, cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PIPEBENCH_HOME": str(home), "COLUMNS": "300"}
    out = subprocess.run(
        argv(*args), cwd=cwd, capture_output=True, text=True, errors="replace", env=env,
        timeout=180,
    )  # fmt: skip
    for stream in (out.stdout, out.stderr):
        assert "Traceback (most recent call last)" not in stream, stream[-3000:]
        assert not raw_controls(stream, allow="\n"), (args, raw_controls(stream, allow="\n"))
    return out


def printed_lines(text: str | bytes) -> list[str]:
    """How the log keeps what ``print(text)`` (or a write of bytes) wrote: the child's
    stream encodes lone surrogates with backslashes and shows pipebench's framing bytes as
    ␞ ␟, the parent decodes (bad bytes replaced), splits at \\r and \\n and caps each line,
    and the log tail shows each through ``printable``."""
    data = text if isinstance(text, bytes) else text.encode("utf-8", "backslashreplace")
    wrote = data.decode("utf-8", "replace").replace("\x1e", "\u241e").replace("\x1f", "\u241f")
    lines, rest = split_lines(wrote + "\n")
    assert rest == ""
    return [printable(cap(line, MAX_LINE)) for line in lines]


@pytest.mark.timeout(900)  # a dozen processes an example; more examples with the variable
@FEW
@given(text=hostile_text(max_size=60, long_max=6000), raw=hostile_bytes(max_size=60))
def test_hostile_text_through_every_command(tmp_path: Path, text: str, raw: bytes) -> None:
    base = Path(tempfile.mkdtemp(dir=tmp_path))
    home = base / "home"
    folder = base / folder_name(text, raw)
    folder.mkdir()
    module = folder / "mod.py"
    module.write_text(textwrap.dedent(MODULE.format(text=text, raw=raw)), encoding="utf-8")

    # run: the stage prints, writes bytes that are not UTF-8, then raises
    run = pb("run", str(module), "--json", str(base / "run.json"), cwd=base, home=home)
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-3000:]
    rep = json.loads((base / "run.json").read_text())
    assert rep["status"] == "failed"
    assert rep["error"]["message"] == "msg:" + text  # the record keeps the text itself
    assert rep["pipeline"] == "pipe:" + text and rep["stages"][1]["name"] == "stage:" + text
    tail = rep["log_tail"]
    for line in printed_lines("print:" + text):  # in the log, as text
        assert f"[stdout] {line}" in tail, (line, tail[-8:])
    for line in printed_lines(b"raw:" + raw):  # bytes that are not UTF-8: replaced
        assert f"[stdout] {line}" in tail, (line, tail[-8:])
    error = [ln for ln in run.stdout.splitlines() if ln.startswith("error: ")]
    assert len(error) == 1 and printable("msg:" + text)[:50].rstrip() in error[0], error

    # a second run that ends well; then the commands that read records
    pb("run", str(module), "--param", "fail_at=-1", cwd=base, home=home)
    hist = pb("history", cwd=base, home=home)
    assert hist.returncode == 0 and "pipe:" in hist.stdout
    comp = pb("compare", "1", "2", cwd=base, home=home)
    assert comp.returncode == 0, comp.stderr
    listed = pb("list", str(folder), cwd=base, home=home)
    assert listed.returncode == 0 and "pipe:" in listed.stdout, listed.stderr

    # kernels: one implementation raises
    quick = ("--no-gemm", "--samples", "3", "--min-time", "0.005", "--warmup", "0.01")
    kern = pb("kernels", str(module), *quick, cwd=base, home=home)
    assert kern.returncode == 1, kern.stderr[-2000:]
    # The kernels runner keeps two lines of an exception, 300 characters; the line may be
    # cut too, and then says so.
    flat = kern.stderr.replace("\n", "")
    assert "kraise:" in flat or "more characters]" in flat, flat[-2000:]

    # lines, of the run that ends well
    lines = pb("lines", str(module), "--all", "--param", "fail_at=-1", cwd=base, home=home)
    assert lines.returncode == 0, lines.stdout[-2000:] + lines.stderr[-2000:]


@given(st.just(0))
@settings(max_examples=1, deadline=None)
def test_the_strategies_make_text_the_commands_can_take(_: int) -> None:
    """The folder names the fuzz makes are names a file system takes."""
    with tempfile.TemporaryDirectory() as d:
        for text, raw in (("[/x]\x1b[2J\udc80", b"\xff/\0"), ("", b""), ("é" * 200, b"\xc3")):
            (Path(d) / folder_name(text, raw)).mkdir()
