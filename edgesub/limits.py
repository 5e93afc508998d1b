"""Limits on what edgesub reads, checked at the boundary (README, Limits).

A mistaken or hostile input must fail in one line, not exhaust memory, hang or crash a runtime:
sizes and counts are bounded before anything is allocated, files are checked to be regular files
of a sane size before they are opened (a FIFO or device would block or never end), and numbers
must be finite. Standard library only at import (Pillow inside open_image), so any module may
use it.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import stat
import warnings
from collections.abc import Iterator
from typing import Any

from edgesub.errors import (
    ConfigError,
    DataError,
    EdgesubError,
    MissingDependencyError,
    ModelFileError,
)

MiB = 1024 * 1024
# ONNX (protobuf) and TFLite (flatbuffers) files cannot exceed 2 GiB; larger ones are refused
# before a byte is read.
MAX_MODEL_BYTES = 2 * 1024 * MiB
# TOML configs, device profiles, manifests, labels and vocabularies are small text files.
MAX_TEXT_BYTES = 64 * MiB
# One text sample of a data set (a CSV field, a JSON value, a line of unlabeled sentences): far
# beyond what any text model reads, and the longest text sets the memory of every text (numpy
# stores texts at a fixed width). One JSONL record may take this many bytes.
MAX_TEXT_CHARS = 100_000
MAX_RECORD_BYTES = 4 * MAX_TEXT_CHARS + 64 * 1024
# Pictures edgesub decodes (predict, image_folder data, a manifest's input size): 8000 × 8000.
# Below Pillow's own decompression-bomb threshold, so its warning never fires on an accepted one.
MAX_IMAGE_PIXELS = 64_000_000
MAX_IMAGE_BYTES = 4 * MAX_IMAGE_PIXELS  # the file: an uncompressed 32-bit bitmap of that size
# Values in one model input (a manifest's input_shape, --input-shape): 256 MiB as float32.
MAX_INPUT_VALUES = 64 * MiB
# Timed runs and warm-up runs per artifact: more only lengthens a measurement past its timeout.
MAX_RUNS = 10_000
# CPU threads to measure and estimate at; runtimes crash on absurd thread counts.
MAX_THREADS = 256
# Cores one device profile may declare (estimates place one entry per core).
MAX_CORES = 1024


def regular_file_size(
    path: str | os.PathLike[str],
    what: str,
    error: type[EdgesubError],
    max_bytes: int | None = None,
) -> int:
    """The size of ``path`` once it is known to be a regular file of at most ``max_bytes``
    (None: any size, for data sets)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise error(f"{what} not found: {path}") from None
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{what} {path} is not a regular file")
    if max_bytes is not None and info.st_size > max_bytes:
        raise error(f"{what} {path} is {info.st_size:,} bytes; the limit is {max_bytes:,} bytes")
    return info.st_size


