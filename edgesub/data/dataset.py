"""The dataset every stage shares: three stratified splits, as the model expects its input.

Image datasets also keep their raw pixels (0..255, an :class:`~edgesub.data.images.Images`
store: in memory, or files decoded on access), so the same samples can be viewed through
another model's preprocessing: the teacher's, or a student's smaller input
(:meth:`Dataset.preprocessed`; ``lazy=True`` makes each split's ``x`` an
:class:`~edgesub.data.images.ImageView` that decodes only the rows read). Their fingerprint is
of the samples and the split, not of a view, so a teacher's features and a student trained on
another view are known to match.

``unlabeled`` (``data.unlabeled``) holds inputs without labels (``y`` = :data:`UNLABELED`) that
only extend the distillation transfer set; it is no split (``splits()`` leaves it out), every
view maps it along, and it is fingerprinted apart (:meth:`Dataset.unlabeled_fingerprint`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from edgesub.data.images import Images, ImageView, as_images, materialized
from edgesub.errors import DataError

if TYPE_CHECKING:
    from edgesub.data.preprocess import ImagePreprocess

UNLABELED = -1  # the label of a transfer-set input without one (losses on labels ignore it)


@dataclass(frozen=True)
class Split:
    """One split: ``x`` as the model expects it (float32 N×C×H×W images, N×F vectors, a unicode
    array of texts, or an :class:`ImageView` made on access), ``y`` int64 labels (N,); ``raw``
    the raw samples: the images' :class:`Images` (0..255 pixels) when the split holds images,
    the texts of a token-id view."""

    x: Any
    y: np.ndarray
    raw: Any = None

    def __len__(self) -> int:
        return len(self.y)

    @property
    def lazy(self) -> bool:
        """Whether ``x`` is made on access (an :class:`ImageView`)."""
        return isinstance(self.x, ImageView)


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
    unlabeled: Split | None = None  # transfer-set inputs without labels (data.unlabeled)
    skipped: tuple[str, ...] = ()  # image files left out as undecodable (data.skip_bad_images)
    # how ``x`` is made from the raw pixels, when it is (the unlabeled inputs get the same)
    input_preprocess: ImagePreprocess | None = None
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
        raw: Images | np.ndarray | None = None,
        **fields: Any,
    ) -> Dataset:
        """The dataset whose train/val/test splits are the rows ``indices`` of ``x`` and ``y``;
        one class per entry of ``labels``; ``raw`` the images' 0..255 pixels (N×C×H×W uint8,
        or a store), row for row; ``x`` may be an :class:`ImageView` of ``raw``; ``fields``
        set the remaining attributes (``skipped``, ``input_preprocess``)."""
        raw = as_images(raw)
        train, val, test = (
            Split(_rows(x, i), y[i], None if raw is None else raw.take(i)) for i in indices
        )
        origin = "" if raw is None else _digest(raw, y, indices)
        splits = (train, val, test)
        return cls(name, *splits, len(labels), input_shape, labels, preprocessing, origin, **fields)

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

    def with_splits(self) -> dict[str, Split]:
        """:meth:`splits` and, when present, the unlabeled inputs (as ``"unlabeled"``)."""
        out = self.splits()
        if self.unlabeled is not None:
            out["unlabeled"] = self.unlabeled
        return out

    def unlabeled_fingerprint(self) -> str:
        """SHA-256 of the unlabeled inputs (their raw pixels, or texts); "" without them."""
        if self.unlabeled is None:
            return ""
        digest = hashlib.sha256(b"unlabeled")
        raw = self.unlabeled.raw
        if isinstance(raw, Images):
            raw.feed(digest)
        else:  # the texts (kept as the raw samples of a token-id view)
            texts = self.unlabeled.x if raw is None else raw
            digest.update(np.ascontiguousarray(texts).tobytes())
        return digest.hexdigest()

    @property
    def has_pixels(self) -> bool:
        """Whether every split keeps its raw pixels (other preprocessings can be applied)."""
        return all(isinstance(s.raw, Images) for s in self.splits().values())

    @property
    def lazy(self) -> bool:
        """Whether any split's ``x`` is made on access."""
        return any(s.lazy for s in self.with_splits().values())

    def preprocessed(self, pre: ImagePreprocess, *, lazy: bool = False) -> Dataset:
        """The same samples as ``pre`` turns their raw pixels into a model's input: computed
        now (N×C×H×W float32 per split), or with ``lazy`` as views that preprocess the rows
        read (what feature extraction from files needs: memory for a batch, not the split)."""
        if not self.has_pixels:
            raise DataError(
                f"dataset {self.name} holds no images, so an image preprocessing cannot apply"
            )
        splits = {}
        for name, split in self.with_splits().items():
            view = ImageView(split.raw, pre)
            splits[name] = replace(split, x=view if lazy else view.materialize())
        return replace(
            self,
            **splits,
            input_shape=pre.input_shape,
            preprocessing=pre.record(),
            input_preprocess=pre,
            base=self.loaded,
        )

    def materialized(self) -> Dataset:
        """The dataset with every view computed into arrays (itself when none is a view)."""
        if not self.lazy:
            return self
        splits = {n: replace(s, x=materialized(s.x)) for n, s in self.with_splits().items()}
        return replace(self, **splits)

    def with_unlabeled(self, inputs: Images | np.ndarray, skipped: tuple[str, ...] = ()) -> Dataset:
        """The dataset whose transfer set is extended by ``inputs``: raw pictures (given the
        input preprocessing of ``x``, as a view) or texts; ``skipped`` adds to the files left
        out."""
        if isinstance(inputs, Images):
            if self.input_preprocess is None or not self.has_pixels:
                raise DataError(f"unlabeled images need image data; {self.name} holds none")
            x = ImageView(inputs, self.input_preprocess)
        elif self.train.x.dtype.kind == "U":
            x = np.asarray(inputs, dtype=np.str_)
        else:
            raise DataError(f"unlabeled texts need text data; {self.name} holds no texts")
        if len(inputs) == 0:
            raise DataError("data.unlabeled holds no inputs")
        y = np.full(len(inputs), UNLABELED, dtype=np.int64)
        unlabeled = Split(x, y, inputs if isinstance(inputs, Images) else None)
        return replace(self, unlabeled=unlabeled, skipped=self.skipped + tuple(skipped))

    def tokenized(self, tokenizer: Any) -> Dataset:
        """The texts of every split as ``tokenizer``'s int64 ids (a token-id student's input);
        the texts stay as the raw samples."""
        if self.train.x.dtype.kind != "U":
            raise DataError(f"dataset {self.name} holds no texts to tokenize")
        splits = {
            name: replace(split, x=tokenizer.encode(split.x.tolist()), raw=split.x)
            for name, split in self.with_splits().items()
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
        """(H, W) of the raw images (the most common one, when they differ)."""
        return self.train.raw.size  # type: ignore[union-attr]

    @property
    def pixel_mode(self) -> str:
        """ "L" for grey raw images, "RGB" otherwise."""
        return self.train.raw.mode  # type: ignore[union-attr]


def _rows(x: Any, index: np.ndarray) -> Any:
    return x.take(index) if isinstance(x, ImageView) else x[index]


def _digest(raw: Images, y: np.ndarray, indices: tuple[np.ndarray, ...]) -> str:
    digest = hashlib.sha256()
    raw.feed(digest)
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
    # a view is finite by construction (uint8 pixels, positive std) and read only in batches
    numeric = isinstance(split.x, np.ndarray) and np.issubdtype(split.x.dtype, np.number)
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
