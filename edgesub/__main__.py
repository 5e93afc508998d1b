"""``python -m edgesub``: what torchrun starts in each data-parallel worker."""

from edgesub.cli import main

main()
