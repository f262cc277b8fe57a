"""What a pipeline prints, however much and however it prints it (issue 13, items 3 and 4):
progress bars redrawn with ``\\r`` are lines, not one endless line; one enormous line keeps
pipebench's memory bounded; stderr and stdout keep their order."""

from __future__ import annotations

import json

from tests.integration.hostile import follow_hwm, no_raw_sequences, records, start

HEADER = "import sys\nfrom workbench import pipeline\n"
MiB = 2**20


def test_progress_bar_redraws_are_lines_not_one_giant_line(tmp_path, write_module, pipebench_home):
    """300,000 redraws of a progress bar (``\\r`` and no newline, as tqdm does)."""
    path = write_module(
        "progress",
        HEADER
        + """
def bar(it):
    for b in it:
        for i in range(300_000):
            sys.stdout.write(f"\\rprogress {i:>6} / 300000 [=====>    ]")
        sys.stdout.write("\\n")
        yield b

@pipeline
def p(batch_size: int = 1):
    return range(1), bar
""",
    )
    proc = start("run", str(path), "--json", "run.json", cwd=tmp_path)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    rep = json.loads((tmp_path / "run.json").read_text())
    assert rep["log_lines"] == 300_000, rep["log_lines"]
    assert rep["log_tail"][-1] == "[stdout] progress 299999 / 300000 [=====>    ]"
    record = (pipebench_home / "runs").glob("*.json")
    assert max(p.stat().st_size for p in record) < 100_000  # was 9 MB: one 8.7 MB line
    assert max(len(line) for line in out.splitlines()) < 200
    assert "lines not shown" in out  # echoed in bulk, at most a few hundred an update
    no_raw_sequences(out)


def test_one_64_mib_line_keeps_pipebench_memory_bounded(tmp_path, write_module):
    """The parent keeps the head of a line and counts the rest: its peak RSS with a 64 MiB
    line is that of a run printing one short line, give or take a few MiB."""
    path = write_module(
        "longline",
        HEADER
        + """
def shout(size):
    def shout(it):
        for b in it:
            sys.stdout.write("y" * size)
            sys.stdout.write("\\nafter the long line\\n")
            yield b
    return shout

@pipeline
def p(size: int = 10):
    return range(1), shout(size)
""",
    )

    def peak(size: int) -> tuple[int, str, dict]:
        proc = start(
            "run", str(path), "--param", f"size={size}", "--json", "run.json", cwd=tmp_path
        )
        out, err, hwm = follow_hwm(proc, timeout=120)
        assert proc.returncode == 0, err
        return hwm, out, json.loads((tmp_path / "run.json").read_text())

    small, _, _ = peak(10)
    big, out, rep = peak(64 * MiB)
    assert big - small < 24 * MiB, f"{small / MiB:.0f} MiB, then {big / MiB:.0f} MiB"
    assert rep["log_tail"][-1] == "[stdout] after the long line"
    head, _, more = rep["log_tail"][-2].removeprefix("[stdout] ").partition("… [")
    # the head, and how much was cut: one marker, whose count adds up to the whole line
    assert set(head) == {"y"} and more.endswith(" more characters]"), rep["log_tail"][-2][-80:]
    assert len(head) + int(more.split()[0].replace(",", "")) == 64 * MiB
    assert max(len(line) for line in out.splitlines()) < 5000
    print(f"pipebench's peak RSS: {small / MiB:.1f} MiB, with a 64 MiB line {big / MiB:.1f} MiB")


