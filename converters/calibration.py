"""Input checks for conversion: calibration and verification arrays must match what the model takes.

A NaN in calibration data silently yields NaN scales and a useless int8 file, so bad data is
rejected before any export starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgesub.data.tokenizer import WordTokenizer
from edgesub.errors import DataError, first_line
from edgesub.labels import check_label
from edgesub.limits import read_text_limited, regular_file_size

CALIBRATION_SEED = 0


def checked_inputs(
    name: str, x: Any, input_shape: tuple[int, ...], dtype: np.dtype | type = np.float32
) -> np.ndarray:
    """Return ``x`` if it is a finite ``dtype`` array of N×``input_shape``, else raise DataError.

    ``dtype`` is float32 for every model but those taking token ids (int64).
    """
    if not isinstance(x, np.ndarray):
        raise DataError(f"{name} inputs must be a numpy array, got {type(x).__name__}")
    if x.dtype != np.dtype(dtype):
        raise DataError(f"{name} inputs must be {np.dtype(dtype).name}, got {x.dtype}")
    if x.ndim != len(input_shape) + 1 or tuple(x.shape[1:]) != tuple(input_shape):
        expected = "N×" + "×".join(str(d) for d in input_shape)
        raise DataError(f"{name} inputs have shape {tuple(x.shape)}, the model takes {expected}")
    if len(x) == 0:
        raise DataError(f"{name} inputs are empty")
    bad = np.flatnonzero(~np.isfinite(x.reshape(len(x), -1)).all(axis=1))
    if bad.size:
        raise DataError(f"{name} sample {int(bad[0])} contains NaN or inf values")
    return x


def calibration_set(
    train_x: np.ndarray,
    input_shape: tuple[int, ...],
    samples: int,
    dtype: np.dtype | type = np.float32,
) -> np.ndarray:
    """A seeded random subset of the training inputs, checked, for int8 calibration."""
    x = checked_inputs("calibration (train split)", train_x, input_shape, dtype)
    if len(x) <= samples:
        return np.ascontiguousarray(x)
    rng = np.random.default_rng(CALIBRATION_SEED)
    index = np.sort(rng.choice(len(x), size=samples, replace=False))
    return np.ascontiguousarray(x[index])


def load_array(path: Path, what: str, *, mmap: bool = False) -> np.ndarray:
    """A .npy file as an array, never unpickling; unreadable files are a DataError.

    ``mmap`` maps it read-only instead (to look at its dtype or shape without reading it)."""
    regular_file_size(path, f"{what} file", DataError)  # a FIFO would block np.load forever
    try:
        return np.load(Path(path), allow_pickle=False, mmap_mode="r" if mmap else None)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"cannot read {what} {path} as a .npy array: {first_line(exc)}") from None


def checked_batch(
    name: str, x: Any, dims: tuple[int | None, ...], dtype: np.dtype | type = np.float32
) -> np.ndarray:
    """Like :func:`checked_inputs` for a model whose non-batch ``dims`` may be dynamic (None)."""
    if isinstance(x, np.ndarray) and x.ndim == len(dims) + 1:
        concrete = tuple(d if d is not None else s for d, s in zip(dims, x.shape[1:], strict=True))
        return checked_inputs(name, x, concrete, dtype)
    shown = "N×" + "×".join("?" if d is None else str(d) for d in dims)
    got = tuple(x.shape) if isinstance(x, np.ndarray) else type(x).__name__
    raise DataError(f"{name} inputs have shape {got}, the model takes {shown}")


def is_token_ids(x: np.ndarray) -> bool:
    """An integer array given as model inputs holds token ids (a float model takes float32)."""
    return x.dtype.kind in "iu"


@dataclass(frozen=True)
class ArraySplit:
    x: np.ndarray
    y: np.ndarray | None


@dataclass(frozen=True)
class ArrayData:
    """User-supplied inputs in the shape :func:`edgesub.converters.convert` takes a dataset.

    ``train`` calibrates, ``test`` verifies; without labels verification compares top-1
    agreement with the source model instead of accuracy.
    """

    train: ArraySplit
    test: ArraySplit
    input_shape: tuple[int, ...]
    num_classes: int
    labels: list[str] | None = None
    preprocessing: dict[str, Any] = field(default_factory=dict)
    input_dtype: str = "float32"  # "int64" for token ids
    tokenizer: WordTokenizer | None = None  # written beside the artifacts as vocab.txt
    synthetic: bool = False  # ``test`` was generated (no data given), not the user's inputs


def text_data(
    tokenizer: WordTokenizer,
    train: ArraySplit,
    test: ArraySplit,
    num_classes: int,
    labels: list[str] | None = None,
) -> ArrayData:
    """Token-id splits of a text model, with the tokenizer the manifest will reference."""
    return ArrayData(
        train=train,
        test=test,
        input_shape=(tokenizer.max_length,),
        num_classes=num_classes,
        labels=labels,
        preprocessing={"input": "text", "tokenizer": tokenizer.record()},
        input_dtype="int64",
        tokenizer=tokenizer,
    )


def held_out(x: np.ndarray, fraction: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (calibration, verification) split, so int8 is verified on inputs it never saw.

    With a single sample both are that sample (nothing can be held out).
    """
    if len(x) < 2:
        return x, x
    order = np.random.default_rng(CALIBRATION_SEED).permutation(len(x))
    n_verify = max(1, round(len(x) * fraction))
    return np.ascontiguousarray(x[order[n_verify:]]), np.ascontiguousarray(x[order[:n_verify]])


def read_labels(path: Path | None) -> list[str] | None:
    """Class names from a text file, one per line (blank lines ignored)."""
    if path is None:
        return None
    text = read_text_limited(path, "labels file", DataError)
    lines = [(n, line.strip()) for n, line in enumerate(text.split("\n"), 1)]
    labels = [check_label(line, f"labels file {path} line {n}") for n, line in lines if line]
    if not labels:
        raise DataError(f"labels file {path} has no labels")
    return labels
