"""Teacher features on disk: streamed in batches into memory-mapped .npy files, per split.

The cache is keyed by the teacher file's hash and the data fingerprint, so a retrained teacher
or different data never reuses stale features. The unlabeled inputs of ``data.unlabeled`` get a
fourth file, ``unlabeled.npy`` (no labels file), keyed apart in the same meta.json: adding or
changing them extracts only their features.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgesub.atomic import atomic_path, atomic_write_json
from edgesub.console import transient_track
from edgesub.errors import DataError
from edgesub.jsonfile import read_json_or_empty

UNLABELED = "unlabeled"  # the cache file of the unlabeled inputs' features

if TYPE_CHECKING:
    from edgesub.data import Dataset
    from edgesub.rundir import RunDir
    from edgesub.teachers.source import Teacher


@dataclass(frozen=True)
class Features:
    """Teacher penultimate features ``h`` (N×d, possibly memory-mapped) and labels ``y``."""

    h: np.ndarray
    y: np.ndarray


def teacher_features(
    run: RunDir, data: Dataset, *, batch_size: int = 256, progress: bool = True
) -> dict[str, Features]:
    """Return train/val/test features, extracting them only when the cache is missing or stale.

    ``data`` may be any view of the run's samples (the student's): a given teacher always reads
    them through its own preprocessing."""
    from edgesub.teachers.loaded import teacher_sha256

    key = {"teacher_sha256": teacher_sha256(run), "data": data.fingerprint()}
    unlabeled = data.unlabeled_fingerprint()
    meta_path = run.features / "meta.json"
    meta = read_json_or_empty(meta_path)
    labelled = _cache_valid(meta, key, run.features, data)
    extra = not unlabeled or (
        labelled
        and meta.get("unlabeled") == unlabeled
        and (run.features / f"{UNLABELED}.npy").exists()
    )
    if not (labelled and extra):
        view = _teacher_view(run, data)
        teacher = _run_teacher(run)
        if not labelled:
            for name, split in view.splits().items():
                _extract(teacher, split.x, split.y, run.features, name, batch_size, progress)
        if not extra:
            _extract_unlabeled(teacher, view, run.features, batch_size, progress)
        atomic_write_json(meta_path, {**key, **({"unlabeled": unlabeled} if unlabeled else {})})
    out = {}
    for name in data.splits():
        h = np.load(run.features / f"{name}.npy", mmap_mode="r")
        check_finite(h, name)
        out[name] = Features(h, np.load(run.features / f"{name}_labels.npy"))
    return out


def check_finite(h: np.ndarray, split: str, offset: int = 0) -> None:
    """Raise DataError naming the first sample whose features are NaN or inf."""
    bad = np.flatnonzero(~np.isfinite(h).all(axis=1))
    if bad.size:
        raise DataError(
            f"teacher features of {split} sample {offset + int(bad[0])} are NaN or inf; "
            "the teacher or the input data is broken"
        )


def unlabeled_features(run: RunDir, data: Dataset) -> np.ndarray | None:
    """The teacher's features of the unlabeled inputs (memory-mapped), None without any; call
    after :func:`teacher_features`, which extracts them."""
    if data.unlabeled is None:
        return None
    meta = read_json_or_empty(run.features / "meta.json")
    path = run.features / f"{UNLABELED}.npy"
    if meta.get("unlabeled") != data.unlabeled_fingerprint() or not path.exists():
        raise DataError("the teacher's features of the unlabeled inputs are missing or stale")
    h = np.load(path, mmap_mode="r")
    check_finite(h, UNLABELED)
    if len(h) != len(data.unlabeled):
        raise DataError(
            f"cached features have {len(h)} unlabeled rows, the data {len(data.unlabeled)}"
        )
    return h


def _cache_valid(meta: dict, key: dict, folder: Path, data: Dataset) -> bool:
    """Whether the labelled splits' features in ``folder`` belong to ``key``."""
    files = [folder / f"{n}{s}.npy" for n in data.splits() for s in ("", "_labels")]
    labelled = {k: v for k, v in meta.items() if k != "unlabeled"}
    return labelled == key and all(f.exists() for f in files)


def _extract_unlabeled(
    teacher: Teacher, view: Dataset, folder: Path, batch_size: int, progress: bool
) -> None:
    assert view.unlabeled is not None
    path = folder / f"{UNLABELED}.npy"
    x = view.unlabeled.x
    stream_features(teacher.features, x, path, UNLABELED, batch_size=batch_size, progress=progress)


def _teacher_view(run: RunDir, data: Dataset) -> Dataset:
    """``data`` as the run's teacher reads it (a given teacher: through its own preprocessing,
    a batch at a time)."""
    from edgesub.teachers.loaded import is_given

    if not is_given(run):
        return data
    from edgesub.teachers.given import given_views

    return given_views(run, data)[0]


def _run_teacher(run: RunDir) -> Teacher:
    from edgesub.teachers.loaded import run_teacher

    return run_teacher(run)


def _extract(
    teacher: Teacher,
    x: np.ndarray,
    y: np.ndarray,
    folder: Path,
    split: str,
    batch_size: int,
    progress: bool,
) -> None:
    """Stream ``teacher.features`` over ``x`` into ``folder/<split>.npy`` (atomically)."""
    stream_features(
        teacher.features,
        x,
        folder / f"{split}.npy",
        split,
        batch_size=batch_size,
        progress=progress,
    )
    with atomic_path(folder / f"{split}_labels.npy") as tmp, open(tmp, "wb") as fh:
        np.save(fh, np.asarray(y, dtype=np.int64))


def stream_features(
    fn: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    path: Path,
    label: str,
    *,
    batch_size: int = 256,
    progress: bool = True,
) -> np.ndarray:
    """Write ``fn`` of each batch of ``x`` (images, texts, ...) into an N×d float32 .npy file,
    atomically, checking every batch for NaN/inf; return the file memory-mapped."""
    starts = range(0, len(x), batch_size)
    with atomic_path(path) as tmp:
        out = None
        for start in transient_track(starts, f"features {label}", enabled=progress):
            h = np.asarray(fn(x[start : start + batch_size]), dtype=np.float32)
            check_finite(h, label, start)
            if out is None:
                out = np.lib.format.open_memmap(
                    tmp, mode="w+", dtype=np.float32, shape=(len(x), h.shape[1])
                )
            out[start : start + len(h)] = h
        if out is None:
            raise DataError(f"no {label} samples to extract features from")
        out.flush()
        del out
    return np.load(path, mmap_mode="r")
