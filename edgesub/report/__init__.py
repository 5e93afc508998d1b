"""Reports of a run: terminal tables, PNG plots and one self-contained HTML page.

Importing this package stays light: names are resolved on first use (as in
:mod:`edgesub.profile`), so ``edgesub.report.lines`` does not load the HTML writer, and
matplotlib is imported only when plots are drawn.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {"write_report": "edgesub.report.html"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'edgesub.report' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
