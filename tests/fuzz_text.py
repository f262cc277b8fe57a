"""Hypothesis strategies for hostile user text, shared by the fuzz tests: what a pipeline
can print, raise, or be called."""

from __future__ import annotations

from hypothesis import strategies as st

#: Markup a Rich or Textual renderer would act on, and near misses.
MARKUP_FRAGMENTS = [
    "[/x]", "[/]", "[bold]", "[red on blue]", "[@click=app.quit]", "[link=http://e]",
    "[/link]", "\\[", "[", "]", "[[", "]]", "[b]x[/b]", "[@click=screen.dismiss()]",
    "[$accent]", "$text", "{x}", "%s",
]  # fmt: skip
#: Terminal escape sequences: clear, home, cursor moves, erase, colour, title, clipboard,
#: hyperlinks, device queries, alternate screen, 8-bit CSI/OSC, unterminated ones.
ESCAPE_FRAGMENTS = [
    "\x1b[2J", "\x1b[H", "\x1b[5A", "\x1b[K", "\x1b[31m", "\x1b[0m", "\x1b[38;2;1;2;3m",
    "\x1b]0;TITLE\x07", "\x1b]52;c;ZXZpbA==\x07", "\x1b]8;;http://e\x1b\\link\x1b]8;;\x1b\\",
    "\x1b[6n", "\x1b[?1049h", "\x1bc", "\x1b(0", "\x9b2J", "\x9d0;T\x9c", "\x1b[", "\x1b]",
    "\x1bP+q\x1b\\", "\x1b", "\x07", "\x08", "\x7f", "\x00", "\r", "\n", "\t", "\x0b",
    "\x0c", "\x1e", "\x1f", "\u202e", "\u2066", "\u200b", "\ufeff",
]  # fmt: skip


def hostile_text(max_size: int = 400, long_max: int = 20_000) -> st.SearchStrategy[str]:
    """Text made of markup, escape sequences, control characters, any code point (lone
    surrogates included) and, now and then, a very long run of one character (3,000 to
    ``long_max`` of them)."""
    piece = st.one_of(
        st.sampled_from(MARKUP_FRAGMENTS),
        st.sampled_from(ESCAPE_FRAGMENTS),
        st.text(st.characters(codec=None, exclude_categories=()), max_size=12),
        st.text(st.characters(max_codepoint=0x9F), max_size=12),
    )
    short = st.lists(piece, max_size=max(1, max_size // 8)).map("".join)
    long = st.tuples(st.sampled_from("x[\x1b\u00e9"), st.integers(3000, max(3000, long_max))).map(
        lambda p: p[0] * p[1]
    )
    return st.one_of(short, short, short, long.map(lambda s: "[/x]" + s + "\x1b[2J"))


def hostile_bytes(max_size: int = 400) -> st.SearchStrategy[bytes]:
    """Bytes, often not UTF-8: lone continuation bytes, cut sequences, overlongs."""
    piece = st.one_of(
        st.binary(max_size=12),
        st.sampled_from(
            [b"\xff", b"\xc3", b"\xe2\x82", b"\xc0\xaf", b"\xed\xa0\x80", b"[/x]", b"\x1b[2J"]
        ),
        hostile_text(40).map(lambda s: s.encode("utf-8", "surrogatepass")),
    )
    return st.lists(piece, max_size=max(1, max_size // 8)).map(b"".join)


def raw_controls(text: str, allow: str = "\n") -> list[str]:
    """The characters of ``text`` a terminal would act on: C0 and C1 controls (but those
    in ``allow``), DEL, and the bidi overrides that reorder a line."""
    return [
        c
        for c in text
        if ((ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F) and c not in allow)
        or "\u202a" <= c <= "\u202e"
        or "\u2066" <= c <= "\u2069"
    ]
