import pytest

from filefleet.core.errors import RangeNotSatisfiable
from filefleet.frontend.ranges import ByteRange, content_disposition, parse_range


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 10, None),
        ("bytes=0-4", 10, ByteRange(0, 4)),
        ("bytes=5-", 10, ByteRange(5, 9)),
        ("bytes=-3", 10, ByteRange(7, 9)),
        ("bytes=-30", 10, ByteRange(0, 9)),
        ("bytes=2-100", 10, ByteRange(2, 9)),
        ("bytes=0-1,4-5", 10, None),
        ("items=0-1", 10, None),
    ],
)
def test_parse_range(header: str | None, size: int, expected: ByteRange | None) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(
    ("header", "size"), [("bytes=10-", 10), ("bytes=5-2", 10), ("bytes=-0", 10), ("bytes=0-", 0)]
)
def test_unsatisfiable(header: str, size: int) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, size)


def test_content_disposition_encodes_any_name() -> None:
    header = content_disposition('résumé "final";.pdf')
    assert header.startswith('attachment; filename="r_sum_ _final__.pdf"')
    assert "filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22%3B.pdf" in header
    assert "\n" not in content_disposition("a\nb")
