"""A teacher's image preprocessing as data: resolved once, applied identically everywhere.

Training, calibration and verification read images through :meth:`ImagePreprocess.apply`, and
the manifest records :meth:`ImagePreprocess.record`, which ``predict``, ``run.py`` and the Android
metadata apply on device. Resizing is Pillow's, with the filter the record names (``resize``:
area averaging unless the teacher was trained on bilinear, bicubic or nearest resizing), and the
runtimes read the same record, so a picture reaches the model the same way in both places.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from edgesub.config import PreprocessConfig
from edgesub.errors import ConfigError, DataError

DEFAULT_SCALE = 1.0 / 255.0
_CHANNELS = {"L": 1, "RGB": 3}
# resize filter names → Pillow's Image.Resampling members (what PIL's own int codes mean)
RESIZE_FILTERS = {"area": "BOX", "bilinear": "BILINEAR", "bicubic": "BICUBIC", "nearest": "NEAREST"}


@dataclass(frozen=True)
class ImagePreprocess:
    """``(resize(convert(pixels, channels), size) * scale - mean) / std`` in ``layout``."""

    size: tuple[int, int]
    channels: str  # "L" | "RGB"
    scale: float = DEFAULT_SCALE
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    layout: str = "NCHW"
    resize: str = "area"  # a RESIZE_FILTERS name

    def __post_init__(self) -> None:
        if self.resize not in RESIZE_FILTERS:
            raise ConfigError(
                f"teacher.preprocess.resize must be one of {', '.join(RESIZE_FILTERS)}, "
                f"got {self.resize!r}"
            )
        n = _CHANNELS[self.channels]
        for name in ("mean", "std"):
            values = getattr(self, name)
            if len(values) == 1 and n > 1:
                object.__setattr__(self, name, tuple(values) * n)
            elif len(values) != n:
                raise ConfigError(
                    f"teacher.preprocess.{name} has {len(values)} values for {n} channel(s) "
                    f"({self.channels})"
                )

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """The model's input shape without the batch axis."""
        c, (h, w) = _CHANNELS[self.channels], self.size
        return (c, h, w) if self.layout == "NCHW" else (h, w, c)

    def resized(self, size: tuple[int, ...]) -> ImagePreprocess:
        """The same normalisation at another size (a student that takes smaller images)."""
        return replace(self, size=(int(size[0]), int(size[1]))) if size else self

    def apply(self, pixels: np.ndarray | Iterable[np.ndarray]) -> np.ndarray:
        """Raw pixels (N×H×W or N×C×H×W, values 0..255; or a store of H×W×C pictures, as
        :mod:`edgesub.data.images` holds them) → N inputs, float32, written into one array."""
        if isinstance(pixels, np.ndarray):
            pixels = _as_hwc(pixels)
            if self._as_is(pixels):  # no resize or colour conversion: one vectorised step
                return self.normalise_batch(pixels)
        out = np.empty((len(pixels), *self.input_shape), np.float32)  # type: ignore[arg-type]
        for i, picture in enumerate(pixels):
            out[i] = self.image(picture)
        return out

    def image(self, hwc: np.ndarray) -> np.ndarray:
        """One H×W×C picture (0..255) → C×H×W (or H×W×C) float32."""
        from PIL import Image

        picture = _to_pil(hwc).convert(self.channels)
        if picture.size != (self.size[1], self.size[0]):
            resample = Image.Resampling[RESIZE_FILTERS[self.resize]]
            picture = picture.resize((self.size[1], self.size[0]), resample)
        return self.normalise(np.asarray(picture, dtype=np.float32))

    def normalise(self, hwc: np.ndarray) -> np.ndarray:
        """Pixels already at ``size`` and in ``channels`` (H×W or H×W×C) → the model input."""
        hwc = hwc[:, :, None] if hwc.ndim == 2 else hwc
        mean = np.asarray(self.mean, np.float32)
        std = np.asarray(self.std, np.float32)
        out = (hwc.astype(np.float32) * np.float32(self.scale) - mean) / std
        return np.ascontiguousarray(out.transpose(2, 0, 1) if self.layout == "NCHW" else out)

    def normalise_batch(self, nhwc: np.ndarray) -> np.ndarray:
        """:meth:`normalise` of N uint8 pictures already at ``size`` and in ``channels``: the
        same arithmetic, elementwise, so the values are those of :meth:`image` one by one."""
        mean = np.asarray(self.mean, np.float32)
        std = np.asarray(self.std, np.float32)
        out = (nhwc.astype(np.float32) * np.float32(self.scale) - mean) / std
        return np.ascontiguousarray(out.transpose(0, 3, 1, 2) if self.layout == "NCHW" else out)

    def _as_is(self, nhwc: np.ndarray) -> bool:
        """Whether ``image`` would leave these pictures' pixels unchanged before normalising."""
        return (
            nhwc.dtype == np.uint8
            and tuple(nhwc.shape[1:3]) == tuple(self.size)
            and nhwc.shape[3] == _CHANNELS[self.channels]
        )

    def record(self) -> dict[str, Any]:
        """The manifest's ``preprocessing`` table (what a device applies to an 8-bit picture)."""
        return {
            "input": "image",
            "layout": self.layout,
            "channels": _CHANNELS[self.channels],
            "color": "grey" if self.channels == "L" else "rgb",
            "size": list(self.size),
            "value_range": [0.0, 255.0],
            "scale": self.scale,
            "mean": list(self.mean),
            "std": list(self.std),
            "resize": self.resize,
            "formula": "(pixel * scale - mean) / std",
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ImagePreprocess:
        """The inverse of :meth:`record` (teacher.json, manifests)."""
        try:
            return cls(
                size=(int(record["size"][0]), int(record["size"][1])),
                channels="L" if record["color"] == "grey" else "RGB",
                scale=float(record["scale"]),
                mean=tuple(float(m) for m in record["mean"]),
                std=tuple(float(s) for s in record["std"]),
                layout=str(record["layout"]),
                resize=str(record.get("resize", "area")),
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise DataError(f"not an image preprocessing record: {record} ({exc})") from None


def resolve(
    given: PreprocessConfig,
    source: dict[str, Any] | None,
    data_size: tuple[int, int],
    data_channels: str,
) -> ImagePreprocess:
    """The preprocessing a teacher gets: each TOML key the user set wins, then what the teacher
    source declares (``source`` holds any of size/channels/scale/mean/std/layout/resize), then the
    data's own size and channels, scale 1/255, mean 0 and std 1."""
    source = source or {}

    def pick(name: str, unset: Any, default: Any) -> Any:
        value = getattr(given, name)
        if value != unset:
            return value
        return source.get(name, default) if source.get(name) not in (None, ()) else default

    size = tuple(pick("size", (), data_size))
    return ImagePreprocess(
        size=(int(size[0]), int(size[1])),
        channels=str(pick("channels", "", data_channels)),
        scale=float(pick("scale", 0.0, DEFAULT_SCALE)),
        mean=tuple(float(m) for m in pick("mean", (), (0.0,))),
        std=tuple(float(s) for s in pick("std", (), (1.0,))),
        layout=str(pick("layout", "", "NCHW")),
        resize=str(pick("resize", "", "area")),
    )


def _as_hwc(pixels: np.ndarray) -> np.ndarray:
    """N×H×W or N×C×H×W as N×H×W×C."""
    if pixels.ndim == 3:
        return pixels[..., None]
    if pixels.ndim == 4 and pixels.shape[1] in (1, 3, 4):
        return pixels.transpose(0, 2, 3, 1)
    raise DataError(f"images must be N×H×W or N×C×H×W (C = 1, 3 or 4), got {pixels.shape}")


def _to_pil(hwc: np.ndarray) -> Any:
    from PIL import Image

    pixels = np.clip(np.rint(hwc), 0, 255).astype(np.uint8)
    channels = pixels.shape[2]
    if channels == 1:
        return Image.fromarray(pixels[:, :, 0], mode="L")
    return Image.fromarray(pixels[:, :, :3], mode="RGB")
