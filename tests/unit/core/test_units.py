import pytest
from hypothesis import given
from hypothesis import strategies as st

from filefleet.core.errors import InvalidInput
from filefleet.core.units import format_duration, format_size, parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("30m", 1800),
        ("12h", 43200),
        ("7d", 604800),
        ("3600", 3600),
        ("500ms", 0.5),
        ("0.5s", 0.5),
        ("1.5h", 5400),
        (" 2s ", 2),
        ("1w", 604800),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["", "abc", "5x", "-1s", "1 day", "s", "1e9", "inf", "nan"])
def test_parse_duration_rejects(bad: str) -> None:
    with pytest.raises(InvalidInput, match="duration"):
        parse_duration(bad)


@given(st.integers(min_value=0, max_value=10**7))
def test_format_then_parse_round_trips(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("4MiB", 4 * 1024**2),
        ("10GiB", 10 * 1024**3),
        ("500k", 500_000),
        ("1048576", 1048576),
        ("1.5KiB", 1536),
        ("7b", 7),
    ],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("bad", ["", "MiB", "-4MiB", "4 parsecs"])
def test_parse_size_rejects(bad: str) -> None:
    with pytest.raises(InvalidInput):
        parse_size(bad)


def test_format_size() -> None:
    assert format_size(512) == "512 B"
    assert format_size(4 * 1024**2) == "4.0 MiB"
