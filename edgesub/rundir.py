"""The run-directory contract (docs/run-directory.md): where each stage reads and writes."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shlex
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from edgesub.atomic import atomic_write_json, process_alive
from edgesub.errors import RunDirError
from edgesub.jsonfile import read_json_or_empty

MARKER = ".edgesub-run"
MARKER_VERSION = 1
_MARKER_MAX_BYTES = 4096  # a marker is a few dozen bytes; a larger file is not ours
# torchrun workers of a command that holds the run's lock: the launcher sets this to the lock's
# path, and the workers then write the run under their parent's lock.
INHERITED_LOCK_ENV = "EDGESUB_INHERITED_RUN_LOCK"
_held: dict[Path, list[int]] = {}  # lock path → [fd, depth, exclusive]: locks nest in a process


@dataclass(frozen=True)
class RunDir:
    """Paths of one run; stages can be run alone, resumed and compared through these files."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def config(self) -> Path:
        return self.root / "config.toml"

    @property
    def teacher(self) -> Path:
        return self.root / "teacher.safetensors"

    @property
    def teacher_json(self) -> Path:
        return self.root / "teacher.json"

    @property
    def features(self) -> Path:
        return self.root / "features"

    @property
    def subspace(self) -> Path:
        return self.root / "subspace.safetensors"

    @property
    def subspace_json(self) -> Path:
        return self.root / "subspace.json"

    @property
    def student(self) -> Path:
        return self.root / "student.safetensors"

    @property
    def student_json(self) -> Path:
        return self.root / "student.json"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    @property
    def manifest(self) -> Path:
        return self.artifacts / "manifest.json"

    @property
    def profile(self) -> Path:
        return self.root / "profile.json"

    @property
    def report(self) -> Path:
        return self.root / "report.html"

    @property
    def plots(self) -> Path:
        return self.root / "plots"

    @property
    def timings(self) -> Path:
        return self.root / "timings.json"

    @property
    def marker(self) -> Path:
        """The file that says edgesub made this folder: only such a folder is ever deleted."""
        return self.root / MARKER

    def mark(self) -> None:
        """Write the marker (a run id) unless the folder already has a valid one."""
        if self.run_id() is None:
            record = {"schema_version": MARKER_VERSION, "run_id": uuid.uuid4().hex}
            atomic_write_json(self.marker, record)

    def run_id(self) -> str | None:
        """The id in a valid marker; None when there is none (or it is not edgesub's)."""
        try:
            if not self.marker.is_file() or self.marker.stat().st_size > _MARKER_MAX_BYTES:
                return None
        except OSError:
            return None
        record = read_json_or_empty(self.marker)
        if record.get("schema_version") != MARKER_VERSION:
            return None
        run_id = record.get("run_id")
        return run_id if isinstance(run_id, str) and run_id else None

    @property
    def lock_path(self) -> Path:
        """Beside the run, not in it, so --overwrite can delete the folder while holding it."""
        root = self.root.resolve()
        return root.parent / f".{root.name}.edgesub-lock"

    @contextlib.contextmanager
    def lock(self, *, shared: bool = False) -> Iterator[None]:
        """Hold an advisory lock on the run while a command writes (or, shared, reads) it.

        Refuses at once, naming the holder's PID, if another process has it. Nested calls in
        one process share the first lock.
        """
        path = self.lock_path
        if path in _held or os.environ.get(INHERITED_LOCK_ENV) == str(path):
            _held.setdefault(path, [-1, 0, 0])[1] += 1
            try:
                yield
            finally:
                _release(path)
            return
        fd = _open_lock(path, shared)
        if fd is None:  # a read-only place nobody can be writing: nothing to lock against
            yield
            return
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _holder(fd)
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise RunDirError(f"cannot lock {self.root}: {exc.strerror or exc}") from None
            raise RunDirError(
                f"run {self.root} is in use by {holder}; wait for it to finish or stop it"
            ) from None
        if not shared:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        _held[path] = [fd, 1, int(not shared)]
        try:
            yield
        finally:
            _release(path)

    def require(self, path: Path, stage: str) -> Path:
        """Return ``path`` or explain which command makes it."""
        if not path.exists():
            raise RunDirError(f"{path} not found; {self.missing_hint(stage)}")
        return path

    def missing_hint(self, stage: str) -> str:
        """What to type to make ``stage``'s output: that stage's command on a run; on a folder
        that is not one, the command that makes its artifacts or a run."""
        if not self.config.is_file():
            return not_a_run_hint(self.root)
        root = shlex.quote(str(self.root))
        command = _STAGE_COMMANDS.get(stage, stage)
        return (
            f"run `edgesub {command} {root}` first (or `edgesub run --resume {root}` for every "
            "missing stage)"
        )


# A stage whose command on an existing run is not its own name: `edgesub run` takes a run
# directory only to resume it.
_STAGE_COMMANDS = {"run": "run --resume"}
ARTIFACTS_MANIFEST = "manifest.json"  # what `edgesub convert FILE --out DIR` writes in DIR


def not_a_run_hint(folder: Path) -> str:
    """A folder with no config.toml: say what it is and which existing commands fit it."""
    quoted = shlex.quote(str(folder))
    make = f"`edgesub convert MODEL_FILE --out {quoted}` writes artifacts and a manifest there"
    if not (folder / ARTIFACTS_MANIFEST).is_file():
        return (
            f"{folder} is not an edgesub run (no config.toml): {make}, and "
            "`edgesub run --name NAME` starts a run"
        )
    first = _first_artifact(folder / ARTIFACTS_MANIFEST)
    profile = f"`edgesub profile {shlex.quote(str(folder / first))}`, " if first else ""
    return (
        f"{folder} holds converted artifacts ({ARTIFACTS_MANIFEST}), not a run: use them with "
        f"{profile}`edgesub package {quoted} --target raspberry-pi --out BUNDLE_DIR`, or "
        f"convert again with `edgesub convert MODEL_FILE --out {quoted}`"
    )


def _first_artifact(manifest: Path) -> str | None:
    """The first file an artifacts manifest lists, when it is a plain name beside it."""
    artifacts = read_json_or_empty(manifest).get("artifacts")
    entry = artifacts[0] if isinstance(artifacts, list) and artifacts else None
    name = entry.get("file") if isinstance(entry, dict) else None
    plain = isinstance(name, str) and name not in ("", ".", "..") and Path(name).name == name
    return name if plain and (manifest.parent / name).is_file() else None


def _open_lock(path: Path, shared: bool) -> int | None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        if shared and exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            return None
        raise RunDirError(f"cannot lock {path.parent}: {exc.strerror or exc}") from None


def _holder(fd: int) -> str:
    """Who holds a lock: the PID its exclusive holder wrote, when it is a plain number."""
    text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    alive = text.isdigit() and process_alive(int(text))
    return f"PID {text}" if alive else "another edgesub process"


def _release(path: Path) -> None:
    entry = _held[path]
    entry[1] -= 1
    if entry[1] == 0:
        del _held[path]
        if entry[0] >= 0:
            if entry[2]:
                os.ftruncate(entry[0], 0)  # the PID names the writer only while it writes
            os.close(entry[0])  # closing the descriptor releases the lock
