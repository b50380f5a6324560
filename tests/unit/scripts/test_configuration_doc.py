"""Every setting is documented: docs/configuration.md is generated from the models."""

from pathlib import Path

from scripts.configuration_doc import SERVICES, render

DOC = Path(__file__).resolve().parents[3] / "docs" / "configuration.md"


def test_configuration_doc_is_current() -> None:
    assert DOC.read_text() == render(), (
        "docs/configuration.md is out of date: run "
        "`python -m scripts.configuration_doc > docs/configuration.md`"
    )


def test_every_field_has_a_description() -> None:
    for title, model in SERVICES:
        for name, field in model.model_fields.items():
            assert field.description, f"{title}: --{name} has no description"
