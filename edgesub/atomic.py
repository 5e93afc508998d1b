"""Atomic file writes: a temp file in the target folder, then ``os.replace``.

A crash, Ctrl-C or full disk leaves either the old file or nothing — never half an artifact.
Temp names carry the writer's PID (``.<name>.<pid>.<random>.tmp``), so the next successful
write into a folder removes those a killed process left behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edgesub.errors import EdgesubError
from edgesub.jsonfile import dumps_strict


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success rename it onto ``path``, else delete it.

    Use for writers that want a filename (torch, onnx, safetensors, matplotlib).
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=target.parent
        )
    except OSError as exc:
        raise EdgesubError(f"cannot write {target}: {os_reason(exc, target.parent)}") from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600; give what open() would
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise EdgesubError(f"cannot write {target}: {os_reason(exc, target.parent)}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    remove_stale_temps(target.parent)


_TEMP_NAME = re.compile(r"^\..+\.(\d+)\.[A-Za-z0-9_]+\.tmp$")


def remove_stale_temps(folder: Path) -> list[Path]:
    """Delete temp files of this module's pattern whose writer process is gone."""
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        match = _TEMP_NAME.match(name)
        if match and not process_alive(int(match.group(1))):
            with contextlib.suppress(OSError):
                (folder / name).unlink()
                removed.append(folder / name)
    return removed


def process_alive(pid: int) -> bool:
    """Whether a process with this PID exists on this machine (ours counts as alive)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    except OverflowError:
        return False
    return True


def os_reason(exc: OSError, folder: Path) -> str:
    """Why a write failed, in words; a full disk says how much room there is and what to do."""
    if exc.errno == errno.ENOSPC:
        try:
            free = f" ({shutil.disk_usage(folder).free / 1e6:.1f} MB free)"
        except OSError:
            free = ""
        return f"no space left on device{free}; free some space or choose another folder"
    return exc.strerror or str(exc)


def current_umask() -> int:
    """The process umask (reading it means setting it, so it is set straight back)."""
    current = os.umask(0)
    os.umask(current)
    return current


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as JSON; NaN or infinity is refused (naming it) before anything is written."""
    return atomic_write_text(path, dumps_strict(obj, str(path), default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    """Serialise numpy scalars/arrays and paths that stage summaries carry."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
