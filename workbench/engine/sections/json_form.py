"""The JSON form of a section's frozen dataclasses, both ways, done by msgspec.

A section's JSON keys are its dataclass's field names, so the wire (``protocol``), the run
report and the published schema (``report_schema``) all say what the types say. ``to_json``
gives plain JSON data (dicts, lists, str, numbers, None); ``from_json`` builds the dataclass
back, nested rows included, checks each field's type on the way in, fills fields that are
missing with their defaults, ignores keys it does not know, and raises ``SectionDataError``
naming the field that is wrong.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

T = TypeVar("T", bound="JsonForm")


class SectionDataError(ValueError):
    """Section data that does not have its dataclass's shape (a field of the wrong type, a
    required field missing); the message names the class and the field's path."""


class JsonForm:
    """``to_json``/``from_json`` for a frozen dataclass whose fields are its JSON keys."""

    __slots__ = ()

    def to_json(self) -> dict[str, Any]:
        """The JSON data of this value (lists for tuples; NaN and infinities become null)."""
        out: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(self))
        return out

    @classmethod
    def from_json(cls: type[T], data: Any) -> T:
        """The value whose JSON data is ``data``; raises ``SectionDataError``."""
        try:
            return msgspec.convert(data, cls)
        except msgspec.ValidationError as exc:
            raise SectionDataError(f"{cls.__name__}: {exc}") from None
