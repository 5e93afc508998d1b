"""Teachers whose penultimate features the subspace stage compresses: the user's own trained
model from any source kind (``source``), or one edgesub trains (``train_teacher``)."""

from edgesub.teachers import source_kinds  # noqa: F401  (registers the source kinds)
from edgesub.teachers.registry import TEACHERS
from edgesub.teachers.source import TEACHER_SOURCES, Teacher, load_source, source_kind
from edgesub.teachers.train import load_teacher, train_teacher

__all__ = [
    "TEACHERS",
    "TEACHER_SOURCES",
    "Teacher",
    "load_source",
    "load_teacher",
    "source_kind",
    "train_teacher",
]
