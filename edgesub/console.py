"""Where users see output: logs and progress on stderr, data (tables, JSON) on stdout."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.console import Console

T = TypeVar("T")

err = Console(stderr=True, highlight=False)
# Piped output (logs, CI) gets wide tables instead of rich's 80-column default.
out = Console(highlight=False, width=None if sys.stdout.isatty() else 200)


@contextlib.contextmanager
def stage(name: str, timings: dict[str, float], quiet: bool = False) -> Iterator[None]:
    """Time a pipeline stage into ``timings`` and print its wall time when it finishes."""
    if not quiet:
        err.print(f"[bold]▶ {name}[/bold]")
    start = time.perf_counter()
    yield
    timings[name] = round(time.perf_counter() - start, 2)
    if not quiet:
        err.print(f"[green]✓ {name}[/green] {timings[name]:.1f} s")


def note(message: str, quiet: bool = False) -> None:
    """A one-line result of a stage, shown under its name."""
    if not quiet:
        err.print(f"  {message}", markup=False, soft_wrap=True)


def printable(text: str) -> str:
    """``text`` with each non-printable character (line breaks, controls) escaped, so a file
    name cannot split a line of output or act on the terminal."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def transient_track(
    items: Iterable[T], label: str, *, total: int | None = None, enabled: bool = True
) -> Iterable[T]:
    """A progress bar that vanishes when done, on a terminal only: in a log or a pipe there is
    nothing to erase, and rich would leave an empty line behind instead."""
    if not enabled or not err.is_terminal:
        return items
    from rich.progress import track

    return track(items, total=total, description=label, transient=True, console=err)
