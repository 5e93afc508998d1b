"""A new artifact set is written beside the old one and swapped in only when complete.

Each convert writes into ``.edgesub-staging-<pid>-*`` inside the output folder; the old
``manifest.json`` and files stay valid until every new file is verified. The swap then renames
the files into place, the manifest last, after a ``.commit`` marker that lets the next convert
finish a swap a kill interrupted. Staging folders of dead processes are removed.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from edgesub.atomic import atomic_write_text, process_alive
from edgesub.converters.manifest import MANIFEST_NAME
from edgesub.errors import EdgesubError
from edgesub.interrupts import blocked

_PREFIX = ".edgesub-staging-"
_PATTERN = re.compile(re.escape(_PREFIX) + r"(\d+)-")
COMMIT_MARKER = ".commit"


@contextlib.contextmanager
def staged_output(out_dir: Path) -> Iterator[Path]:
    """Yield an empty staging folder in ``out_dir``; on success move its files into
    ``out_dir`` (manifest last); on any failure delete it and leave ``out_dir`` as it was."""
    recover(out_dir)
    try:
        stage = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-", dir=out_dir))
    except OSError as exc:
        raise EdgesubError(f"cannot write artifacts to {out_dir}: {exc.strerror or exc}") from None
    try:
        yield stage
        with blocked():
            atomic_write_text(stage / COMMIT_MARKER, "")
            _move_into_place(stage, out_dir)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def recover(out_dir: Path) -> None:
    """Finish swaps a kill interrupted after their commit marker; drop other dead stagings."""
    for stage in sorted(Path(out_dir).glob(f"{_PREFIX}*")):
        match = _PATTERN.match(stage.name)
        if not match or not stage.is_dir() or stage.is_symlink():
            continue
        if int(match.group(1)) != os.getpid() and process_alive(int(match.group(1))):
            continue
        if (stage / COMMIT_MARKER).is_file():
            _move_into_place(stage, Path(out_dir))
        shutil.rmtree(stage, ignore_errors=True)


def _move_into_place(stage: Path, out_dir: Path) -> None:
    files = [p for p in stage.iterdir() if p.is_file() and p.name != COMMIT_MARKER]
    for path in sorted(files, key=lambda p: p.name == MANIFEST_NAME):  # the manifest last
        os.replace(path, out_dir / path.name)
