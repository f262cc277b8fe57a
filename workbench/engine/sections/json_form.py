"""The JSON form of a section's frozen dataclasses, both ways.

A section's JSON keys are its dataclass's field names, so the wire (``protocol``), the run
report and the published schema (``report_schema``) all say what the types say. ``to_json``
gives plain JSON data (dicts, lists, str, numbers, None), by a walk of the dataclass (the
runner child, which only writes sections, never imports msgspec: a run starts that much
sooner); ``from_json`` builds the dataclass back with msgspec, nested rows included, checks
each field's type on the way in, fills fields that are missing with their defaults, ignores
keys it does not know, and raises ``SectionDataError`` naming the field that is wrong.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any, TypeVar

T = TypeVar("T", bound="JsonForm")

#: Per dataclass: its fields with a default value, and those that can hold dataclasses.
_Plan = tuple[tuple[tuple[str, Any], ...], tuple[str, ...]]
_PLANS: dict[type, _Plan] = {}


class SectionDataError(ValueError):
    """Section data that does not have its dataclass's shape (a field of the wrong type, a
    required field missing); the message names the class and the field's path."""


class JsonForm:
    """``to_json``/``from_json`` for a frozen dataclass whose fields are its JSON keys."""

    __slots__ = ()

    def to_json(self) -> dict[str, Any]:
        """The JSON data of this value (lists for tuples; NaN and infinities become null)."""
        out: dict[str, Any] = _plain(self)
        return out

    @classmethod
    def from_json(cls: type[T], data: Any) -> T:
        """The value whose JSON data is ``data``; raises ``SectionDataError``."""
        import msgspec

        try:
            out = msgspec.convert(data, cls)
        except msgspec.ValidationError as exc:
            raise SectionDataError(f"{cls.__name__}: {exc}") from None
        _complete(out)
        return out


def _plain(value: Any) -> Any:
    """``value`` as JSON data: dataclasses as dicts of their fields (in field order), tuples
    and lists as lists, non-finite floats as None; str, int, bool and None as they are."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _holds_dataclass(tp: Any) -> bool:
    return dataclasses.is_dataclass(tp) or any(_holds_dataclass(a) for a in typing.get_args(tp))


def _plan(cls: type) -> _Plan:
    plan = _PLANS.get(cls)
    if plan is None:
        hints = typing.get_type_hints(cls)
        fields = dataclasses.fields(cls)
        plan = _PLANS[cls] = (
            tuple((f.name, f.default) for f in fields if f.default is not dataclasses.MISSING),
            tuple(f.name for f in fields if _holds_dataclass(hints[f.name])),
        )
    return plan


def _complete(obj: Any) -> None:
    """Give ``obj`` (and the dataclasses in it) every field the data left out.

    msgspec leaves a field with a plain default out of the instance (its class attribute
    answers reads) and then leaves it out when it encodes the instance: set it, so that
    what is read back is written back in full.
    """
    defaults, nested = _plan(type(obj))
    attrs = obj.__dict__
    for name, value in defaults:
        if name not in attrs:
            attrs[name] = value
    for name in nested:
        value = attrs[name]
        for item in value if isinstance(value, tuple) else (value,):
            if dataclasses.is_dataclass(item):
                _complete(item)
