"""Raw images as a split keeps them: in memory, or as files decoded only when a row is read.

Both stores are :class:`Images`: ``len()``, ``images[i]`` (one picture, H×W×C uint8, in the
store's ``mode``), ``images[rows]`` (a slice, index array or mask: a store of those rows) and
``feed`` (their part of a dataset's fingerprint). :class:`PixelArray` wraps N×C×H×W uint8
pixels (bundled data, .npy); :class:`ImageFiles` holds paths and each file's SHA-256 only, so a
folder of any size costs the memory of its file list, and every read goes through
:func:`edgesub.limits.open_image` (regular file, pixel limit). Images in files may differ in
size; a preprocessing resizes them.

:class:`ImageView` is a split's model input made on access: a preprocessing applied to just the
rows read, so feature extraction streams from disk (``np.asarray`` materialises it).
"""

from __future__ import annotations

import hashlib
import operator
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgesub.errors import DataError
from edgesub.limits import open_image

if TYPE_CHECKING:
    from edgesub.data.preprocess import ImagePreprocess

Index = int | slice | Sequence[int] | np.ndarray
# Pillow modes read as grey: 1-bit, 8-bit, with alpha, 16/32-bit integers, float
GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
_WIDE_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N"})  # 16-bit data: scaled by 1/257


class Images(ABC):
    """Raw pictures of one split, row for row with its labels (the protocol both stores
    share). ``mode`` is "L" or "RGB": every picture is read with 1 or 3 channels; ``size`` is
    the (H, W) most pictures have (all of them, in memory)."""

    mode: str
    size: tuple[int, int]

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def pixels(self, i: int) -> np.ndarray:
        """Picture ``i`` as H×W×C uint8 (C = 1 or 3)."""

    @abstractmethod
    def take(self, rows: np.ndarray) -> Images:
        """The store of ``rows`` (int64 positions), in that order."""

    @abstractmethod
    def feed(self, digest: Any) -> None:
        """Update a hashlib object with these pictures (content, not location or view)."""

    def __getitem__(self, index: Index) -> Any:
        if isinstance(index, (int, np.integer)):
            return self.pixels(_position(int(index), len(self)))
        return self.take(np.arange(len(self))[index])

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self.pixels(i) for i in range(len(self)))

    @property
    def channels(self) -> int:
        return 1 if self.mode == "L" else 3

    def digest(self) -> str:
        """SHA-256 of the pictures, as :meth:`feed` hashes them."""
        digest = hashlib.sha256()
        self.feed(digest)
        return digest.hexdigest()


class PixelArray(Images):
    """N×C×H×W uint8 pixels in memory (C = 1 or 3)."""

    def __init__(self, array: np.ndarray) -> None:
        if array.dtype != np.uint8 or array.ndim != 4 or array.shape[1] not in (1, 3):
            raise DataError(f"raw pixels must be N×C×H×W uint8 (C = 1 or 3), got {array.shape}")
        self.array = array
        self.mode = "L" if array.shape[1] == 1 else "RGB"
        self.size = (int(array.shape[2]), int(array.shape[3]))

    def __len__(self) -> int:
        return len(self.array)

    def pixels(self, i: int) -> np.ndarray:
        return self.array[i].transpose(1, 2, 0)

    def take(self, rows: np.ndarray) -> PixelArray:
        return PixelArray(self.array[rows])

    def feed(self, digest: Any) -> None:
        digest.update(np.ascontiguousarray(self.array).tobytes())


class ImageFiles(Images):
    """Image files, decoded one at a time when read, in ``mode`` (see :func:`read_pixels`).
    ``sha256`` holds each file's content digest (32 bytes), taken when the folder was read."""

    def __init__(
        self, paths: Sequence[str] | np.ndarray, sha256: np.ndarray, mode: str, size: tuple
    ) -> None:
        self.paths = np.asarray(paths, dtype=object).reshape(-1)
        self.sha256 = np.asarray(sha256, dtype="S32").reshape(-1)
        if len(self.paths) != len(self.sha256):
            raise DataError(f"{len(self.paths)} image files but {len(self.sha256)} digests")
        self.mode = mode
        self.size = (int(size[0]), int(size[1]))

    def __len__(self) -> int:
        return len(self.paths)

    def pixels(self, i: int) -> np.ndarray:
        return read_pixels(self.paths[i], self.mode)

    def take(self, rows: np.ndarray) -> ImageFiles:
        return ImageFiles(self.paths[rows], self.sha256[rows], self.mode, self.size)

    def feed(self, digest: Any) -> None:
        digest.update(self.mode.encode())
        digest.update(self.sha256.tobytes())


