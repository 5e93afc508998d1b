"""Reading the JSON records a stage may recompute: a missing or broken file is simply absent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_json_or_empty(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``, or ``{}`` when the file is missing, unreadable, not JSON or
    not an object: for caches and records whose absence only means "compute it again"."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):  # ValueError covers UnicodeDecodeError and JSONDecodeError
        return {}
    return data if isinstance(data, dict) else {}
