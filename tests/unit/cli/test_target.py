"""Finding the cluster an operator's command talks to: flags, environment, cluster.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer

from filefleet.cli.target import Target, find_cluster

MANIFEST = {
    "secret": "from-file",
    "queue": "redis://127.0.0.1:1/0",
    "services": {"controller": {"url": "http://127.0.0.1:9100/", "pid": 1}},
}


def write_manifest(data: Path, manifest: object) -> None:
    data.mkdir(parents=True, exist_ok=True)
    (data / "cluster.json").write_text(json.dumps(manifest))


def test_a_given_controller_needs_no_cluster_json(tmp_path: Path) -> None:
    target = find_cluster(" http://a:1/, http://b:2 ", tmp_path / "nothing", "s")
    assert target == Target(["http://a:1", "http://b:2"], "s", None)
    assert target.where == "http://a:1,http://b:2"


def test_cluster_json_gives_controller_secret_and_queue(tmp_path: Path) -> None:
    write_manifest(tmp_path, MANIFEST)
    assert find_cluster(None, tmp_path, None) == Target(
        ["http://127.0.0.1:9100"], "from-file", "redis://127.0.0.1:1/0"
    )
    # a secret given as a flag or in the environment wins over the file's
    assert find_cluster(None, tmp_path, "given").secret == "given"


def test_the_default_data_dir_is_under_xdg_data_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    write_manifest(tmp_path / "filefleet", MANIFEST)
    assert find_cluster(None, None, None).urls == ["http://127.0.0.1:9100"]


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        (None, "no "),
        ("{not json", "is not valid JSON"),
        ([1, 2], "is not a JSON object"),
        ({"services": {}}, "names no controller"),
    ],
)
def test_no_usable_cluster_json_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], manifest: object, message: str
) -> None:
    if isinstance(manifest, str):
        (tmp_path / "cluster.json").write_text(manifest)
    elif manifest is not None:
        write_manifest(tmp_path, manifest)
    with pytest.raises(typer.Exit) as ended:
        find_cluster(None, tmp_path, None)
    assert ended.value.exit_code == 2
    assert message in capsys.readouterr().err
