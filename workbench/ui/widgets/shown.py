"""Updating a ``Static`` only when what it shows changes.

A run's panels are fed 5 times a second, and most of what they show then is what they show
already (a GPU panel without a GPU, a caches panel without caches, the figures of a run
that has ended). ``Static.update`` repaints, and by default lays the screen out again, even
for the same content: that work took the TUI's process CPU from the runner's machine.
"""

from __future__ import annotations

import weakref

from rich.text import Text
from textual.widgets import Static

_SHOWN: weakref.WeakKeyDictionary[Static, str | Text] = weakref.WeakKeyDictionary()


def show(static: Static, content: str | Text, *, layout: bool = True) -> None:
    """``static.update(content, layout=layout)``, unless the last content given through here
    is equal (same type; a ``Text`` equal in its characters and styles)."""
    last = _SHOWN.get(static)
    if last is not None and type(last) is type(content) and last == content:
        return
    _SHOWN[static] = content
    static.update(content, layout=layout)
