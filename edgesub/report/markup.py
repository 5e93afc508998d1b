"""HTML building blocks of the report: escaping, badges, tables and sections.

Every string from a run directory goes through :func:`esc`: artifact and run names are user
input.
"""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path
from typing import Any

BADGE_CLASS = {
    "measured": "measured",
    "estimated": "estimated",
    "unavailable": "muted",
    "fits": "good",
    "exceeds RAM": "bad",
    "passed": "good",
    "FAILED": "bad",
    "within budget": "good",
    "outside budget": "bad",
    "Pareto-optimal": "good",
    "recommended": "good",
    "slower than fp32": "bad",
}


def esc(value: Any) -> str:
    return escape(str(value), quote=True)


def badge(label: str, kind: str | None = None) -> str:
    css = BADGE_CLASS.get(kind or label, "muted")
    return f'<span class="badge {css}">{esc(label)}</span>'


def table(headers: list[tuple[str, str]], rows: list[str], css: str = "") -> str:
    """A table whose header cells carry a class (``num`` right-aligns numeric columns)."""
    head = "".join(f"<th{css_class(cls)}>{esc(text)}</th>" for text, cls in headers)
    body = "\n".join(rows)
    return (
        f'<div class="table-wrap"><table{css_class(css)}>\n<thead><tr>{head}</tr></thead>\n'
        f"<tbody>\n{body}\n</tbody></table></div>"
    )


def css_class(css: str) -> str:
    return f' class="{css}"' if css else ""


def section(anchor: str, title: str, content: str, intro: str = "") -> str:
    intro_html = f'<p class="intro">{intro}</p>' if intro else ""
    return f'<section id="{anchor}">\n<h2>{esc(title)}</h2>{intro_html}\n{content}\n</section>'


def figure(path: Path, caption: str) -> str:
    """A PNG embedded as a data URI (the page has no external assets) with its caption."""
    payload = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{payload}" alt="{esc(caption)}">'
        f"<figcaption>{esc(caption)}</figcaption></figure>"
    )
