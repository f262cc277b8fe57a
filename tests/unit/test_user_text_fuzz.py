"""Property-based tests of user text on its way to a terminal (issue 13): arbitrary text —
brackets, markup tags, escape sequences, control bytes, invalid UTF-8, lone surrogates,
very long lines — through the sanitiser, the parent's output reader (a real pipe), every
view and the run report, by the thousand. The real child processes, the CLI commands and
the TUI get the same texts, fewer of them, in tests/integration/test_user_text_fuzz.py."""

from __future__ import annotations

import io
import os
import re
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.text import Text

from tests.fuzz_text import ESCAPE_FRAGMENTS, hostile_bytes, hostile_text, raw_controls
from workbench.engine.catalog import ModuleInfo, PipelineInfo
from workbench.engine.compare import compare_reports
from workbench.engine.kernels.session import KernelState, apply_kernel_event
from workbench.engine.output import MAX_LINE, STDERR_OFF, STDERR_ON, Output
from workbench.engine.protocol import (
    Exited,
    Failure,
    Finished,
    Hello,
    Log,
    Progress,
    Snapshot,
    StageSample,
)
from workbench.engine.protocol_tools import KernelEnvironment, KernelResult
from workbench.engine.sections.memory import MemorySection, MemoryTotals
from workbench.engine.session import RunState, apply, report, with_lines
from workbench.text import MAX_TEXT, log_line, printable, split_lines
from workbench.views.compare import compare_view
from workbench.views.history import history_table
from workbench.views.kernels import kernels_view
from workbench.views.run import catalog_table, live_view, run_view
from workbench.views.text import log_text, user_text

MANY = settings(max_examples=400, deadline=None)
SOME = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def render(renderable: object, width: int = 100) -> str:
    """What a terminal would get: a Console with no colour, so any escape sequence or
    control character in the output came from the text itself."""
    buf = io.StringIO()
    Console(file=buf, width=width, color_system=None, force_terminal=False).print(renderable)
    return buf.getvalue()


# ---- the sanitiser ------------------------------------------------------------------
@MANY
@given(hostile_text())
def test_printable_leaves_nothing_a_terminal_would_act_on(s: str) -> None:
    out = printable(s)
    assert not raw_controls(out, allow="")
    out.encode("utf-8")  # valid: no lone surrogate left
    assert len(out) <= MAX_TEXT + 40
    assert printable(out, limit=None) == out  # a second pass changes nothing
    kept = printable(s, newlines=True, limit=None)
    assert not raw_controls(kept, allow="\n\t")


@MANY
@given(hostile_text(max_size=200, long_max=1000))
def test_user_text_never_swallows_what_follows_it(s: str) -> None:
    """Views compose user text with their own ("stage NAME raised TYPE: MESSAGE"): a
    sequence the user left open (an OSC or DCS with no terminator, an 8-bit APC) must not
    take pipebench's words after it with it."""
    assert printable(s + "→ raised ValueError", limit=None).endswith("→ raised ValueError")
    assert log_line(s + "→ end", limit=None).endswith("→ end")


def test_an_unterminated_string_sequence_keeps_the_text_after_it() -> None:
    assert printable("stage \x9f1 raised ValueError: x") == "stage \ufffd1 raised ValueError: x"
    assert printable("a\x1b]0;title b") == "a0;title b"  # shown, not obeyed
    assert printable("a\x1b]0;title\x07b") == "ab"  # a whole one is removed


@MANY
@given(st.text(alphabet=st.characters(min_codepoint=0x20, exclude_categories=("Cs", "Cc"))))
def test_printable_text_is_kept_as_it_is(s: str) -> None:
    """Brackets, markup tags, Rich's own escapes, any script: nothing to clean, nothing
    changed (bidi overrides aside: they reorder what a terminal shows)."""
    s = re.sub("[\u202a-\u202e\u2066-\u2069]", "", s)
    assert printable(s, limit=None) == s
    assert user_text(s, limit=None).plain == s


