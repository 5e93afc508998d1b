"""``--data SPEC``: one argument naming a dataset the way users have it.

A bundled name (``digits``), ``csv:FILE`` / ``jsonl:FILE`` (text and label columns),
``npy:DIR`` (x.npy, y.npy), ``folder:DIR`` or any existing folder (one sub-folder of images per
class), or a ``.csv`` / ``.jsonl`` file by its suffix.
"""

from __future__ import annotations

from pathlib import Path

from edgesub.errors import ConfigError

PREFIXES = {"csv:": "csv_text", "jsonl:": "jsonl_text", "npy:": "npy", "folder:": "image_folder"}
SUFFIXES = {".csv": "csv_text", ".jsonl": "jsonl_text"}


def data_overrides(spec: str) -> dict[str, str]:
    """The ``data.name`` / ``data.path`` overrides ``spec`` stands for."""
    if not spec.strip():
        raise ConfigError("--data needs a dataset name or path")
    for prefix, name in PREFIXES.items():
        if spec.startswith(prefix):
            return {"data.name": name, "data.path": spec[len(prefix) :]}
    path = Path(spec)
    if path.suffix.lower() in SUFFIXES:
        return {"data.name": SUFFIXES[path.suffix.lower()], "data.path": spec}
    if path.is_dir():
        return {"data.name": "image_folder", "data.path": spec}
    return {"data.name": spec}
