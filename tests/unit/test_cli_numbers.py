"""Numbers on the command line: nan, inf, 0 and negative sizes get one line and exit 2 from
every subcommand that takes them, through the real parser (``pipebench`` main)."""

from __future__ import annotations

import pytest

from workbench.cli.main import main
from workbench.errors import UserError
from workbench.units import parse_size

SECONDS = {
    "run": ["--max-seconds", "--snapshot-interval"],
    "lines": ["--max-seconds"],
    "kernels": ["--min-time", "--warmup", "--max-time", "--cutoff", "--max-seconds"],
    "sweep": ["--seconds-per-run", "--warmup-seconds"],
}
SIZES = {"run": ["--memory-budget"], "sweep": ["--memory-budget", "--gpu-memory-budget"]}


def one_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def cases(table: dict[str, list[str]], values: list[str]) -> list[tuple[str, str, str]]:
    return [(cmd, opt, v) for cmd, opts in table.items() for opt in opts for v in values]


@pytest.mark.parametrize(
    "cmd, opt, value", cases(SECONDS, ["nan", "NaN", "inf", "-inf", "1e400", "1e300"])
)
def test_seconds_must_be_finite(
    capsys: pytest.CaptureFixture[str], cmd: str, opt: str, value: str
) -> None:
    for argv in ([cmd, "m.py", opt, value], [cmd, "m.py", f"{opt}={value}"]):
        line = one_error(capsys, argv)
        assert f"argument {opt}: " in line
        assert "not a number of seconds" in line or "more than 1,000,000,000" in line


@pytest.mark.parametrize("cmd, opt, value", cases(SECONDS, ["0", "-2"]))
def test_seconds_must_be_above_zero(
    capsys: pytest.CaptureFixture[str], cmd: str, opt: str, value: str
) -> None:
    if opt == "--warmup-seconds" and value == "0":
        return  # no warm-up is a valid choice
    line = one_error(capsys, [cmd, "m.py", opt, value])
    assert f"argument {opt}: {value} must be" in line


def test_only_time_limits_say_that_leaving_them_out_means_no_limit(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert "leave the option out for no limit" in one_error(
        capsys, ["run", "m.py", "--max-seconds", "inf"]
    )
    assert "no limit" not in one_error(capsys, ["run", "m.py", "--snapshot-interval", "inf"])


@pytest.mark.parametrize(
    "cmd, opt, value, says",
    [
        (cmd, opt, value, says)
        for cmd, opts in SIZES.items()
        for opt in opts
        for value, says in [
            ("0", "is 0 bytes"),
            ("0.4", "is 0 bytes"),
            ("0GiB", "is 0 bytes"),
            ("-5GiB", "is negative"),
            ("-1", "is negative"),
            ("nan", "is not a size"),
            ("inf", "is not a size"),
            ("9" * 400, "too large to be a size"),
        ]
    ],
)
def test_sizes_must_be_above_zero(
    capsys: pytest.CaptureFixture[str], cmd: str, opt: str, value: str, says: str
) -> None:
    for argv in ([cmd, "m.py", opt, value], [cmd, "m.py", f"{opt}={value}"]):
        line = one_error(capsys, argv)
        assert f"argument {opt}: " in line and says in line, line
        assert "expected one argument" not in line


@pytest.mark.parametrize("value", ["nan", "inf", "1.5", "-0.1"])
def test_the_sweep_margin_is_a_fraction(capsys: pytest.CaptureFixture[str], value: str) -> None:
    line = one_error(capsys, ["sweep", "m.py", "--margin", value])
    assert "argument --margin: " in line


@pytest.mark.parametrize("value", ["1e400", "nan", "inf", "1e30"])
def test_kernel_sizes_are_whole_numbers_that_fit(
    capsys: pytest.CaptureFixture[str], value: str
) -> None:
    line = one_error(capsys, ["kernels", "m.py", "--sizes", value])
    assert "argument --sizes: " in line and "is not a size" in line


def test_parse_size_refuses_what_is_no_size() -> None:
    assert parse_size("0") == 0  # a byte limit of 0 is a choice where it is one
    for text in ("1" * 400, "-1GiB", "nan"):
        with pytest.raises(UserError):
            parse_size(text)


@pytest.mark.parametrize("value", ["1e-9", "0.001", "0.0099"])
def test_a_snapshot_interval_below_10_ms_is_refused(
    capsys: pytest.CaptureFixture[str], value: str
) -> None:
    """Readings every nanosecond would be made at every stage boundary, on the chain's
    thread, and slow the run they measure (a user's 1e-9 ran at a third of the speed)."""
    line = one_error(capsys, ["run", "m.py", "--snapshot-interval", value])
    assert f"argument --snapshot-interval: {value} must be at least 0.01 seconds" in line
