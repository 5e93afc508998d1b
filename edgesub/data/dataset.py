"""The in-memory dataset every stage shares: three stratified splits, already normalised."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from edgesub.errors import DataError


@dataclass(frozen=True)
class Split:
    """One split: ``x`` float32 N×C×H×W as the model expects it, ``y`` int64 labels (N,)."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class Dataset:
    """Train/validation/test splits plus what a deployed model needs to preprocess its input."""

    name: str
    train: Split
    val: Split
    test: Split
    num_classes: int
    input_shape: tuple[int, ...]
    labels: list[str]
    preprocessing: dict = field(default_factory=dict)

    @classmethod
    def from_indices(
        cls,
        name: str,
        x: np.ndarray,
        y: np.ndarray,
        indices: tuple[np.ndarray, np.ndarray, np.ndarray],
        labels: list[str],
        input_shape: tuple[int, ...],
        preprocessing: dict,
    ) -> Dataset:
        """The dataset whose train/val/test splits are the rows ``indices`` of ``x`` and ``y``;
        one class per entry of ``labels``."""
        train, val, test = (Split(x[i], y[i]) for i in indices)
        return cls(name, train, val, test, len(labels), input_shape, labels, preprocessing)

    def splits(self) -> dict[str, Split]:
        return {"train": self.train, "val": self.val, "test": self.test}

    def fingerprint(self) -> str:
        """SHA-256 of every split, so cached teachers/features are reused only for the same data."""
        digest = hashlib.sha256(self.name.encode())
        for name, split in self.splits().items():
            digest.update(name.encode())
            digest.update(np.ascontiguousarray(split.x).tobytes())
            digest.update(np.ascontiguousarray(split.y).tobytes())
        return digest.hexdigest()


def check_split(name: str, split: Split, num_classes: int) -> None:
    """Reject splits no stage can learn from or evaluate on, naming the offending sample."""
    if len(split.y) == 0 or len(split.x) != len(split.y):
        raise DataError(
            f"{name} split is empty or has {len(split.x)} inputs for {len(split.y)} labels"
        )
    numeric = np.issubdtype(split.x.dtype, np.number)
    bad = (
        np.flatnonzero(~np.isfinite(split.x.reshape(len(split.x), -1)).all(axis=1))
        if numeric
        else []
    )
    if len(bad):
        raise DataError(f"{name} split sample {int(bad[0])} contains NaN or inf values")
    classes = np.unique(split.y)
    if classes.size < 2:
        raise DataError(f"{name} split has a single class ({int(classes[0])}); need at least two")
    if classes.min() < 0 or classes.max() >= num_classes:
        raise DataError(f"{name} split has labels outside 0..{num_classes - 1}")
