"""Bundle READMEs: Markdown templates (package data) filled with the bundle's own facts."""

from __future__ import annotations

from importlib import resources
from string import Template


def render(template: str, values: dict[str, object]) -> str:
    """``templates/<template>`` with ``$name`` placeholders filled (a missing one is a bug)."""
    text = resources.files("edgesub.package").joinpath("templates", template).read_text("utf-8")
    return Template(text).substitute({key: str(value) for key, value in values.items()})


def numbers(values: list[float]) -> str:
    """Floats as a short comma-separated list (metadata mean/std, for prose and code)."""
    return ", ".join(f"{v:.4g}" for v in values)
