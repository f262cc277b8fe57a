"""Sizes parse the way people write them; bad ones say how to write them."""

import pytest

from workbench.errors import UserError
from workbench.units import format_bytes, format_seconds, parse_size


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
    assert format_bytes(1536) == "1.5 KiB"
    assert format_bytes(None) == "N/A"
    assert format_seconds(0.000150) == "150 µs"
    assert format_seconds(2.5) == "2.50 s"
