"""The upload page (``GET /``): the template filled with what the page must know (pure).

The page knows the largest upload and the expiry choices so that it can refuse a file that
is too large before sending a byte, and offer only the expiries the server accepts.
"""

from __future__ import annotations

import html
from string import Template

from filefleet.core.units import format_duration, format_size

# (value sent, label shown); those longer than --max-expiry are left out.
EXPIRY_CHOICES = (
    (3600, "1 hour"),
    (86400, "1 day"),
    (7 * 86400, "7 days"),
    (30 * 86400, "30 days"),
)


def expiry_options(default_expiry: float, max_expiry: float) -> str:
    """``<option>``s for the expiry choices up to ``max_expiry``, ``default_expiry`` selected
    (added as a choice of its own when it is not one of the usual ones)."""
    choices: list[tuple[float, str]] = [(s, lbl) for s, lbl in EXPIRY_CHOICES if s <= max_expiry]
    if all(s != default_expiry for s, _ in choices):
        choices.append((default_expiry, format_duration(default_expiry)))
        choices.sort()
    return "\n".join(
        f'          <option value="{html.escape(format_duration(s))}"'
        f"{' selected' if s == default_expiry else ''}>{html.escape(label)}</option>"
        for s, label in choices
    )


def index_page(
    template: str, *, public_url: str, max_upload: int, default_expiry: float, max_expiry: float
) -> str:
    return Template(template).safe_substitute(
        public_url=html.escape(public_url),
        max_upload=str(max_upload),
        max_upload_text=html.escape(format_size(max_upload)),
        expiry_options=expiry_options(default_expiry, max_expiry),
    )
