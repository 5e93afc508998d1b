"""The user's own teacher, used as it is: loaded from its source, fed its own preprocessing,
measured with its own classifier on the test split, recorded in teacher.json.

Nothing is trained. The run refuses a teacher no better than chance on the data, which is what
wrong preprocessing or labels in another order look like, and says which to check.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from edgesub.atomic import atomic_write_json
from edgesub.config import TeacherConfig, build_dataclass, to_dict
from edgesub.data.preprocess import ImagePreprocess, resolve
from edgesub.errors import DataError, RunDirError
from edgesub.jsonfile import read_json_or_empty
from edgesub.teachers.source import Teacher, load_source

if TYPE_CHECKING:
    from edgesub.config import StudentConfig
    from edgesub.data import Dataset
    from edgesub.rundir import RunDir

TEACHER_RECORD_VERSION = 2  # teacher.json of a given teacher (1: an edgesub-trained one)
BATCH = 128
# the text student's word tokenizer: vocabulary of the most frequent train words, ids per text
TEXT_TOKENIZER = {"vocab_size": 8192, "max_length": 64}
CHANCE_Z = 2.33  # one-sided 1 % level: an accuracy this many standard errors above chance


def use_teacher(
    run: RunDir, data: Dataset, cfg: TeacherConfig, student: StudentConfig
) -> dict[str, Any]:
    """Load ``cfg.source``, check it against ``data`` and return (and write) teacher.json."""
    started = time.perf_counter()
    teacher = _load(cfg)
    preprocess = input_record(teacher, data, cfg)
    data = align_classes(data, teacher.classes)
    view = teacher_view(data, preprocess, lazy=True)
    fingerprint = {"teacher": to_dict(cfg), "data": data.fingerprint(), "sha256": teacher.sha256}
    cached = read_json_or_empty(run.teacher_json)
    if cached.get("fingerprint") == fingerprint:
        return cached
    measured = _accuracies(teacher, view)
    summary = {
        "version": TEACHER_RECORD_VERSION,
        "kind": teacher.kind,
        "arch": teacher.kind,
        "source": teacher.source,
        "sha256": teacher.sha256,
        "trained_by_edgesub": False,
        "feature_dim": int(teacher.features(view.train.x[:2]).shape[1]),
        "params": teacher.params,
        "num_classes": data.num_classes,
        "classes": teacher.classes,
        "labels": list(data.labels),
        **measured,
        "preprocess": preprocess,
        "student_preprocess": student_record(preprocess, student),
        "input_shape": list(view.input_shape),
        **data_notes(data),
        "fingerprint": fingerprint,
        "seconds": round(time.perf_counter() - started, 3),
    }
    atomic_write_json(run.teacher_json, summary)
    return summary


def input_record(teacher: Teacher, data: Dataset, cfg: TeacherConfig) -> dict[str, Any]:
    """The teacher's input as a record: image preprocessing, or the text it reads."""
    if teacher.input_kind == "text":
        if data.train.x.dtype.kind != "U":
            raise DataError(f"the {teacher.kind} teacher reads text; {data.name} holds no texts")
        return {"input": "text", **(teacher.preprocess or {})}
    if not data.has_pixels:
        raise DataError(f"the {teacher.kind} teacher reads images; {data.name} holds none")
    pre = resolve(cfg.preprocess, teacher.preprocess, data.pixel_size, data.pixel_mode)
    return pre.record()


def student_record(preprocess: dict[str, Any], student: StudentConfig) -> dict[str, Any]:
    """The deployed student's input: the teacher's image preprocessing (at
    ``student.input_size`` when set), or edgesub's word tokenizer for a text teacher."""
    if preprocess.get("input") == "text":
        return {"input": "text", "tokenizer": {"kind": "word", **TEXT_TOKENIZER}}
    if not student.input_size:
        return preprocess
    return ImagePreprocess.from_record(preprocess).resized(student.input_size).record()


def teacher_view(data: Dataset, preprocess: dict[str, Any], *, lazy: bool = False) -> Dataset:
    """``data`` as a model with ``preprocess`` reads it: image preprocessing applied to the raw
    pixels (with ``lazy``, to the rows read: see :meth:`Dataset.preprocessed`), texts as they
    are, or token ids of a word tokenizer fitted on the train texts."""
    if preprocess.get("input") == "image":
        return data.preprocessed(ImagePreprocess.from_record(preprocess), lazy=lazy)
    tokenizer = preprocess.get("tokenizer")
    if not isinstance(tokenizer, dict) or tokenizer.get("kind") != "word":
        return data  # the texts themselves (a text teacher tokenizes them its own way)
    from edgesub.data.tokenizer import WordTokenizer

    words = WordTokenizer.build(
        data.train.x.tolist(), size=tokenizer["vocab_size"], max_length=tokenizer["max_length"]
    )
    return data.tokenized(words)


