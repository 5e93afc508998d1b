"""Class labels as they travel: one per line in labels.txt and in the Android metadata.

A label holding a line break (or any control character) would split into two lines there and
shift every later class onto the wrong name, so labels are refused where they enter edgesub, and
a labels file is parsed back into names the way its broadest reader would split it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from edgesub.errors import DataError

# Control characters, and the line/paragraph separators str.splitlines breaks on as well.
_BREAKING = {"Cc", "Zl", "Zp"}
_NAMES = {"\n": "a newline", "\r": "a carriage return", "\t": "a tab", "\x00": "a NUL byte"}


def check_label(label: object, where: str) -> str:
    """``label`` if it can stand on one line of a labels file; else a DataError naming it."""
    if not isinstance(label, str):
        raise DataError(f"{where}: label {label!r} is not a string")
    if not label.strip():
        raise DataError(f"{where}: label {label!r} is blank")
    bad = next((c for c in label if unicodedata.category(c) in _BREAKING), None)
    if bad is not None:
        kind = _NAMES.get(bad, f"the control character {bad!r}")
        raise DataError(
            f"{where}: label {label!r} contains {kind}; labels.txt holds one label per line, "
            "so rename it"
        )
    return label


def check_labels(labels: Iterable[object], where: str) -> list[str]:
    """Every label checked with :func:`check_label`."""
    return [check_label(label, where) for label in labels]


def labels_text(labels: Iterable[str]) -> str:
    """labels.txt: one label per line."""
    return "".join(f"{label}\n" for label in labels)


def parse_labels_text(text: str) -> list[str]:
    """The names a client reads from labels.txt (split at every line break any reader uses)."""
    return text.splitlines()
