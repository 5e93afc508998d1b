"""What every teacher source kind does the same way, torch or not: pooling a feature tensor to
N×d, reading preprocessing from an input shape, running a file with a fixed batch axis, turning a
model's failure on a batch into one line, and hashing the files a teacher is made of.

Nothing here imports torch or ONNX Runtime, so the ONNX source stays torch-free.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgesub.digest import file_sha256
from edgesub.errors import ConfigError, DataError, EdgesubError, first_line

Run = Callable[[np.ndarray], np.ndarray]
_CHANNELS = {1: "L", 3: "RGB"}


def dims(shape: Sequence[int]) -> str:
    """``2×3×4`` (``a scalar`` for no axes), as edgesub writes shapes in messages."""
    return "×".join(str(d) for d in shape) or "a scalar"


def pool_features(h: np.ndarray, name: str) -> np.ndarray:
    """N×C×H×W → mean over H, W; N×T×D → mean over T; N×d as it is; else a ConfigError (the
    tensor is no feature vector per sample, so another layer must be named)."""
    if h.ndim == 4:
        h = h.mean(axis=(2, 3))
    elif h.ndim == 3:
        h = h.mean(axis=1)
    if h.ndim != 2:
        raise ConfigError(
            f"feature tensor {name} is {dims(h.shape)}, not N×d after pooling; "
            "set teacher.feature_layer to another layer"
        )
    return np.ascontiguousarray(h, dtype=np.float32)


def preprocess_from_shape(shape: Sequence[int | None]) -> dict[str, Any] | None:
    """What a static image input shape declares: N×C×H×W or N×H×W×C with C = 1 or 3 gives the
    channels and layout, and the size when H and W are fixed. None for anything else."""
    if len(shape) != 4:
        return None
    if shape[1] in _CHANNELS:
        channels, layout, size = shape[1], "NCHW", shape[2:]
    elif shape[3] in _CHANNELS:
        channels, layout, size = shape[3], "NHWC", shape[1:3]
    else:
        return None
    found: dict[str, Any] = {"channels": _CHANNELS[channels], "layout": layout}
    if all(isinstance(s, int) and s > 0 for s in size):
        found["size"] = [int(s) for s in size]
    return found


def in_fixed_batches(run: Run, batch: np.ndarray, fixed: int | None) -> np.ndarray:
    """``run(batch)``, or, for a model whose batch axis is fixed, ``run`` on chunks of that size
    (the last one zero-padded) with the outputs trimmed back to ``len(batch)``."""
    if not fixed or len(batch) == fixed:
        return run(batch)
    outputs = []
    for start in range(0, len(batch), fixed):
        chunk = batch[start : start + fixed]
        filler = np.zeros((fixed - len(chunk), *batch.shape[1:]), batch.dtype)
        outputs.append(run(np.concatenate([chunk, filler]))[: len(chunk)])
    return np.concatenate(outputs)


def batch_runner(run: Run, source: str, fixed: int | None, dtype: Any = np.float32) -> Run:
    """``run`` on contiguous ``dtype`` batches, in the model's fixed batch size when it has one,
    with the model's own failure on a batch (wrong shape, a failed export guard) as one
    DataError line; edgesub's errors pass as they are."""

    def call(batch: np.ndarray) -> np.ndarray:
        try:
            return in_fixed_batches(run, np.ascontiguousarray(batch, dtype), fixed)
        except EdgesubError:
            raise
        except Exception as exc:  # torch and ORT raise RuntimeError, AssertionError, Fail...
            raise DataError(
                f"teacher {source} failed on a batch of shape {dims(np.shape(batch))}: "
                f"{first_line(exc)}"
            ) from None

    return call


def files_sha256(paths: Sequence[Path]) -> str:
    """One hash for a teacher made of several files (code + weights, a graph + its data); a
    single file's hash is its own, so it matches ``file_sha256`` elsewhere."""
    if len(paths) == 1:
        return file_sha256(paths[0])
    digest = hashlib.sha256()
    for path in paths:
        digest.update(file_sha256(path).encode())
    return digest.hexdigest()
