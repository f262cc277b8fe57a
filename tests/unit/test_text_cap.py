"""A cut text says how much was left out, once, with the whole count."""

from __future__ import annotations

from workbench.text import cap, log_line, printable


def test_a_text_cut_twice_keeps_one_marker_with_the_whole_count() -> None:
    once = cap("y" * 10_000, 4_000)  # as the output reader cuts a long line
    assert once == "y" * 4_000 + "… [6,000 more characters]"
    for shown in (cap(once, 2_000), printable(once, limit=2_000), log_line(once, limit=2_000)):
        assert shown == "y" * 2_000 + "… [8,000 more characters]"
    assert cap(once, 4_010) == once  # the head fits: the marker is not counted against it
    assert cap("short", 10) == "short" and cap("x" * 12, None) == "x" * 12
