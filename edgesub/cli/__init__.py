"""The ``edgesub`` command line: thin wrappers over :mod:`edgesub.pipeline` and the stages.

One module per group of commands; importing them registers the commands on :data:`cli`.
"""

from __future__ import annotations

from edgesub.cli import artifacts, devices, package, stages  # noqa: F401  (registers the commands)
from edgesub.cli.app import cli

__all__ = ["cli", "main"]


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="edgesub")
