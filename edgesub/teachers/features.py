"""Teacher features on disk: streamed in batches into memory-mapped .npy files, per split.

The cache is keyed by the teacher file's hash and the data fingerprint, so a retrained teacher
or different data never reuses stale features.
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
    from edgesub.teachers.loaded import is_given, run_teacher, teacher_sha256

    key = {"teacher_sha256": teacher_sha256(run), "data": data.fingerprint()}
    meta_path = run.features / "meta.json"
    if not _cache_valid(meta_path, key, data):
        teacher = run_teacher(run)
        if is_given(run):
            from edgesub.teachers.given import given_views

            data = given_views(run, data)[0]
        for name, split in data.splits().items():
            _extract(teacher, split.x, split.y, run.features, name, batch_size, progress)
        atomic_write_json(meta_path, key)
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


def _cache_valid(meta_path: Path, key: dict, data: Dataset) -> bool:
    meta = read_json_or_empty(meta_path)
    files = [meta_path.parent / f"{n}{s}.npy" for n in data.splits() for s in ("", "_labels")]
    return meta == key and all(f.exists() for f in files)


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
