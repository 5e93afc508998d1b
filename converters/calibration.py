"""Input checks for conversion: calibration and verification arrays must match what the model takes.

A NaN in calibration data silently yields NaN scales and a useless int8 file, so bad data is
rejected before any export starts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgesub.errors import DataError

CALIBRATION_SEED = 0


def checked_inputs(name: str, x: Any, input_shape: tuple[int, ...]) -> np.ndarray:
    """Return ``x`` if it is a finite float32 array of N×``input_shape``, else raise DataError."""
    if not isinstance(x, np.ndarray):
        raise DataError(f"{name} inputs must be a numpy array, got {type(x).__name__}")
    if x.dtype != np.float32:
        raise DataError(f"{name} inputs must be float32, got {x.dtype}")
    if x.ndim != len(input_shape) + 1 or tuple(x.shape[1:]) != tuple(input_shape):
        expected = "N×" + "×".join(str(d) for d in input_shape)
        raise DataError(f"{name} inputs have shape {tuple(x.shape)}, the model takes {expected}")
    if len(x) == 0:
        raise DataError(f"{name} inputs are empty")
    bad = np.flatnonzero(~np.isfinite(x.reshape(len(x), -1)).all(axis=1))
    if bad.size:
        raise DataError(f"{name} sample {int(bad[0])} contains NaN or inf values")
    return x


def calibration_set(train_x: np.ndarray, input_shape: tuple[int, ...], samples: int) -> np.ndarray:
    """A seeded random subset of the training inputs, checked, for int8 calibration."""
    x = checked_inputs("calibration (train split)", train_x, input_shape)
    if len(x) <= samples:
        return np.ascontiguousarray(x)
    rng = np.random.default_rng(CALIBRATION_SEED)
    index = np.sort(rng.choice(len(x), size=samples, replace=False))
    return np.ascontiguousarray(x[index])