def test_stderr_and_stdout_keep_their_order(tmp_path, write_module, pipebench_home):
    """2,000 warnings on stderr, then the summary on stdout: the log ends with the summary,
    and lines the two streams interleave keep the program's order."""
    path = write_module(
        "order",
        HEADER
        + """
def src(n):
    for i in range(n):
        print(f"warn {i}", file=sys.stderr)
        yield i
    for i in range(20):
        print(f"out {i}")
        print(f"err {i}", file=sys.stderr)
    print("SUMMARY: done")

@pipeline
def p(n: int = 2000):
    return (src(n),)
""",
    )
    proc = start("run", str(path), "--json", "run.json", cwd=tmp_path)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    tail = json.loads((tmp_path / "run.json").read_text())["log_tail"]
    assert tail[-1] == "[stdout] SUMMARY: done"
    expected = [
        f"[{s}] {w} {i}" for i in range(20) for s, w in (("stdout", "out"), ("stderr", "err"))
    ]
    assert tail[-41:-1] == expected
    assert tail[-42] == "[stderr] warn 1999"
    # The headless echo, in the same order.
    echoed = [ln.removeprefix("│ ") for ln in out.splitlines() if ln.startswith("│ ")]
    assert echoed[-42:] == ["warn 1999"] + [e.split("] ", 1)[1] for e in expected] + [
        "SUMMARY: done"
    ]
    [record] = records(pipebench_home)
    assert record["log_lines"] == 2000 + 40 + 1


def test_a_pipeline_printing_pipebenchs_framing_bytes_keeps_its_streams(tmp_path, write_module):
    """The child frames what Python writes to stderr with the bytes 0x1E and 0x1F on the
    one output pipe; the same bytes in what a pipeline prints are its own (shown as ␞ ␟),
    never read as framing that would relabel its lines."""
    path = write_module(
        "frames",
        HEADER
        + """
def src(n):
    print("out \\x1e starts a frame?")
    print("err \\x1f ends one?", file=sys.stderr)
    print("out again")
    yield from range(n)

@pipeline
def p(n: int = 3):
    return (src(n),)
""",
    )
    proc = start("run", str(path), "--json", "run.json", cwd=tmp_path)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    tail = json.loads((tmp_path / "run.json").read_text())["log_tail"]
    assert tail == [
        "[stdout] out ␞ starts a frame?",
        "[stderr] err ␟ ends one?",
        "[stdout] out again",
    ]


def test_a_burst_of_prints_shows_at_once_and_keeps_its_order(tmp_path, write_module):
    """Fast prints are block-buffered in the runner (a system call a line was most of the
    cost of a chatty pipeline), yet each shows within a fraction of a second, the last one
    too when the pipeline then goes quiet, and stderr lines stay in their place."""
    import time

    from workbench.engine.runner import RunOptions, start_run

    done = tmp_path / "printed.txt"
    path = write_module(
        "burst",
        HEADER
        + f"""
import time

def src(n):
    for i in range(n):
        print(f"out {{i}}")
        if i % 500 == 499:
            print(f"err {{i}}", file=sys.stderr)
    for i in range(300):
        print(f"tail {{i}}")  # a burst again, and the last lines go to stdout
    open({str(done)!r}, "w").write(repr(time.monotonic()))
    time.sleep(3)  # quiet: what was printed must not wait for the end
    yield 1

@pipeline
def p(n: int = 4_000):  # fewer than the parent's ring holds: every line is taken
    return (src(n),)
""",
    )
    run = start_run(str(path), RunOptions())
    assert run.output is not None
    lines: list[tuple[str, str]] = []
    seen_at = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and run.running:
        got, skipped = run.output.take()
        assert skipped == 0
        lines += got
        if seen_at is None and lines and lines[-1] == ("stdout", "tail 299"):
            seen_at = time.monotonic()
        time.sleep(0.01)
    run.wait(30)
    assert seen_at is not None, lines[-3:]
    assert seen_at - float(done.read_text()) < 0.5  # not held until the run ended
    expected = []
    for i in range(4_000):
        expected.append(("stdout", f"out {i}"))
        if i % 500 == 499:
            expected.append(("stderr", f"err {i}"))
    expected += [("stdout", f"tail {i}") for i in range(300)]
    assert lines == expected