@MANY
@given(hostile_bytes())
def test_invalid_utf8_is_replaced_never_raised(b: bytes) -> None:
    out = printable(b)
    assert out == printable(b.decode("utf-8", "replace"))
    surrogates = b.decode("utf-8", "surrogateescape")  # what os.fsdecode makes of a path
    printable(surrogates).encode("utf-8")
    log_line(surrogates).encode("utf-8")


@MANY
@given(hostile_text())
def test_log_line_keeps_colour_only(s: str) -> None:
    line = log_line(s.replace("\n", " ").replace("\r", " "))
    leftover = re.sub(r"\x1b\[[0-9;:]*m", "", line)
    assert not raw_controls(leftover, allow="\t")
    text = log_text(line)
    assert not raw_controls(text.plain, allow="\t")
    assert isinstance(text, Text)


@MANY
@given(st.text(alphabet=st.sampled_from("ab\r\n \x1b[")))
def test_split_lines_loses_no_character_but_line_ends(buffer: str) -> None:
    lines, rest = split_lines(buffer)
    assert all("\r" not in ln and "\n" not in ln for ln in lines)
    assert "".join(lines) + rest.rstrip("\r") == re.sub(r"\r\n|\r|\n", "", buffer)
    assert rest in ("", "\r") or not rest.endswith("\n")


