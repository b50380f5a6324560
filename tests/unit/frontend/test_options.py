import pytest

from filefleet.core.errors import InvalidInput
from filefleet.core.filenames import clean_name
from filefleet.frontend.options import clean_content_type, parse_flag, parse_options

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
        ({"expires": "31d"}, "^expires: .*longer than the maximum of 30d"),
        ({"expires": "soon"}, "^expires: 'soon' is not a duration"),
        ({"expires": "abc"}, "^expires: 'abc' is not a duration"),
        ({"expires": "-5s"}, "^expires: '-5s' is not a duration"),
        ({"expires": "10x"}, "^expires: '10x' is not a duration"),
        ({"expires": "0"}, "^expires: must be positive"),
        ({"max_downloads": "0"}, "^max_downloads: must be at least 1"),
        ({"max_downloads": "-2"}, "^max_downloads: must be at least 1"),
        ({"max_downloads": "many"}, "^max_downloads: must be a whole number"),
    ],
)
def test_bad_options_are_400_naming_the_option(fields: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        opts(**fields)


@pytest.mark.parametrize(("raw", "value"), [("1", True), ("true", True), ("0", False), ("", False)])
def test_flags(raw: str, value: bool) -> None:
    assert parse_flag("bundle", raw) is value


def test_a_bad_flag_names_its_field() -> None:
    with pytest.raises(InvalidInput, match=r"^dl: must be 1 or 0"):
        parse_flag("dl", "maybe")


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
