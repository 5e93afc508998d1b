"""Content hashes of files: cache keys (teacher → features) and artifact checksums."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks so large artifacts never load whole."""
    digest = hashlib.sha256()
    _update(digest, path)
    return digest.hexdigest()


def folder_sha256(folder: Path) -> str:
    """Hex SHA-256 of every file under ``folder`` (a model saved as a folder): each relative
    path, size and content in sorted path order, so adding, renaming or editing any file
    changes it. Symlinks to files (a Hugging Face cache snapshot) are followed."""
    digest = hashlib.sha256()
    files = sorted((p.relative_to(folder).as_posix(), p) for p in folder.rglob("*") if p.is_file())
    for name, path in files:
        digest.update(f"{name}\0{path.stat().st_size}\0".encode())
        _update(digest, path)
    return digest.hexdigest()


def _update(digest: Any, path: Path) -> None:
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
