"""What the user set for a pipeline in this session (parameters, memory budget), checked.

Values stay text, as ``RunOptions.params`` wants them; each is checked against the type
the catalog gives for the parameter, so a bad value is a one-line error before any run.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from workbench.engine.catalog import PipelineInfo
from workbench.errors import UserError
from workbench.units import format_bytes, parse_size

_BOOLS = {"1", "true", "yes", "on", "0", "false", "no", "off"}


@dataclass(frozen=True)
class PipelineSettings:
    """Parameter overrides (as text) and the memory budget for one pipeline."""

    params: dict[str, str] = field(default_factory=dict)
    memory_budget: int | None = None

    def with_param(self, name: str, value: str) -> PipelineSettings:
        return replace(self, params={**self.params, name: value})


def param_value(info: PipelineInfo, settings: PipelineSettings, name: str) -> str | None:
    """The text value a parameter will run with: the override, else its default."""
    if name in settings.params:
        return settings.params[name]
    for pname, default, _ in info.params:
        if pname == name:
            return str(default)
    return None


def check_param(info: PipelineInfo, name: str, text: str) -> str:
    """The value, stripped, if it fits the parameter's type; else a UserError."""
    kinds = {pname: kind for pname, _, kind in info.params}
    if name not in kinds:
        known = ", ".join(kinds) or "none"
        raise UserError(f"{info.name} has no parameter {name!r}; its parameters: {known}")
    value = text.strip()
    kind = kinds[name]
    try:
        if kind == "int":
            int(value.replace("_", ""))
        elif kind == "float":
            float(value)
        elif kind == "bool" and value.lower() not in _BOOLS:
            raise ValueError
    except ValueError:
        raise UserError(f"parameter {name} of {info.name} takes {kind}, not {text!r}") from None
    return value


def parse_batch_size(text: str) -> int:
    """A batch size typed by the user: a whole number of at least 1."""
    try:
        value = int(text.strip().replace("_", ""))
    except ValueError:
        raise UserError(f"{text!r} is not a batch size: type a whole number such as 64") from None
    if value < 1:
        raise UserError(f"batch size {value} is too small: it must be at least 1")
    return value


def parse_budget(text: str) -> int | None:
    """A memory budget typed by the user; empty or ``none`` means no budget."""
    if text.strip().lower() in ("", "none", "off", "0"):
        return None
    size = parse_size(text)
    if size < 1024 * 1024:
        raise UserError(
            f"a memory budget of {format_bytes(size)} is too small: give at least 1MiB, e.g. 2GiB"
        )
    return size


def scaled_batch(current: int, factor: float) -> int:
    """The batch size doubled (factor 2) or halved (0.5), never below 1."""
    return max(1, int(current * factor)) if factor >= 1 else max(1, current // 2)
