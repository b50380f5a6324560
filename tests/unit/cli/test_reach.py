"""Which frontend a user's command talks to, what a link is, and the one line a command
prints when nothing answers."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import typer

from filefleet.cli.delete import delete_link
from filefleet.cli.get import download_link, origin
from filefleet.cli.reach import CONTROLLER_HINT, SERVER_HINT, unreachable, why
from filefleet.cli.target import DEFAULT_SERVER, find_frontend
from filefleet.core.errors import ConnectTimedOut, Unauthorized, Unavailable, Unreachable

FILE_ID = "q0Xb4m1cJ8kZV3PzU2n7YtAa"
TOKEN = "Nx5RrDxkEAtOR-sEOymir_t1kFVrr57x"


def cluster_json(data: Path, frontend: str = "http://127.0.0.1:9000/") -> None:
    data.mkdir(parents=True, exist_ok=True)
    services = {"frontend": {"url": frontend, "pid": 1}}
    (data / "cluster.json").write_text(json.dumps({"secret": "s", "services": services}))


def test_the_frontend_comes_from_the_flag_then_cluster_json_then_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert find_frontend(None, None) == DEFAULT_SERVER  # no local cluster at all
    cluster_json(tmp_path / "xdg" / "filefleet")
    assert find_frontend(None, None) == "http://127.0.0.1:9000"  # the running local cluster
    cluster_json(tmp_path / "other", "http://127.0.0.1:9100")
    assert find_frontend(None, tmp_path / "other") == "http://127.0.0.1:9100"
    assert find_frontend("http://files.example.org/", tmp_path / "other") == (
        "http://files.example.org"
    )


def test_a_data_dir_without_a_cluster_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(typer.Exit) as ended:
        find_frontend(None, tmp_path / "empty")
    assert ended.value.exit_code == 2
    err = capsys.readouterr().err
    assert "cluster.json" in err and "--server URL" in err


def test_links_and_bare_ids(tmp_path: Path) -> None:
    cluster_json(tmp_path)
    link = f"https://files.example.org/download/{FILE_ID}"
    assert download_link(link, None, tmp_path) == link  # a link names its own frontend
    assert download_link(FILE_ID, None, tmp_path) == f"http://127.0.0.1:9000/download/{FILE_ID}"
    assert download_link(FILE_ID, "http://h:1", None) == f"http://h:1/download/{FILE_ID}"
    assert delete_link(f"{FILE_ID}/{TOKEN}", None, tmp_path) == (
        f"http://127.0.0.1:9000/delete/{FILE_ID}/{TOKEN}"
    )
    assert origin(link) == "https://files.example.org"
    for wrong in ("../etc/passwd", "http://h/elsewhere", "short"):
        with pytest.raises(typer.Exit):
            download_link(wrong, None, tmp_path)
        with pytest.raises(typer.Exit):
            delete_link(wrong, None, tmp_path)


def test_the_one_line_says_where_and_what_to_do() -> None:
    refused = Unreachable("GET http://127.0.0.1:1/x: ConnectionRefusedError: [Errno 111] ...")
    refused.__cause__ = ConnectionRefusedError(111, "Connection refused")
    line = unreachable("http://127.0.0.1:1", refused, SERVER_HINT)
    assert line.startswith("nothing answers at http://127.0.0.1:1 (connection refused); ")
    assert "--server URL" in line and "\n" not in line
    unknown = Unreachable("GET http://nowhere.invalid/: gaierror")
    unknown.__cause__ = socket.gaierror(-2, "Name or service not known")
    assert why(unknown) == "unknown host"
    slow = ConnectTimedOut("GET http://10.0.0.1/: no connection within 1.5s")
    assert "(no connection within 1.5s)" in unreachable("http://10.0.0.1", slow, CONTROLLER_HINT)
    assert "--secret" in unreachable("http://c", Unauthorized("wrong secret"), CONTROLLER_HINT)
    answered = unreachable("http://c", Unavailable("metadata store unavailable"), CONTROLLER_HINT)
    assert answered == "cannot read the cluster at http://c: metadata store unavailable"
