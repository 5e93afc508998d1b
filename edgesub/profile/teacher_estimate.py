"""The teacher on the same devices as its student: what distillation bought, as a number.

The teacher is exported once to ONNX (``teacher.onnx`` in the run folder; a teacher given as an
ONNX file is read as it is) and estimated on every device the artifacts were, with the same
estimator and power model, so the speed-up and energy ratio of the deployed file over the
teacher compare like with like. A teacher that cannot be exported (a text encoder, a module
whose input edgesub does not know) is not estimated, and the reason is kept instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgesub.errors import EdgesubError
from edgesub.jsonfile import read_json_or_empty
from edgesub.onnx_trace import trace_to_onnx
from edgesub.profile.devices import expand_device_ids, load_devices
from edgesub.profile.formats import load_graph
from edgesub.profile.profile_record import ProfileEntry
from edgesub.profile.run import estimate_record
from edgesub.rundir import RunDir

TEACHER_ONNX = "teacher.onnx"
OPSET = 17


@dataclass(frozen=True)
class TeacherEstimates:
    """The teacher's estimated records per device, or why there are none."""

    records: tuple[ProfileEntry, ...] = ()
    note: str | None = None


def estimate_teacher(
    run: RunDir,
    devices: Sequence[str],
    input_shape: Sequence[int],
    threads: int = 1,
    profiles_dir: str | Path | None = None,
) -> TeacherEstimates:
    """The teacher's records on ``devices`` at the student's ``input_shape`` (no batch axis)."""
    try:
        path = teacher_onnx(run, tuple(input_shape))
        graph = load_graph(path, (1, *input_shape))
        registry = load_devices(profiles_dir)
        records = tuple(
            estimate_record(path, graph, registry.get(d), threads)
            for d in expand_device_ids(list(devices), registry)
        )
    except EdgesubError as exc:
        return TeacherEstimates(note=f"the teacher was not estimated: {exc}")
    return TeacherEstimates(records=records)


def estimate_run_teacher(
    run: RunDir,
    manifest: Any,
    devices: Sequence[str],
    threads: int = 1,
    profiles_dir: str | Path | None = None,
) -> TeacherEstimates:
    """:func:`estimate_teacher` at the input the run's artifacts take (``manifest``: the run's
    artifact manifest, whose ``model.input_shape`` has no batch axis)."""
    shape = [d for d in manifest.model.input_shape if d > 0]
    return estimate_teacher(run, devices, shape, threads, profiles_dir)


def teacher_onnx(run: RunDir, input_shape: tuple[int, ...]) -> Path:
    """The teacher as an ONNX file: the user's own ONNX source, the run's export when it is
    newer than the teacher's weights (a re-profile needs no torch), else a fresh export."""
    meta = read_json_or_empty(run.teacher_json)
    source = str(meta.get("source") or "")
    if source.endswith(".onnx") and Path(source).is_file():
        return Path(source)
    exported = run.root / TEACHER_ONNX
    made = run.teacher_json.stat().st_mtime if run.teacher_json.is_file() else float("inf")
    if exported.is_file() and exported.stat().st_mtime >= made:
        return exported
    from edgesub.teachers.loaded import run_teacher

    teacher = run_teacher(run)
    if teacher.module is None or teacher.input_kind != "image":
        raise EdgesubError(f"{teacher.source} is not an image module edgesub can export")
    return _export(teacher.module, input_shape, run.root / TEACHER_ONNX)


def _export(module: object, input_shape: tuple[int, ...], path: Path) -> Path:
    """Trace the module at batch 1; a failed export leaves no teacher.onnx."""
    from edgesub._deps import require

    torch = require("torch")
    sample = torch.zeros((1, *input_shape), dtype=torch.float32)
    partial = path.with_name(path.name + ".tmp")
    try:
        trace_to_onnx(module, (sample,), partial, opset=OPSET)
    except EdgesubError:
        partial.unlink(missing_ok=True)
        raise
    return partial.replace(path)
