"""Building a service's command from its settings model.

Every field of the settings model becomes a flag (``node_ttl`` -> ``--node-ttl``) whose
default is "not given", so pydantic-settings fills it from ``FILEFLEET_NODE_TTL`` or the
model's default: flags win over the environment, and defaults live only in the model.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from pydantic import ValidationError

from filefleet.cli.common import fail
from filefleet.runtime.settings import Settings

S = TypeVar("S", bound=Settings)


def flag_name(field: str) -> str:
    return "--" + field.replace("_", "-")


def settings_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = err.get("loc", ())
        where = flag_name(str(loc[0])) if loc else ""
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        if err.get("type") == "missing":
            msg = "is required"
        parts.append(f"{where} {msg}".strip())
    return "; ".join(parts)


def build_settings(model: type[S], given: dict[str, Any]) -> S:
    try:
        return model(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        fail(settings_error(exc))


def settings_command(
    app: typer.Typer, name: str, model: type[S], run: Callable[[S], None], help: str
) -> None:
    """Register ``filefleet NAME`` with one flag per field of ``model``."""
    params = []
    for field_name, field in model.model_fields.items():
        annotation = field.annotation
        is_bool = annotation is bool
        option = typer.Option(
            None,
            f"{flag_name(field_name)}/--no-{field_name.replace('_', '-')}"
            if is_bool
            else flag_name(field_name),
            help=field.description,
            show_default=False,
        )
        params.append(
            inspect.Parameter(
                field_name,
                inspect.Parameter.KEYWORD_ONLY,
                default=option,
                annotation=bool | None if is_bool else str | None,
            )
        )

    def command(**given: Any) -> None:
        run(build_settings(model, given))

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__doc__ = help
    app.command(name, help=help)(command)
