"""The dataset every stage shares: three stratified splits, as the model expects its input.

Image datasets also keep their raw pixels (0..255), so the same samples can be viewed through
another model's preprocessing: the teacher's, or a student's smaller input
(:meth:`Dataset.preprocessed`). Their fingerprint is of the samples and the split, not of a
view, so a teacher's features and a student trained on another view are known to match.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from edgesub.errors import DataError

if TYPE_CHECKING:
    from edgesub.data.preprocess import ImagePreprocess


@dataclass(frozen=True)
class Split:
    """One split: ``x`` as the model expects it (float32 N×C×H×W images, N×F vectors, or a
    unicode array of texts), ``y`` int64 labels (N,); ``raw`` the images' pixels, 0..255
    (N×C×H×W), when the split holds images."""

    x: np.ndarray
    y: np.ndarray
    raw: np.ndarray | None = None

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
    origin: str = ""  # digest of the samples and the split; "" hashes the inputs themselves
    input_dtype: str = "float32"  # "int64" for token ids
    tokenizer: Any = None  # the WordTokenizer of token-id inputs (its vocab.txt ships along)
    base: Any = field(default=None, repr=False, compare=False)  # the dataset as loaded

    @property
    def loaded(self) -> Dataset:
        """The dataset as loaded, of which this one may be a view (preprocessed, tokenized)."""
        return self.base if self.base is not None else self

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
        raw: np.ndarray | None = None,
    ) -> Dataset:
        """The dataset whose train/val/test splits are the rows ``indices`` of ``x`` and ``y``;
        one class per entry of ``labels``; ``raw`` the images' 0..255 pixels, row for row."""
        train, val, test = (Split(x[i], y[i], None if raw is None else raw[i]) for i in indices)
        origin = "" if raw is None else _digest(raw, y, indices)
        return cls(name, train, val, test, len(labels), input_shape, labels, preprocessing, origin)

    def splits(self) -> dict[str, Split]:
        return {"train": self.train, "val": self.val, "test": self.test}

    def fingerprint(self) -> str:
        """SHA-256 of the samples of every split (of their raw pixels when kept, so every view of
        the same images has one fingerprint): cached teachers and features are reused only for
        the same data."""
        digest = hashlib.sha256(self.name.encode())
        if self.origin:
            digest.update(self.origin.encode())
        for name, split in self.splits().items():
            digest.update(name.encode())
            if not self.origin:  # the samples: texts a tokenized view keeps as raw, or inputs
                samples = split.raw if split.raw is not None else split.x
                digest.update(np.ascontiguousarray(samples).tobytes())
            digest.update(np.ascontiguousarray(split.y).tobytes())
        return digest.hexdigest()

    @property
    def has_pixels(self) -> bool:
        """Whether every split keeps its raw pixels (other preprocessings can be applied)."""
        return all(s.raw is not None for s in self.splits().values())

    def preprocessed(self, pre: ImagePreprocess) -> Dataset:
        """The same samples as ``pre`` turns their raw pixels into a model's input."""
        if not self.has_pixels:
            raise DataError(
                f"dataset {self.name} holds no images, so an image preprocessing cannot apply"
            )
        splits = {
            name: replace(split, x=pre.apply(split.raw)) for name, split in self.splits().items()
        }
        return replace(self, **splits, input_shape=pre.input_shape, preprocessing=pre.record())

    def tokenized(self, tokenizer: Any) -> Dataset:
        """The texts of every split as ``tokenizer``'s int64 ids (a token-id student's input);
        the texts stay as the raw samples."""
        if self.train.x.dtype.kind != "U":
            raise DataError(f"dataset {self.name} holds no texts to tokenize")
        splits = {
            name: replace(split, x=tokenizer.encode(split.x.tolist()), raw=split.x)
            for name, split in self.splits().items()
        }
        return replace(
            self,
            **splits,
            input_shape=(tokenizer.max_length,),
            preprocessing={"input": "text", "tokenizer": tokenizer.record()},
            input_dtype="int64",
            tokenizer=tokenizer,
            base=self.loaded,
        )

    @property
    def pixel_size(self) -> tuple[int, int]:
        """(H, W) of the raw images."""
        return tuple(int(d) for d in self.train.raw.shape[2:4])  # type: ignore[union-attr]

    @property
    def pixel_mode(self) -> str:
        """ "L" for grey raw images, "RGB" otherwise."""
        return "L" if self.train.raw.shape[1] == 1 else "RGB"  # type: ignore[union-attr]


def _digest(raw: np.ndarray, y: np.ndarray, indices: tuple[np.ndarray, ...]) -> str:
    digest = hashlib.sha256(np.ascontiguousarray(raw).tobytes())
    digest.update(np.ascontiguousarray(y).tobytes())
    for index in indices:
        digest.update(np.ascontiguousarray(index, dtype=np.int64).tobytes())
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
