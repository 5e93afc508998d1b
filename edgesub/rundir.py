"""The run-directory contract (docs/run-directory.md): where each stage reads and writes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgesub.errors import RunDirError


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

    def require(self, path: Path, stage: str) -> Path:
        """Return ``path`` or explain which stage must run first."""
        if not path.exists():
            raise RunDirError(f"{path} not found; run `edgesub {stage} {self.root}` first")
        return path
