"""The run's teacher as one :class:`Teacher`, whether edgesub trained it or the user gave it.

Stages that read teacher outputs (features, logits, its head) go through :func:`run_teacher`, so
they need not know where the teacher came from; caches key on :func:`teacher_sha256`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from edgesub._deps import require
from edgesub.digest import file_sha256
from edgesub.jsonfile import read_json_or_empty
from edgesub.teachers.given import TEACHER_RECORD_VERSION, load_given
from edgesub.teachers.source import Teacher

if TYPE_CHECKING:
    from torch import nn

    from edgesub.rundir import RunDir


def is_given(run: RunDir) -> bool:
    """Whether the run's teacher is the user's own (teacher.json says so)."""
    return read_json_or_empty(run.teacher_json).get("version") == TEACHER_RECORD_VERSION


def teacher_sha256(run: RunDir) -> str | None:
    """The identity of the run's teacher: its source's hash, or its weights file's."""
    if is_given(run):
        return read_json_or_empty(run.teacher_json).get("sha256")
    return file_sha256(run.teacher) if run.teacher.exists() else None


def run_teacher(run: RunDir) -> Teacher:
    """The run's teacher, loaded."""
    if is_given(run):
        return load_given(run)
    from edgesub.teachers.train import load_teacher

    meta = read_json_or_empty(run.teacher_json)
    return module_teacher(load_teacher(run), meta.get("arch", "wide_cnn"), file_sha256(run.teacher))


def module_teacher(module: nn.Module, kind: str, sha256: str) -> Teacher:
    """An edgesub-trained module (``features(x)`` and a Linear ``head``) as a Teacher."""
    head = module.head
    return Teacher(
        kind=kind,
        source=f"{kind} (trained by edgesub)",
        sha256=sha256,
        input_kind="image",
        features=lambda batch: _run(module.features, batch),
        logits=lambda batch: _run(module, batch),
        head=(head.weight.detach().numpy(), head.bias.detach().numpy()),
        params=sum(p.numel() for p in module.parameters()),
        module=module,
    )


def _run(fn: Any, batch: np.ndarray) -> np.ndarray:
    torch = require("torch")
    from edgesub.training.loop import TRAIN_THREADS, torch_threads

    with torch.no_grad(), torch_threads(TRAIN_THREADS):
        return fn(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))).numpy()