def source(images: Images) -> Images | np.ndarray:
    """What a preprocessing reads ``images`` from: the N×C×H×W array of pixels in memory (one
    vectorised step when nothing is resized), else the store, a picture at a time."""
    return images.array if isinstance(images, PixelArray) else images


def as_images(raw: Images | np.ndarray | None) -> Images | None:
    """``raw`` as a store: N×C×H×W uint8 arrays are wrapped, stores pass through."""
    return PixelArray(raw) if isinstance(raw, np.ndarray) else raw


def read_pixels(path: str | Path, mode: str) -> np.ndarray:
    """The picture in ``path`` as H×W×C uint8 in ``mode`` ("L" or "RGB"); a file that cannot be
    read or decoded is a DataError naming it.

    Conversion follows what image classifiers are usually trained with (torchvision's
    ``convert("RGB")``): alpha is dropped, palette and CMYK pictures are converted by Pillow;
    16-bit pictures are scaled to 8 bits (Pillow would clip them)."""
    with open_image(path) as image:
        try:
            return to_array(image, mode)
        except (OSError, ValueError, SyntaxError) as exc:  # truncated or corrupt data
            raise DataError(f"cannot decode image {path}: {_one_line(exc)}") from None


def to_array(image: Any, mode: str) -> np.ndarray:
    """A decoded Pillow image as H×W×C uint8 in ``mode``."""
    if image.mode in _WIDE_MODES or image.mode == "F":
        scale = 1.0 / 257.0 if image.mode in _WIDE_MODES else 1.0
        grey = np.asarray(image, dtype=np.float64) * scale
        hw = np.clip(np.rint(grey), 0, 255).astype(np.uint8)
        hwc = hw[:, :, None]
        return np.repeat(hwc, 3, axis=2) if mode == "RGB" else hwc
    if image.mode in ("P", "PA"):  # palette transparency needs RGBA first (Pillow warns else)
        image = image.convert("RGBA")
    array = np.asarray(image.convert(mode), dtype=np.uint8)
    return array[:, :, None] if array.ndim == 2 else array


def is_grey(pillow_mode: str) -> bool:
    """Whether a Pillow mode holds grey pictures."""
    return pillow_mode in GREY_MODES


class ImageView:
    """A split's model input on demand: ``pre`` applied to the rows of ``images`` read.

    Array-like as far as the stages need: ``len``, ``shape``, ``dtype`` (float32), ``ndim``;
    ``view[i]`` one input, ``view[rows]`` (slice, index array) an np.ndarray of those rows;
    ``np.asarray(view)`` all of them. Finite by construction (uint8 pixels, positive std)."""

    dtype = np.dtype(np.float32)

    def __init__(self, images: Images, pre: ImagePreprocess) -> None:
        self.images = images
        self.pre = pre

    def __len__(self) -> int:
        return len(self.images)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.images), *self.pre.input_shape)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __getitem__(self, index: Index) -> np.ndarray:
        if isinstance(index, (int, np.integer)):
            return self.pre.image(self.images[index])
        return self.pre.apply(source(self.images[index]))

    def take(self, rows: np.ndarray) -> ImageView:
        return ImageView(self.images.take(rows), self.pre)

    def materialize(self) -> np.ndarray:
        return self.pre.apply(source(self.images))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        x = self.materialize()
        return x if dtype is None else x.astype(dtype, copy=False)


def materialized(x: Any) -> Any:
    """``x`` as an np.ndarray when it is a view, else as it is."""
    return x.materialize() if isinstance(x, ImageView) else x


def _position(i: int, n: int) -> int:
    i = operator.index(i)
    if not -n <= i < n:
        raise IndexError(f"image {i} out of range for {n} images")
    return i % n


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
