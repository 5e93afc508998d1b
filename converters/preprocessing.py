"""Preprocessing as data: what the manifest records, and how a runtime applies it to an image.

A device has neither the training code nor the dataset, so the manifest must say everything that
turns a picture into the model's input: colour mode, size, layout, the raw value range the scale
applies to, and the normalisation. This module only needs numpy (Pillow to read image files).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgesub.errors import DataError, ModelFileError
from edgesub.limits import open_image

COLOR_MODES = {1: "grey", 3: "rgb"}  # channels → colour mode of the source images
_PIL_MODES = {"grey": "L", "rgb": "RGB"}
_NORMALISATION_KEYS = ("scale", "mean", "std")


def preprocessing_record(data: Any) -> dict[str, Any]:
    """The dataset's ``preprocessing`` completed with what a runtime needs to feed an image.

    The raw value range is derived from the training inputs when the dataset does not state it:
    undoing ``(raw * scale - mean) / std`` gives the pixel values the model was trained on
    (0..16 for sklearn digits), which is what an 8-bit image must be mapped onto.
    """
    pre = dict(getattr(data, "preprocessing", None) or {})
    shape = tuple(int(d) for d in data.input_shape)
    if len(shape) != 3:
        return pre
    layout = pre.setdefault("layout", "NCHW")
    channels, height, width = shape if layout == "NCHW" else (shape[2], shape[0], shape[1])
    pre.setdefault("input", "image")
    pre.setdefault("channels", channels)
    pre.setdefault("color", COLOR_MODES.get(channels))
    pre.setdefault("size", [height, width])
    if "value_range" not in pre and all(key in pre for key in _NORMALISATION_KEYS):
        pre["value_range"] = _raw_range(data.train.x, pre, layout)
    return pre


def _raw_range(x: np.ndarray, pre: dict[str, Any], layout: str) -> list[float]:
    mean, std = _per_channel(pre, layout)
    raw = (x.astype(np.float64) * std + mean) / float(pre["scale"])
    return [round(float(raw.min()), 4), round(float(raw.max()), 4)]


def _per_channel(pre: dict[str, Any], layout: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std shaped to broadcast over an image batch in ``layout``."""
    shape = (1, -1, 1, 1) if layout == "NCHW" else (1, 1, 1, -1)
    mean = np.asarray(pre["mean"], dtype=np.float64).reshape(shape)
    std = np.asarray(pre["std"], dtype=np.float64).reshape(shape)
    return mean, std


def image_input(path: Path, pre: dict[str, Any], *, invert: bool = False) -> np.ndarray:
    """Read an image file and apply the manifest's preprocessing: a 1×C×H×W float32 batch.

    8-bit pixels 0..255 map linearly onto the recorded raw ``value_range``; ``invert`` flips
    dark-on-light pictures for models trained on light-on-dark ones (sklearn digits).
    """
    missing = [k for k in ("color", "size", "value_range", *_NORMALISATION_KEYS) if k not in pre]
    if pre.get("input") != "image" or missing:
        raise ModelFileError(
            "the manifest does not describe image preprocessing"
            + (f" (lacks {', '.join(missing)})" if missing else "")
            + "; give the model input as a .npy array instead"
        )
    if pre["color"] not in _PIL_MODES:
        raise ModelFileError(f"the manifest's colour mode {pre['color']!r} cannot be read")
    pixels = _read_image(path, _PIL_MODES[pre["color"]], tuple(pre["size"]), pre.get("resize"))
    if invert:
        pixels = 1.0 - pixels
    low, high = (float(v) for v in pre["value_range"])
    raw = low + pixels * (high - low)
    if raw.ndim == 2:
        raw = raw[:, :, None]
    layout = pre.get("layout", "NCHW")
    batch = raw.transpose(2, 0, 1)[None] if layout == "NCHW" else raw[None]
    mean, std = _per_channel(pre, layout)
    return ((batch * float(pre["scale"]) - mean) / std).astype(np.float32)


def _read_image(path: Path, mode: str, size: tuple[int, int], resize: str | None) -> np.ndarray:
    """Pixels in [0, 1], H×W (grey) or H×W×3, resized with the manifest's filter (area
    averaging when it names none)."""
    from edgesub.data.preprocess import RESIZE_FILTERS

    try:
        with open_image(path) as image:
            from PIL import Image  # present: open_image needs it

            resample = Image.Resampling[RESIZE_FILTERS.get(resize or "area", "BOX")]
            image = image.convert(mode).resize((size[1], size[0]), resample)
            return np.asarray(image, dtype=np.float32) / 255.0
    except OSError as exc:  # a truncated file fails while decoding
        raise DataError(f"cannot read image {path}: {exc}") from None
