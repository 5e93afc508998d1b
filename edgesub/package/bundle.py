"""Writing a bundle all at once: a staging folder beside ``--out``, renamed into place at the end.

A failure or Ctrl-C part-way leaves nothing at ``--out`` (the staging folder is removed), so a
folder there is always a complete bundle. Checksums and the tarball are deterministic: the same
files give the same SHA256SUMS and byte-identical .tar.gz.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

from edgesub.atomic import current_umask, os_reason
from edgesub.digest import file_sha256
from edgesub.errors import EdgesubError

CHECKSUMS = "SHA256SUMS"


@contextlib.contextmanager
def staged_folder(out: Path) -> Iterator[Path]:
    """Yield an empty staging folder; on success it becomes ``out``, on any failure it goes."""
    out = Path(out)
    if out.exists():
        raise EdgesubError(f"{out} already exists; choose another --out or remove it")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    except OSError as exc:
        raise EdgesubError(f"cannot write {out}: {os_reason(exc, out.parent)}") from None
    try:
        yield staging
        os.chmod(staging, 0o777 & ~current_umask())  # mkdtemp makes 0700; give what mkdir would
        if out.exists():  # appeared while we worked: never replace someone's folder
            raise EdgesubError(f"{out} appeared while packaging; nothing was written")
        os.rename(staging, out)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise EdgesubError(f"cannot write {out}: {os_reason(exc, out.parent)}") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def bundle_files(folder: Path) -> list[Path]:
    """Every file under ``folder``, as sorted relative paths."""
    return sorted(p.relative_to(folder) for p in Path(folder).rglob("*") if p.is_file())


def write_checksums(folder: Path) -> Path:
    """``SHA256SUMS`` for every other file, in the format ``sha256sum -c`` checks."""
    lines = [
        f"{file_sha256(folder / name)}  {name.as_posix()}"
        for name in bundle_files(folder)
        if name.as_posix() != CHECKSUMS
    ]
    path = Path(folder) / CHECKSUMS
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_tarball(folder: Path, path: Path, executables: frozenset[str] = frozenset()) -> Path:
    """``folder`` as a .tar.gz whose top entry is the folder's name; fixed owners and times.

    ``executables`` (relative names) get mode 0755, everything else 0644.
    """
    folder = Path(folder)
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w", format=tarfile.PAX_FORMAT) as archive:
        archive.addfile(_info(folder.name, tarfile.DIRTYPE, 0o755))
        for name in bundle_files(folder):
            member = _info(f"{folder.name}/{name.as_posix()}", tarfile.REGTYPE, 0o644)
            if name.as_posix() in executables:
                member.mode = 0o755
            member.size = (folder / name).stat().st_size
            with open(folder / name, "rb") as fh:
                archive.addfile(member, fh)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        gz.write(data.getvalue())
    return Path(path)


def _info(name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = kind, mode, 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info
