"""Read a run directory's JSON for reporting, tolerating stages that have not run yet.

A report is most useful when something went wrong or is unfinished, so a missing or unreadable
file is recorded (with the stage that writes it) instead of aborting the whole report.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgesub import config as edgesub_config
from edgesub.converters.manifest_record import ArtifactEntry, Manifest
from edgesub.errors import ConfigError, EdgesubError
from edgesub.profile.compare_record import COMPARE_FILE, CompareRecord
from edgesub.profile.profile_record import ProfileEntry, ProfileRecord
from edgesub.records import FileRecord
from edgesub.rundir import RunDir


@dataclass(frozen=True)
class Missing:
    """A run file the report could not use, and how to produce it."""

    name: str
    reason: str
    command: str  # the edgesub command whose stage writes the file


@dataclass(frozen=True)
class RunData:
    """Everything the report shows; each part is None when its file is absent or unreadable."""

    run: RunDir
    config_name: str
    dataset: str | None
    teacher: dict[str, Any] | None
    subspace: dict[str, Any] | None
    student: dict[str, Any] | None
    manifest: Manifest | None
    profile: ProfileRecord | None
    timings: dict[str, Any] | None
    missing: list[Missing] = field(default_factory=list)
    compare: CompareRecord | None = None  # compare.json, written only by `edgesub compare`

    @property
    def artifacts(self) -> list[ArtifactEntry]:
        return list(self.manifest.artifacts) if self.manifest else []

    @property
    def records(self) -> list[ProfileEntry]:
        return list(self.profile.records) if self.profile else []

    @property
    def sweep(self) -> list[dict[str, Any]]:
        items = (self.subspace or {}).get("sweep")
        return [s for s in items if isinstance(s, dict)] if isinstance(items, list) else []


# (RunDir attribute, label shown to users, the command that writes it into the run {run},
# the record type the file holds, or None for plain JSON)
_JSON_FILES: tuple[tuple[str, str, str, type[FileRecord] | None], ...] = (
    ("teacher_json", "teacher.json", "edgesub run --resume {run}", None),
    ("subspace_json", "subspace.json", "edgesub subspace {run}", None),
    ("student_json", "student.json", "edgesub distill {run}", None),
    ("manifest", "artifacts/manifest.json", "edgesub convert {run}", Manifest),
    ("profile", "profile.json", "edgesub profile {run}", ProfileRecord),
    ("timings", "timings.json", "edgesub run --resume {run}", None),
)
NEW_RUN = "edgesub run --name NAME"  # a folder without a usable config.toml is no run to resume


def as_rundir(run: RunDir | str | Path) -> RunDir:
    return run if isinstance(run, RunDir) else RunDir(Path(run))


def read_run_data(run: RunDir | str | Path) -> RunData:
    """Load every report input of ``run``; absent or malformed files are listed in ``missing``."""
    run = as_rundir(run)
    missing: list[Missing] = []
    parts: dict[str, Any] = {}
    root = shlex.quote(str(run.root))
    for attr, label, command, kind in _JSON_FILES:
        # a folder that is no run has no stage to resume: a new run makes every file
        made_by = command.format(run=root) if run.config.is_file() else NEW_RUN
        parts[attr], problem = _read_json(getattr(run, attr), kind, made_by)
        if problem:
            missing.append(Missing(label, problem, made_by))
    name, dataset = _config_identity(run, missing)
    compare, problem = _read_json(run.root / COMPARE_FILE, CompareRecord, f"edgesub compare {root}")
    if compare is None and problem != "not found":  # optional: no budget is not a gap
        missing.append(Missing(COMPARE_FILE, str(problem), f"edgesub compare {root}"))
    return RunData(
        run=run,
        config_name=name,
        dataset=dataset,
        teacher=parts["teacher_json"],
        subspace=parts["subspace_json"],
        student=parts["student_json"],
        manifest=parts["manifest"],
        profile=parts["profile"],
        timings=parts["timings"],
        missing=missing,
        compare=compare,
    )


def _read_json(
    path: Path, kind: type[FileRecord] | None = None, rewrite: str | None = None
) -> tuple[Any, str | None]:
    """The file's JSON object (checked as a ``kind`` record when given), or why not."""
    if not path.is_file():
        return None, "not found"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"unreadable ({exc})"
    except json.JSONDecodeError as exc:
        return None, f"malformed JSON (line {exc.lineno}: {exc.msg})"
    if kind is not None:
        try:
            return kind.from_dict(data, path.name, rewrite=rewrite), None
        except EdgesubError as exc:
            return None, f"unusable ({exc})"
    if not isinstance(data, dict):
        return None, "malformed (expected a JSON object)"
    return data, None


def _config_identity(run: RunDir, missing: list[Missing]) -> tuple[str, str | None]:
    """Run name and dataset from config.toml; the folder name stands in when it is absent."""
    if not run.config.is_file():
        missing.append(Missing("config.toml", "not found", NEW_RUN))
        return run.root.name, None
    try:
        cfg = edgesub_config.load(run.config)
    except ConfigError as exc:
        missing.append(Missing("config.toml", f"unusable ({exc})", NEW_RUN))
        return run.root.name, None
    return cfg.name, cfg.data.name
