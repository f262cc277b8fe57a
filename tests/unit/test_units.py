"""Sizes parse the way people write them; bad ones say how to write them."""

import pytest

from workbench.errors import UserError
from workbench.units import (
    format_bytes,
    format_count,
    format_rate,
    format_seconds,
    parse_size,
    significant,
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2GiB", 2 * 1024**3),
        ("512MiB", 512 * 1024**2),
        ("800MB", 800_000_000),
        ("1.5GiB", int(1.5 * 1024**3)),
        ("1000", 1000),
        ("64 kib", 65536),
    ],
)
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "lots", "2 GiBs", "-1GB"])
def test_bad_sizes(text):
    with pytest.raises(UserError, match="2GiB"):
        parse_size(text)


def test_formats_have_units():
    assert format_bytes(1536) == "1.50 KiB"
    assert format_bytes(None) == "N/A"
    assert format_seconds(0.000150) == "150 µs"
    assert format_seconds(2.5) == "2.50 s"


@pytest.mark.parametrize(
    "seconds, text",
    [
        (1e-3, "1.00 ms"),  # the table mixed "1 ms", "1.8 ms", "1.87 ms", "3.9 µs"
        (1.8e-3, "1.80 ms"),
        (1.87e-3, "1.87 ms"),
        (3.9e-6, "3.90 µs"),
        (250e-9, "250 ns"),
        (0.5e-9, "0.500 ns"),
        (12, "12.0 s"),
        (999.6e-6, "1.00 ms"),  # rounding up moves to the next unit, never "1000 µs"
        (1234, "1,234 s"),
        (0, "0 s"),
        (-2e-3, "-2.00 ms"),
        (None, "N/A"),
    ],
)
def test_seconds_keep_three_significant_digits(seconds, text):
    assert format_seconds(seconds) == text


@pytest.mark.parametrize(
    "rate, text",
    [(18_500, "18.5k"), (250_900, "251k"), (999.6, "1.00k"), (0.5, "0.500"), (1.2e6, "1.20M")],
)
def test_rates_keep_three_significant_digits(rate, text):
    assert format_rate(rate) == text


@pytest.mark.parametrize(
    "n, text",
    [
        (512, "512 B"),
        (1024, "1.00 KiB"),
        (1000 * 1024, "0.977 MiB"),  # not "1000 KiB": three digits, one unit up
        (18.5 * 1024**2, "18.5 MiB"),
        (5 * 1024**3, "5.00 GiB"),
    ],
)
def test_bytes_keep_three_significant_digits(n, text):
    assert format_bytes(n) == text


def test_other_figures():
    assert significant(0.0123) == "0.0123"
    assert significant(100) == "100"
    assert format_count(1600.4, "x") == "1,600x"
    assert format_count(0.4943, "x") == "0.494x"
    assert format_count(None) == ""
