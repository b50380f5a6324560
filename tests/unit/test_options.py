import pytest

from filefleet.core.errors import InvalidInput
from filefleet.core.filenames import clean_name
from filefleet.frontend.options import clean_content_type, parse_options

DAY = 86400.0


def opts(**fields: str) -> object:
    return parse_options(
        fields, name="a.txt", content_type="text/plain", default_expiry=7 * DAY, max_expiry=30 * DAY
    )


def test_defaults() -> None:
    o = parse_options({}, name=None, content_type=None, default_expiry=7 * DAY, max_expiry=30 * DAY)
    assert (o.name, o.content_type, o.expires, o.max_downloads) == (
        "file",
        "application/octet-stream",
        7 * DAY,
        None,
    )


def test_valid_options() -> None:
    o = parse_options(
        {"expires": "12h", "max_downloads": "3"},
        name="x",
        content_type=None,
        default_expiry=DAY,
        max_expiry=30 * DAY,
    )
    assert o.expires == 12 * 3600 and o.max_downloads == 3


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"expires": "31d"}, "longer than the maximum of 30d"),
        ({"expires": "soon"}, "invalid duration"),
        ({"expires": "0"}, "must be positive"),
        ({"max_downloads": "0"}, "at least 1"),
        ({"max_downloads": "many"}, "whole number"),
    ],
)
def test_bad_options_are_400_with_a_message(fields: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        opts(**fields)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\x\\y.txt", "y.txt"),
        ("a\x00b", "a_b"),
        ("..", "file"),
        ("", "file"),
        ("ok name.tar.gz", "ok name.tar.gz"),
    ],
)
def test_clean_name(raw: str, clean: str) -> None:
    assert clean_name(raw) == clean


def test_clean_content_type() -> None:
    assert clean_content_type("text/html; charset=utf-8") == "text/html"
    assert clean_content_type("multipart/form-data; boundary=x") == "application/octet-stream"
    assert clean_content_type("<script>") == "application/octet-stream"
