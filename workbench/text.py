"""The one sanitiser for user text on its way to a terminal.

Everything a pipeline says or is called (its prints, exception messages, stage, pipeline and
file names, paths) is data. Before it is shown anywhere it goes through ``printable`` (names,
messages) or ``log_line`` (output lines), which:

- replace invalid UTF-8 and lone surrogates with U+FFFD;
- drop terminal escape sequences (CSI, OSC, DCS, APC, PM, SOS and two-character ``ESC x``),
  so nothing a pipeline prints can clear the screen, move the cursor, set the window title
  or write the clipboard; ``log_line`` keeps colour (SGR) sequences only, for Rich's ANSI
  decoder to turn into styles, never to pass through raw;
- show the remaining control characters as visible pictures (``␇`` for BEL), and remove
  bidirectional overrides that would reorder what the terminal shows;
- cap very long text with a marker that says how much was left out.

Markup is the views' half of the job: they build ``rich.text.Text`` from these strings (or
``Text.from_ansi`` for log lines), never markup strings, and the TUI notifies with
``markup=False``. This module is the ground floor: any layer may import it.
"""

from __future__ import annotations

import re

#: Characters kept of one log line; the rest is counted in a marker.
MAX_LINE = 2000
#: Characters kept of a name or a message shown on one line.
MAX_TEXT = 2000

# ESC-introduced sequences, per ECMA-48: CSI (ESC [ ... final), OSC/DCS/APC/PM/SOS strings
# (ESC ] ... BEL or ST), two-character escapes; and their 8-bit C1 forms. A string is removed
# only whole: one left open would take the rest of the text with it (and the words a view
# puts after a name); its introducer alone is dropped (or shown, 8-bit) and its payload
# shown as text. A string stops at the next introducer, so the scan stays linear.
_CSI = r"(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?"
_STRING = r"(?:\x1b[\]P_^X]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c\x90\x98\x9d\x9e\x9f]*(?:\x07|\x1b\\|\x9c)"
_ESC2 = r"\x1b[\x20-\x2f]*[\x30-\x7e]?"
_SEQUENCE = re.compile(f"{_STRING}|{_CSI}|{_ESC2}")
_SGR = re.compile(r"\x1b\[[0-9;:]*m")
# C0 controls but tab and newline, DEL, C1 controls; bidi embeddings, overrides, isolates.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f\x80-\x9f\u202a-\u202e\u2066-\u2069]")
_NEWLINES = _LINE_END = re.compile(r"\r\n|\r|\n")


def _picture(m: re.Match[str]) -> str:
    c = ord(m.group(0))
    if c < 0x20:
        return chr(0x2400 + c)  # the Unicode control pictures: ␀ … ␟
    if c == 0x7F:
        return "\u2421"  # ␡
    return "\ufffd"


def _valid(text: object) -> str:
    if isinstance(text, bytes | bytearray):
        return bytes(text).decode("utf-8", "replace")
    s = text if isinstance(text, str) else str(text)
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates (surrogateescape'd bytes, bad JSON)
        s = s.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return s


#: The marker ``cap`` ends a cut text with.
_CUT = re.compile(r"… \[([\d,]+) more characters\]\Z")


def cap(text: str, limit: int | None) -> str:
    """``text`` cut to ``limit`` characters with a marker saying how many were left out; a
    text cut before (a long output line, cut as it was read) keeps one marker with the
    whole count."""
    if limit is None or len(text) <= limit:
        return text
    more = 0
    m = _CUT.search(text)
    if m is not None:
        text, more = text[: m.start()], int(m.group(1).replace(",", ""))
        if len(text) <= limit:
            return f"{text}… [{more:,} more characters]"
    return f"{text[:limit]}… [{len(text) - limit + more:,} more characters]"


def printable(text: object, *, newlines: bool = False, limit: int | None = MAX_TEXT) -> str:
    """``text`` as plain text that is safe on any terminal: no escape sequence, every
    control character visible, valid UTF-8, at most ``limit`` characters (then a marker).

    Args:
        text: a str, bytes (decoded as UTF-8, bad bytes replaced) or anything with ``str``.
        newlines: keep line breaks (a traceback); otherwise each is shown as ``↵``.
        limit: the most characters kept; None keeps all.
    """
    s = _SEQUENCE.sub("", _valid(text))
    s = _NEWLINES.sub("\n" if newlines else "↵", s)
    s = s.replace("\t", "    ")  # a tab's width is the terminal's to decide: spaces
    s = _CONTROL.sub(_picture, s)
    return cap(s, limit)


def log_line(text: object, *, limit: int | None = MAX_LINE) -> str:
    """One line of a pipeline's output, safe to decode with ``rich.text.Text.from_ansi``:
    like ``printable`` but colour (SGR) sequences are kept. ``text`` holds no line end
    (``split_lines`` makes lines)."""
    s = _valid(text)
    kept: list[str] = []
    last = 0
    for m in _SEQUENCE.finditer(s):
        kept.append(_CONTROL.sub(_picture, s[last : m.start()]))
        if _SGR.fullmatch(m.group(0)):
            kept.append(m.group(0))
        last = m.end()
    kept.append(_CONTROL.sub(_picture, s[last:]))
    return cap("".join(kept).replace("\n", "↵"), limit)


def strip_sequences(text: str) -> str:
    """``text`` without any escape sequence, colour included (for plain-text records)."""
    return _SEQUENCE.sub("", text)


def split_lines(buffer: str) -> tuple[list[str], str]:
    """Complete lines of ``buffer`` and what is left after its last line end.

    ``\\r\\n``, ``\\n`` and a lone ``\\r`` each end a line, so a progress bar that
    redraws itself with ``\\r`` gives one line per redraw instead of one endless line (and
    no empty line for a redraw that starts with ``\\r``). A ``\\r`` at the very end stays
    in the remainder: it may be the first half of ``\\r\\n``.
    """
    if "\r" not in buffer:  # the common case, at C speed
        *lines, rest = buffer.split("\n")
        return lines, rest
    lines = []
    start = 0
    for m in _LINE_END.finditer(buffer):
        if m.group(0) == "\r" and m.end() == len(buffer):
            break  # maybe half of \r\n: decide when more comes
        line = buffer[start : m.start()]
        if line or m.group(0) != "\r":
            lines.append(line)
        start = m.end()
    return lines, buffer[start:]


def names_match(given: str, name: object) -> bool:
    """Whether ``given`` (typed by a user) names ``name``: as it is, or as the screen shows
    it (``printable``: control characters made visible, escape sequences left out)."""
    return given == name or given == printable(name)


def exception_message(exc: BaseException) -> str:
    """``str(exc)``, or what stands for it where the exception's own ``__str__`` raises: a
    pipeline's exceptions are its code too, and formatting one must not end the run's
    report (``traceback`` does the same for the traceback's last line)."""
    try:
        return str(exc)
    except Exception as inner:
        return f"<str() of this {type(exc).__name__} raised {type(inner).__name__}>"


def exception_text(exc: BaseException) -> str:
    """``"Type: message"`` for ``exc`` (``exception_message``)."""
    return f"{type(exc).__name__}: {exception_message(exc)}"