# ---- the parent's reader, on a real pipe --------------------------------------------
@SOME
@given(
    st.lists(
        st.one_of(
            hostile_bytes(max_size=300),
            st.integers(1, 3 * MAX_LINE).map(lambda n: b"z" * n),
            st.sampled_from([b"\r", b"\n", b"\r\n", b"\xe2\x82", b"\xac", STDERR_ON.encode()]),
        ),
        max_size=30,
    )
)
def test_output_reader_bounds_every_line_and_loses_none(chunks: list[bytes]) -> None:
    """Whatever arrives on the pipes, in whatever pieces: every line is at most MAX_LINE
    characters plus a marker, and every line is either taken or counted."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    output = Output(os.fdopen(out_r, "rb"), os.fdopen(err_r, "rb"))
    data = b"".join(chunks)
    with os.fdopen(out_w, "wb") as f:
        for c in chunks:
            f.write(c)
            f.flush()
    os.write(err_w, data[:1000])
    os.close(err_w)
    assert output.done.wait(10)
    lines, skipped = output.take()
    for stream, text in lines:
        assert len(text) <= MAX_LINE + 40, (stream, len(text), text[-60:])
        assert "\n" not in text and "\r" not in text, (stream, text[-60:])
        assert stream == "stderr" or (STDERR_ON not in text and STDERR_OFF not in text)
    assert len(lines) + skipped == output.total


# ---- views and the report -------------------------------------------------------------
MEM = MemorySection(
    now=MemoryTotals(rss=200, anon=120, file=80, uss=150),
    start=MemoryTotals(rss=100, anon=60, file=40),
    peak=MemoryTotals(rss=250, anon=170, file=80, uss=160),
)


def hostile_run(t: list[str]) -> RunState:
    """A run whose every piece of user text is one of ``t``: it said things, failed,
    crashed, had processes ended."""
    hello = Hello(
        7, t[0], t[1], t[2], {t[3]: t[4], "batch_size": t[5]}, (t[6], t[7], t[8]), "c", "3.11",
        1000.0,
    )  # fmt: skip
    stages = tuple(StageSample(100, 10, 10**8 * (i + 1), False) for i in range(3))
    events = [
        Progress(t[9], 5, 10, t[10]),
        hello,
        Snapshot(2 * 10**9, stages, 0, MEM, running=1, idle_ns=3 * 10**9),
        Log("pipebench", t[11]),
        Failure("run", t[12], t[13], t[14], t[6], False),
        Finished("failed", None, t[15]),
    ]
    state = RunState(t[16], started_at=time.time())
    for ev in events:
        state = apply(state, ev)
    state = with_lines(state, [("stdout", t[17]), ("stderr", t[18])], 3)
    return state


def crashed_run(t: list[str]) -> RunState:
    state = hostile_run(t)
    state = apply(
        RunState(t[16], hello=state.hello, snapshot=state.snapshot),
        Exited(-11, "SIGSEGV", None, (t[19],), None, t[0], (t[1], t[2]), False, t[3]),
    )
    return state


@SOME
@given(st.lists(hostile_text(max_size=120, long_max=4000), min_size=20, max_size=20))
def test_every_run_view_renders_user_text_as_text(t: list[str]) -> None:
    for state in (hostile_run(t), crashed_run(t)):
        for view in (run_view(state, t[1], 80), live_view(state, 100), run_view(state)):
            out = render(view)
            assert not raw_controls(out)
    # The run's message (what Finished said) is there, as text.
    said = printable(t[15])[:40]
    assert said in render(run_view(hostile_run(t), None, 3000), width=3000).replace("\n", "")


@SOME
@given(st.lists(hostile_text(max_size=120, long_max=4000), min_size=20, max_size=20))
def test_reports_of_hostile_runs_compare_and_list_as_text(t: list[str]) -> None:
    a = report(hostile_run(t), finished_at=time.time())
    b = report(crashed_run(t), finished_at=time.time())
    for rep in (a, b):
        assert all("\x1b" not in line for line in rep["log_tail"])
    compare_reports([a, b])
    for width in (80, 200):
        assert not raw_controls(render(compare_view([a, b, a]), width))
        assert not raw_controls(render(compare_view([a, b]), width))
        assert not raw_controls(render(history_table([(1, a), (2, b)], width), width))


@SOME
@given(st.lists(hostile_text(max_size=80, long_max=4000), min_size=8, max_size=8))
def test_the_catalog_lists_hostile_names_as_text(t: list[str]) -> None:
    modules = [
        ModuleInfo(
            t[0],
            t[1],
            (
                PipelineInfo(t[2], t[3], t[4], ((t[5], t[6], "str"),)),
                PipelineInfo(t[7], t[3], "", (), reason=t[6]),
            ),
        ),
        ModuleInfo(t[1], t[2], error=t[3]),
    ]
    assert not raw_controls(render(catalog_table(modules)))


@SOME
@given(st.lists(hostile_text(max_size=80, long_max=4000), min_size=8, max_size=8))
def test_a_kernels_table_of_hostile_names_renders_as_text(t: list[str]) -> None:
    plan = {
        "name": t[0],
        "doc": t[1],
        "sizes": [10],
        "impls": [t[2], t[3]],
        "reference": t[2],
        "unavailable": {t[4]: t[5]},
        "flops": False,
        "bytes": False,
    }
    env = KernelEnvironment(
        1, t[6], t[7], 0, "3.11", {t[0]: t[1]}, t[2], 2, {"requested": "1"}, None, (plan,),
        {}, 0.0,
    )  # fmt: skip
    ok = KernelResult(t[0], 10, t[2], 0, "ok", True, None, None, None, loops=1,
                      samples=(1e-6,) * 7, reference=True)  # fmt: skip
    bad = KernelResult(t[0], 10, t[3], 0, "error", None, t[4], t[5], t[6])
    state = KernelState(t[7])
    for ev in (env, ok, bad, Log("stdout", t[1]), Finished("finished", None, t[2])):
        state = apply_kernel_event(state, ev)
    for width in (80, 200):
        assert not raw_controls(render(kernels_view(state, width), width))


@pytest.mark.parametrize("fragment", ESCAPE_FRAGMENTS)
def test_each_escape_fragment_alone_is_removed_or_shown(fragment: str) -> None:
    assert "\x1b" not in printable(f"a{fragment}b")
    assert not raw_controls(render(user_text(f"a{fragment}b")))