def align_classes(data: Dataset, classes: list[str] | None) -> Dataset:
    """``data`` with its class ids in the teacher's order; the same names in another order are
    renumbered, other names are a DataError naming both lists."""
    if classes is None or list(classes) == list(data.labels):
        return data
    if sorted(classes) != sorted(data.labels):
        raise DataError(
            f"class names do not match: labels in the model's config are {_shown(classes)}, "
            f"the data's classes are {_shown(data.labels)}"
        )
    order = np.array([classes.index(name) for name in data.labels], dtype=np.int64)
    splits = {n: replace(s, y=order[s.y]) for n, s in data.splits().items()}
    return replace(data, **splits, labels=list(classes))


def given_views(run: RunDir, data: Dataset) -> tuple[Dataset, Dataset]:
    """(teacher's view, student's view) of ``data`` as the run's teacher.json describes them.

    The teacher's view is lazy: its inputs (often large, 224×224 RGB) are preprocessed a batch
    at a time as features are extracted, so memory holds a batch, not the data set; the
    student's view (small inputs, read by every epoch) is computed into arrays. Views are made
    once per loaded dataset and record (stages of one command share them); ``data`` may itself
    be a view: views are always made from the samples as loaded."""
    data = data.loaded
    meta = read_json_or_empty(run.teacher_json)
    if meta.get("version") != TEACHER_RECORD_VERSION:
        raise RunDirError(f"{run.teacher_json} does not describe a given teacher")
    key = (
        id(data),
        meta.get("sha256"),
        str(meta.get("preprocess")),
        str(meta.get("student_preprocess")),
    )
    if key in _views and _views[key][0] is data:
        return _views[key][1]
    aligned = align_classes(data, meta.get("classes"))
    views = (
        teacher_view(aligned, meta["preprocess"], lazy=True),
        teacher_view(aligned, meta["student_preprocess"]).materialized(),
    )
    _views.clear()  # one dataset's views at a time: they can be large
    _views[key] = (data, views)
    return views


_views: dict[tuple, tuple[Dataset, tuple[Dataset, Dataset]]] = {}


def data_notes(data: Dataset) -> dict[str, Any]:
    """What a teacher summary records of the data beyond its fingerprint: the image files left
    out as undecodable (``data.skip_bad_images``), when any were."""
    if not data.skipped:
        return {}
    from edgesub.data.folders import skipped_record

    return {"skipped_images": skipped_record(data.skipped)}


def load_given(run: RunDir) -> Teacher:
    """The run's given teacher, loaded again; a source file changed since is refused."""
    meta = read_json_or_empty(run.teacher_json)
    cfg = build_dataclass(TeacherConfig, meta["fingerprint"]["teacher"], "teacher.")
    teacher = _load(cfg)
    if teacher.sha256 != meta["sha256"]:
        raise RunDirError(
            f"the teacher {teacher.source} changed since this run used it (sha256 "
            f"{meta['sha256'][:12]}…, now {teacher.sha256[:12]}…); start a new run"
        )
    return teacher


def _load(cfg: TeacherConfig) -> Teacher:
    """``load_source(cfg)``, once per command: the stages of one run share the loaded model."""
    key = repr(to_dict(cfg))
    if key not in _loaded:
        _loaded.clear()  # one teacher in memory at a time
        _loaded[key] = load_source(cfg)
    return _loaded[key]


_loaded: dict[str, Teacher] = {}


def _accuracies(teacher: Teacher, view: Dataset) -> dict[str, Any]:
    """Test and validation accuracy of the teacher's own classifier (percent), checked
    against chance; None for a feature extractor without one."""
    if teacher.logits is None:
        return {"test_accuracy": None, "val_accuracy": None}
    out = {}
    for name in ("test", "val"):
        split = getattr(view, name)
        pred = np.concatenate(
            [_predict(teacher, split.x[i : i + BATCH]) for i in range(0, len(split), BATCH)]
        )
        if pred.shape[1] != view.num_classes:
            raise DataError(
                f"the teacher predicts {pred.shape[1]} classes, the data has "
                f"{view.num_classes} ({_shown(view.labels)})"
            )
        out[f"{name}_accuracy"] = 100.0 * float(np.mean(pred.argmax(axis=1) == split.y))
    _check_above_chance(out["test_accuracy"], len(view.test), view)
    return out


def _predict(teacher: Teacher, batch: np.ndarray) -> np.ndarray:
    assert teacher.logits is not None
    return np.asarray(teacher.logits(batch), dtype=np.float64)


def _check_above_chance(accuracy: float, n: int, data: Dataset) -> None:
    """Refuse an accuracy not significantly above chance (one-sided, 1 % level)."""
    chance = 1.0 / data.num_classes
    floor = chance + CHANCE_Z * math.sqrt(chance * (1 - chance) / n)
    if accuracy / 100.0 < floor:
        raise DataError(
            f"the teacher's own accuracy on the test split is {accuracy:.1f} %, no better than "
            f"chance ({100 * chance:.1f} % for {data.num_classes} classes): its input is "
            "probably not what it was trained on (check [teacher.preprocess]: size, scale, "
            "mean, std, channels, layout) or its labels are in another order (the data's "
            f"classes, in order: {_shown(data.labels)})"
        )


def _shown(names: list[str]) -> str:
    return "[" + ", ".join(repr(n) for n in names[:12]) + (", …]" if len(names) > 12 else "]")