def read_text_limited(
    path: str | os.PathLike[str],
    what: str,
    error: type[EdgesubError],
    max_bytes: int = MAX_TEXT_BYTES,
) -> str:
    """A UTF-8 regular file within ``max_bytes`` (never more is read, even if it grows)."""
    regular_file_size(path, what, error, max_bytes)
    try:
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise error(f"{what} {path} grew past the limit of {max_bytes:,} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"cannot read {what} {path}: not UTF-8 text ({exc.reason})") from None


def read_lines_limited(
    path: str | os.PathLike[str],
    what: str,
    error: type[EdgesubError],
    max_bytes: int = MAX_RECORD_BYTES,
) -> Iterator[tuple[int, str]]:
    """(line number, text) of each non-blank line of a UTF-8 regular file of any size, read a
    line at a time; a line over ``max_bytes`` (never read whole) or not UTF-8 is an error
    naming it."""
    regular_file_size(path, what, error)
    try:
        with open(path, "rb") as fh:
            for number in itertools.count(1):
                raw = fh.readline(max_bytes + 1)
                if not raw:
                    return
                if len(raw) > max_bytes:
                    raise error(f"{path} line {number} is over the limit of {max_bytes:,} bytes")
                try:
                    line = raw.decode("utf-8").rstrip("\r\n")
                except UnicodeDecodeError as exc:
                    raise error(f"{path} line {number} is not UTF-8 text ({exc.reason})") from None
                if line.strip():
                    yield number, line
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def check_model_file(path: str | os.PathLike[str]) -> int:
    """A model file's size: a regular, non-empty file within :data:`MAX_MODEL_BYTES`."""
    size = regular_file_size(path, "model file", ModelFileError, MAX_MODEL_BYTES)
    if size == 0:
        raise ModelFileError(f"model file is empty: {path}")
    return size


@contextlib.contextmanager
def open_image(path: str | os.PathLike[str]) -> Iterator[Any]:
    """A Pillow image of at most :data:`MAX_IMAGE_PIXELS`, checked from its header before any
    pixel is decoded: a decompression bomb is one DataError, not Pillow's warning or error."""
    regular_file_size(path, "image", DataError, MAX_IMAGE_BYTES)
    image_module = _pillow()
    with warnings.catch_warnings():
        warnings.simplefilter("error", image_module.DecompressionBombWarning)
        try:
            image = image_module.open(path)
        except (image_module.DecompressionBombError, image_module.DecompressionBombWarning):
            raise DataError(
                _too_many_pixels(path, "claims more pixels than Pillow decodes")
            ) from None
        except (image_module.UnidentifiedImageError, OSError) as exc:
            raise DataError(f"cannot read image {path}: {exc}") from None
    with image:
        width, height = image.size
        if width * height > MAX_IMAGE_PIXELS:
            raise DataError(_too_many_pixels(path, f"is {width} × {height} pixels"))
        yield image


def _pillow() -> Any:
    try:
        from PIL import Image
    except ImportError:
        raise MissingDependencyError(
            "reading image files needs Pillow (pip install pillow); "
            "or give the preprocessed input as a .npy array"
        ) from None
    return Image


def _too_many_pixels(path: str | os.PathLike[str], detail: str) -> str:
    return (
        f"image {path} {detail}; the limit is {MAX_IMAGE_PIXELS:,} pixels "
        "(a decompression bomb, or a picture to downscale first)"
    )


def check_count(value: int, name: str, low: int, high: int) -> None:
    """``low <= value <= high`` for a count such as runs or threads, else a ConfigError."""
    if not low <= value <= high:
        raise ConfigError(f"{name} must be in {low}..{high:,}, got {value:,}")


def check_values(shape: Any, name: str) -> None:
    """A shape's positive dims (-1/None: dynamic) may hold at most :data:`MAX_INPUT_VALUES`."""
    values = math.prod(int(d) for d in shape if d is not None and int(d) > 0)
    if values > MAX_INPUT_VALUES:
        raise ConfigError(
            f"{name} {list(shape)} holds {values:,} values; the limit is {MAX_INPUT_VALUES:,}"
        )


def check_finite(value: float, name: str) -> None:
    """``value`` is finite (TOML and ``float()`` read inf and nan), else a ConfigError."""
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value}")


# A calibration / verification .npz: arrays (one per model input) and their total size once
# decompressed, checked from the zip directory before any array is read (a zip bomb is refused).
MAX_NPZ_ARRAYS = 256
MAX_NPZ_BYTES = 4 * 1024 * MiB


def parse_dims(text: str, flag: str = "--input-shape") -> tuple[int, ...]:
    """``1,3,224,224`` (or 1x3x224x224) as positive ints within :data:`MAX_INPUT_VALUES`; the one
    parser of every ``--input-shape`` (convert's and profile's)."""
    parts = [p.strip() for p in text.replace("×", ",").replace("x", ",").split(",")]
    if not parts or not all(p.isdigit() for p in parts):
        raise ConfigError(
            f"{flag} takes positive integers separated by commas (e.g. 1,3,224,224), got {text!r}"
        )
    shape = tuple(int(p) for p in parts)
    if min(shape) < 1:
        raise ConfigError(f"{flag} takes positive integers (dimensions >= 1), got {text!r}")
    if math.prod(shape) > MAX_INPUT_VALUES:
        raise ConfigError(
            f"{flag} {text!r} holds {math.prod(shape):,} values; the limit is {MAX_INPUT_VALUES:,}"
        )
    return shape


def parse_named_shapes(
    values: tuple[str, ...] | list[str], flag: str = "--input-shape"
) -> dict[str | None, tuple[int, ...]]:
    """Repeated ``NAME=1,128`` values (or one bare shape, keyed None) as name → shape."""
    shapes: dict[str | None, tuple[int, ...]] = {}
    for value in values:
        name, sep, dims = value.rpartition("=")
        key = name.strip() if sep else None
        if sep and not key:
            raise ConfigError(f"{flag}: expected NAME=1,128, got {value!r}")
        if key in shapes:
            shown = "a bare shape" if key is None else f"input '{key}'"
            raise ConfigError(f"{flag} gives {shown} twice")
        shapes[key] = parse_dims(dims, flag)
    if None in shapes and len(shapes) > 1:
        raise ConfigError(
            f"{flag}: a bare shape is for a single-input model; name each input (NAME=1,128)"
        )
    return shapes
