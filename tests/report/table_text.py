"""Rich tables as plain text at a fixed width without colour: what golden files compare."""

import io

from rich.console import Console
from rich.table import Table


def render_text(table: Table, width: int = 200) -> str:
    """Plain text of ``table`` at a fixed width without colour, for golden files and assertions."""
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width,
        color_system=None,
        force_terminal=False,
        no_color=True,
        highlight=False,
        emoji=False,
        legacy_windows=False,
    )
    console.print(table)
    return buffer.getvalue()
