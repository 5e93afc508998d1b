"""Runtime-neutral helpers for feeding arrays to a model file: batching and int8 (de)quantisation.

Used by both runners, so they work from a runtime-only install (numpy only, no torch).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np


def batches(x: np.ndarray, fixed_batch: int | None) -> Iterator[np.ndarray]:
    """Yield ``x`` whole when the batch axis is dynamic, else in chunks of the file's fixed batch.

    A trailing partial chunk is zero-padded; callers trim outputs back to ``len(x)``.
    """
    if not fixed_batch or fixed_batch < 1:
        yield x
        return
    for start in range(0, len(x), fixed_batch):
        chunk = x[start : start + fixed_batch]
        if len(chunk) < fixed_batch:
            pad = np.zeros((fixed_batch - len(chunk), *x.shape[1:]), dtype=x.dtype)
            chunk = np.concatenate([chunk, pad])
        yield chunk


def quantize(x: np.ndarray, dtype: np.dtype, scale: float, zero_point: int) -> np.ndarray:
    """Float → integer with the file's own scale/zero point, saturating to the dtype's range."""
    info = np.iinfo(dtype)
    q = np.round(x / np.float32(scale)) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return ((q.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)).astype(np.float32)


def io_entry(
    name: str, shape: list[int], dtype: Any, quantization: dict[str, float] | None
) -> dict[str, Any]:
    """A manifest I/O record; dynamic dimensions are -1."""
    return {
        "name": name,
        "shape": [int(d) for d in shape],
        "dtype": np.dtype(dtype).name,
        "quantization": quantization,
    }
