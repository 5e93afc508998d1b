"""User data: an image folder tree (one sub-folder per class) or numpy arrays x.npy / y.npy."""

from __future__ import annotations

import contextlib

import numpy as np

from edgesub.config import DataConfig
from edgesub.data.dataset import Dataset
from edgesub.data.loaders import DATASETS, standardised_images, stratified_splits
from edgesub.data.text import user_path
from edgesub.errors import DataError
from edgesub.labels import check_labels
from edgesub.limits import open_image, regular_file_size

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}


@DATASETS.register("image_folder")
def image_folder(cfg: DataConfig) -> Dataset:
    """``data.path/<class>/<image>``; all images the same size, grey unless any is colour."""
    root = user_path(cfg, "image_folder")
    folders = sorted(p.name for p in root.iterdir() if p.is_dir())
    classes = check_labels(folders, f"class folder in {root}")
    files = [
        (f, i)
        for i, c in enumerate(classes)
        for f in sorted((root / c).iterdir())
        if f.suffix.lower() in IMAGE_SUFFIXES
    ]
    if len(classes) < 2 or not files:
        raise DataError(f"{root} needs one sub-folder of images per class (at least two)")
    with contextlib.ExitStack() as stack:  # each checked (regular file, pixel limit) and closed
        images = [stack.enter_context(open_image(f)) for f, _ in files]
        mode = "L" if all(im.mode in ("L", "1", "I", "I;16") for im in images) else "RGB"
        arrays = [np.asarray(im.convert(mode)) for im in images]
    for (path, _), arr in zip(files, arrays, strict=True):
        if arr.shape != arrays[0].shape:
            raise DataError(f"{path} is {arr.shape[:2]}, other images are {arrays[0].shape[:2]}")
    x = np.stack(arrays)
    x = x[:, None] if mode == "L" else x.transpose(0, 3, 1, 2)
    y = np.array([i for _, i in files], dtype=np.int64)
    return standardised_images(root.name, x, y, 1.0 / 255.0, cfg, classes)


@DATASETS.register("npy")
def npy(cfg: DataConfig) -> Dataset:
    """``data.path/x.npy`` (N×F features or N×C×H×W images) and ``data.path/y.npy`` (N ints)."""
    root = user_path(cfg, "npy")
    for name in ("x.npy", "y.npy"):  # a FIFO would block np.load forever
        regular_file_size(root / name, "data file", DataError)
    try:
        x = np.load(root / "x.npy", allow_pickle=False)
        y = np.load(root / "y.npy", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {root}/x.npy and y.npy: {exc}") from None
    if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"y.npy must hold {len(x)} integer labels, got {y.dtype} {y.shape}")
    bad = np.flatnonzero(~np.isfinite(x.reshape(len(x), -1)).all(axis=1))
    if bad.size:
        raise DataError(f"x.npy sample {int(bad[0])} contains NaN or inf values")
    labels = [str(c) for c in range(int(y.max()) + 1)]
    if x.ndim == 4:
        scale = 1.0 / 255.0 if float(x.max()) > 1.0 else 1.0  # 0..255 pixels or 0..1 values
        return standardised_images(root.name, x, y, scale, cfg, labels)
    if x.ndim != 2:
        raise DataError(f"x.npy must be N×F or N×C×H×W, got shape {x.shape}")
    return _tabular(root.name, x.astype(np.float32), y.astype(np.int64), cfg, labels)


def _tabular(
    name: str, x: np.ndarray, y: np.ndarray, cfg: DataConfig, labels: list[str]
) -> Dataset:
    train, val, test = stratified_splits(len(y), y, cfg)
    mean, std = x[train].mean(axis=0), x[train].std(axis=0)
    std = np.where(std > 1e-8, std, 1.0).astype(np.float32)
    x = ((x - mean) / std).astype(np.float32)
    preprocessing = {"layout": "NF", "mean": mean.tolist(), "std": std.tolist()}
    return Dataset.from_indices(
        name, x, y, (train, val, test), labels, (x.shape[1],), preprocessing
    )
