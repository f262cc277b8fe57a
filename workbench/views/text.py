"""User text as Rich ``Text``: never markup, never a raw escape sequence.

Every view builds what a pipeline says or is called through these two functions, so a
stage named ``[bold]`` or a message with ``[/x]`` shows as written and cannot crash a
render; the cleaning itself is ``workbench.text``'s.
"""

from __future__ import annotations

from rich.style import StyleType
from rich.text import Text

from workbench.text import MAX_TEXT, log_line, printable


def user_text(
    text: object, style: StyleType = "", *, newlines: bool = False, limit: int | None = MAX_TEXT
) -> Text:
    """A name, message or path from user code as plain ``Text`` (see ``text.printable``)."""
    return Text(printable(text, newlines=newlines, limit=limit), style=style)


def log_text(line: object, style: StyleType = "") -> Text:
    """One line of a pipeline's output, its colours kept through Rich's ANSI decoder and
    everything else an escape sequence could do removed (see ``text.log_line``)."""
    out = Text.from_ansi(log_line(line), style=style, no_wrap=False)
    out.end = ""
    return out
