"""The run-directory contract (docs/run-directory.md): where each stage reads and writes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from edgesub.atomic import atomic_write_json
from edgesub.errors import RunDirError
from edgesub.jsonfile import read_json_or_empty

MARKER = ".edgesub-run"
MARKER_VERSION = 1
_MARKER_MAX_BYTES = 4096  # a marker is a few dozen bytes; a larger file is not ours


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

    def require(self, path: Path, stage: str) -> Path:
        """Return ``path`` or explain which stage must run first."""
        if not path.exists():
            raise RunDirError(f"{path} not found; run `edgesub {stage} {self.root}` first")
        return path
