"""Reading the JSON records a stage may recompute: a missing or broken file is simply absent."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgesub.errors import EdgesubError


def read_json_or_empty(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``, or ``{}`` when the file is missing, unreadable, not JSON or
    not an object: for caches and records whose absence only means "compute it again"."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):  # ValueError covers UnicodeDecodeError and JSONDecodeError
        return {}
    return data if isinstance(data, dict) else {}


def dumps_strict(obj: Any, what: str, default: Callable[[Any], Any], indent: int = 2) -> str:
    """JSON text of ``obj``; NaN or infinity (not JSON, though Python writes them) is an error
    naming the field, so no record edgesub writes or prints can hold them."""
    try:
        return json.dumps(obj, indent=indent, default=default, allow_nan=False)
    except ValueError as exc:
        where = non_finite_path(obj)
        if where is None and "out of range float" not in str(exc).lower():
            raise
        raise EdgesubError(
            f"cannot write {what}: {where or 'a value'} is not a finite number (JSON has no "
            "NaN or infinity)"
        ) from None


def loads_finite(text: str) -> Any:
    """``json.loads`` that refuses NaN, Infinity and numbers too large for a float (Python's
    reader accepts all three), so a record read back holds finite numbers only."""
    return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a finite number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is not a finite number (too large for a float)")
    return value


def non_finite_path(obj: Any, where: str = "") -> str | None:
    """The path (``records[0].energy_mj``) of the first NaN or infinite float in nested
    dicts and lists, else None."""
    if isinstance(obj, float):
        return None if math.isfinite(obj) else where or "value"
    if isinstance(obj, dict):
        items = [(f"{where}.{key}" if where else str(key), value) for key, value in obj.items()]
    elif isinstance(obj, list | tuple):
        items = [(f"{where}[{n}]", value) for n, value in enumerate(obj)]
    else:
        return None
    return next((p for p in (non_finite_path(v, k) for k, v in items) if p), None)
