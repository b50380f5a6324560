"""Every ``FILEFLEET_*`` variable docs/configuration.md promises is honoured: each one is
set alone, and the setting (or the client command's option) it names takes its value.
For ``filefleet up`` the value must also reach the child it is passed to."""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from filefleet.cli.settings_command import build_settings
from filefleet.runtime.settings import MiB, Settings, UpSettings
from filefleet.runtime.supervisor import LocalCluster
from scripts.configuration_doc import SERVICES, _kind, client_commands, options

DOC = Path(__file__).resolve().parents[3] / "docs" / "configuration.md"
TITLE = re.compile(r"^#+ `(filefleet [a-z ]+)`")
ROW = re.compile(r"^\| ((?:`-[a-z-]+`(?:, )?)+) \| `(FILEFLEET_[A-Z_]+)` \|")


def documented() -> dict[str, dict[str, str]]:
    """command title -> {flag: environment variable}, as the page lists them."""
    found: dict[str, dict[str, str]] = {}
    title = ""
    for line in DOC.read_text().splitlines():
        if heading := TITLE.match(line):
            title = heading.group(1)
            found[title] = {}
        elif row := ROW.match(line):
            for flag in re.findall(r"`(-[a-z-]+)`", row.group(1)):
                found[title][flag] = row.group(2)
    return found


def sample(model: type[Settings], name: str) -> tuple[str, Any]:
    """A value for the field, as the environment spells it, and as the setting holds it."""
    field = model.model_fields[name]
    kind = _kind(field)
    if kind == "duration":
        return "3s", 3.0
    if kind == "size":
        return "3MiB", 3 * MiB
    text = str(field.annotation)
    if "bool" in text:
        return ("false", False) if field.default is True else ("true", True)
    if "int" in text:
        return "7", 7
    if "float" in text:
        return "2.5", 2.5
    if "Path" in text:
        return "/tmp/filefleet-sample", Path("/tmp/filefleet-sample")
    return f"sample-{name}", f"sample-{name}"


def service_cases() -> Iterator[tuple[str, type[Settings], str, str]]:
    pages = documented()
    for title, model in SERVICES:
        assert pages.get(title), f"{title} is not in docs/configuration.md"
        for flag, env in pages[title].items():
            if not flag.startswith("--no-"):
                yield title, model, flag, env


# Settings that are given together or not at all.
GO_TOGETHER = {"FILEFLEET_TLS_CERT": "FILEFLEET_TLS_KEY", "FILEFLEET_TLS_KEY": "FILEFLEET_TLS_CERT"}


@pytest.mark.parametrize(("title", "model", "flag", "env"), list(service_cases()))
def test_a_services_variable_sets_its_setting(
    title: str, model: type[Settings], flag: str, env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in [v for v in os.environ if v.startswith("FILEFLEET_")]:
        monkeypatch.delenv(variable)
    name = flag.removeprefix("--").replace("-", "_")
    assert env == "FILEFLEET_" + name.upper()
    given, expected = sample(model, name)
    if env != "FILEFLEET_SECRET":
        monkeypatch.setenv("FILEFLEET_SECRET", "s")  # services refuse to run without one
    if env != "FILEFLEET_DATA":
        monkeypatch.setenv("FILEFLEET_DATA", "/tmp/filefleet-data")  # the node needs one
    if env in GO_TOGETHER:  # one of a pair alone is refused: give the other too
        monkeypatch.setenv(GO_TOGETHER[env], "/tmp/filefleet-other-half")
    monkeypatch.setenv(env, given)
    settings = build_settings(model, {})  # no flag given: as the command line leaves it
    assert getattr(settings, name) == expected, f"{title}: {env}={given}"


# Where `filefleet up` hands each of its own settings on (beyond holding it itself).
UP_CHILD = {
    "host": "frontend",
    "port": "frontend",
    "public_url": "frontend",
    "replicas": "controller",
    "db": "controller",
    "queue": "controller",
}


@pytest.mark.parametrize("flag", [f for f in documented()["filefleet up"] if f.startswith("--")])
def test_ups_variable_reaches_the_child_it_is_for(
    flag: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = flag.removeprefix("--").replace("-", "_")
    env = "FILEFLEET_" + name.upper()
    monkeypatch.setenv("FILEFLEET_DATA", str(tmp_path))
    given = {
        "data": str(tmp_path / "elsewhere"), "host": "127.0.0.2", "port": "8123", "nodes": "2",
        "replicas": "1", "secret": "from-env", "db": "sqlite:////tmp/x.db",
        "queue": "redis://127.0.0.1:1/0", "public_url": "https://files.example.org",
        "log_json": "true", "dedup": "false",
    }.get(name, "3s")  # fmt: skip
    monkeypatch.setenv(env, given)
    settings = build_settings(UpSettings, {})
    cluster = LocalCluster(settings)
    children = {c.name: c.args for c in cluster.plan()}
    if name == "data":
        assert cluster.data == tmp_path / "elsewhere"
    elif name == "secret":
        assert cluster.secret == "from-env"
    elif name == "nodes":
        assert sorted(n for n in children if n.startswith("node-")) == ["node-1", "node-2"]
    elif name == "log_json":
        assert all("--log-json" in args for child, args in children.items() if child != "redis")
    elif name == "dedup":
        assert "--no-dedup" in children["frontend"]
    else:
        targets = [UP_CHILD[name]] if name in UP_CHILD else list(children)
        passed = [c for c in targets if _passes(children[c], flag, given)]
        assert passed, f"{env}={given} reached no child: {children}"


def _passes(args: list[str], flag: str, value: str) -> bool:
    return any(a == flag and b == value for a, b in itertools.pairwise(args))


def client_cases() -> Iterator[tuple[str, str, str]]:
    pages = documented()
    for title, command in client_commands():
        assert pages.get(title) is not None, f"{title} is not in docs/configuration.md"
        for option in options(command):
            if option.envvar:
                yield title, option.opts[-1], str(option.envvar)


ARGUMENTS = {"share": ["f"], "get": ["link"], "delete": ["link"], "drain": ["n"], "forget": ["n"]}


@pytest.mark.parametrize(("title", "flag", "env"), list(client_cases()))
def test_a_client_commands_variable_sets_its_option(
    title: str, flag: str, env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert documented()[title][flag] == env
    assert env == "FILEFLEET_" + flag.removeprefix("--").replace("-", "_").upper()
    command = dict(client_commands())[title]
    option = next(o for o in options(command) if flag in o.opts)
    given = ("0" if option.default else "1") if option.is_flag else "7"
    monkeypatch.setenv(env, given)
    context = command.make_context(title, list(ARGUMENTS.get(title.rsplit(" ", 1)[-1], [])))
    value = context.params[option.name or ""]
    expected: Any = (not option.default) if option.is_flag else option.type.convert("7", None, None)
    assert value == expected, f"{title}: {env}={given} gave {value!r}"


def test_only_the_switches_that_override_a_refusal_skip_the_environment() -> None:
    skipped = {
        (title, o.opts[-1]) for title, c in client_commands() for o in options(c) if not o.envvar
    }
    # --password is a switch to ask on the terminal: the password itself, which a script
    # sets, is FILEFLEET_PASSWORD (cli/password.py).
    assert {flag for _, flag in skipped} == {"--force", "--cancel", "--password"}


def test_the_share_state_directory_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from filefleet.cli.transfer import cache_dir

    monkeypatch.setenv("FILEFLEET_CACHE_DIR", str(tmp_path))
    assert cache_dir() == tmp_path
    assert "FILEFLEET_CACHE_DIR" in DOC.read_text()
