"""What the summary and timing tables contain, independent of terminal or HTML rendering."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgesub.report.fmt import is_number
from edgesub.report.rundata import RunData


@dataclass(frozen=True)
class ModelRow:
    """One model of the pipeline: teacher, heads, student, or a deployable artifact."""

    model: str
    detail: str
    accuracy: float | None
    params: int | None
    size_bytes: int | None


def model_rows(data: RunData) -> list[ModelRow]:
    """Teacher → full head → compressed head → student → artifacts, as far as the run got."""
    rows: list[ModelRow] = []
    teacher, sub, student = data.teacher, data.subspace, data.student
    if teacher is not None:
        detail = _join(teacher.get("arch"), _eq("d", teacher.get("feature_dim")))
        rows.append(
            ModelRow(
                "teacher",
                detail,
                teacher.get("test_accuracy"),
                teacher.get("params"),
                _file_size(data.run.teacher),
            )
        )
    if sub is not None:
        rows.append(
            ModelRow(
                "full head",
                _join("on teacher features", _eq("d", sub.get("d"))),
                sub.get("full_head_accuracy"),
                sub.get("full_head_params"),
                None,
            )
        )
        rows.append(
            ModelRow(
                "compressed head",
                _join(sub.get("method"), _eq("k", sub.get("k")), _times(sub.get("compression"))),
                sub.get("compressed_head_accuracy"),
                sub.get("compressed_head_params"),
                None,
            )
        )
    if student is not None:
        rows.append(
            ModelRow(
                "student + head",
                _join(
                    student.get("arch"),
                    _eq("width", student.get("width")),
                    _eq("k", student.get("k")),
                ),
                student.get("test_accuracy"),
                student.get("deployed_params", student.get("student_params")),
                _file_size(data.run.student),
            )
        )
    for art in data.artifacts:
        rows.append(
            ModelRow(art.file, _join(art.format, art.precision), art.accuracy, None, art.size_bytes)
        )
    return rows


def timing_rows(timings: dict[str, Any] | None) -> tuple[list[tuple[str, Any, float | None]], Any]:
    """(stage, seconds, share of total in %) per stage, and the total in seconds."""
    stages = (timings or {}).get("stages")
    stages = stages if isinstance(stages, dict) else {}
    total = (timings or {}).get("total_seconds")
    if not is_number(total):
        known = [v for v in stages.values() if is_number(v)]
        total = sum(known) if known else None
    rows = [
        (str(name), secs, 100 * secs / total if is_number(secs) and total else None)
        for name, secs in stages.items()
    ]
    return rows, total


def _file_size(path: Path) -> int | None:
    return path.stat().st_size if path.is_file() else None


def _eq(name: str, value: Any) -> str | None:
    return None if value is None else f"{name}={value}"


def _times(compression: Any) -> str | None:
    if compression is None:
        return None
    return (
        f"{compression:g}× compression" if is_number(compression) else f"{compression}× compression"
    )


def _join(*parts: Any) -> str:
    return ", ".join(str(p) for p in parts if p is not None)
