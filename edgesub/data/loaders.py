"""Dataset registry and the bundled datasets that need no download."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from edgesub._deps import require
from edgesub.config import DataConfig
from edgesub.data.dataset import Dataset, check_split
from edgesub.data.preprocess import ImagePreprocess
from edgesub.errors import DataError
from edgesub.registry import Registry

DATASETS: Registry[Callable[[DataConfig], Dataset]] = Registry("dataset")


def load_dataset(cfg: DataConfig, *, lazy: bool = False) -> Dataset:
    """Load the dataset named in ``cfg`` (with ``cfg.unlabeled`` as its unlabeled inputs) and
    check every split is usable.

    Image files are read when a row is: with ``lazy`` the splits' ``x`` stay views (a given
    teacher's run, whose models read other views of the raw pictures); otherwise they are
    computed into arrays, as every bundled dataset has them."""
    cfg.validate()
    dataset = DATASETS.get(cfg.name)(cfg)
    for name, split in dataset.splits().items():
        check_split(name, split, dataset.num_classes)
    if cfg.unlabeled:
        from edgesub.data.unlabeled import with_unlabeled

        dataset = with_unlabeled(dataset, cfg)
    return dataset if lazy else dataset.materialized()


def stratified_splits(
    n: int, y: np.ndarray, cfg: DataConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded, stratified train/val/test indices; fractions are of the whole dataset."""
    idx = np.arange(n)
    rest, test = split_off(idx, y, cfg.test_fraction, cfg.seed)
    val_share = cfg.val_fraction / (1.0 - cfg.test_fraction)
    train, val = split_off(rest, y[rest], val_share, cfg.seed)
    return np.sort(train), np.sort(val), np.sort(test)


def split_off(
    idx: np.ndarray, y: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(rest, the stratified ``fraction`` of ``idx``), seeded; too few samples of a class to
    put one on each side is a DataError."""
    model_selection = require("sklearn.model_selection")
    try:
        rest, part = model_selection.train_test_split(
            idx, test_size=fraction, random_state=seed, stratify=y
        )
    except ValueError as exc:
        counts = np.bincount(y)
        raise DataError(
            f"cannot split {len(idx)} samples stratified ({fraction:.0%} apart): {exc} "
            f"(fewest samples in a class: {int(counts[counts > 0].min())})"
        ) from None
    return rest, part


def standardised_images(
    name: str, images: np.ndarray, y: np.ndarray, scale: float, cfg: DataConfig, labels: list[str]
) -> Dataset:
    """Scale raw N×C×H×W pixels, standardise per channel with train statistics, and split.

    The images are also kept as 0..255 pixels (``images * scale * 255``: sklearn's 0..16
    digits become 0..255), for a teacher with its own preprocessing."""
    x = images.astype(np.float32) * np.float32(scale)
    raw = np.clip(np.rint(x * np.float32(255.0)), 0, 255).astype(np.uint8)
    y = y.astype(np.int64)
    train, val, test = stratified_splits(len(y), y, cfg)
    mean = x[train].mean(axis=(0, 2, 3))
    std = x[train].std(axis=(0, 2, 3))
    std = np.where(std > 1e-8, std, 1.0).astype(np.float32)
    x = (x - mean[None, :, None, None]) / std[None, :, None, None]
    x = np.ascontiguousarray(x, dtype=np.float32)
    return Dataset.from_indices(
        name,
        x,
        y,
        (train, val, test),
        labels,
        tuple(int(s) for s in x.shape[1:]),
        {
            "layout": "NCHW",
            "scale": scale,
            "mean": [float(m) for m in mean],
            "std": [float(s) for s in std],
            "formula": "(pixel * scale - mean) / std",
        },
        **_pixels(raw, mean, std),
    )


def _pixels(raw: np.ndarray, mean: np.ndarray, std: np.ndarray) -> dict[str, Any]:
    """The raw pixels and how ``x`` is made of them, for grey or RGB images (others keep
    only ``x``)."""
    if raw.shape[1] not in (1, 3):
        return {}
    pre = ImagePreprocess(
        size=(int(raw.shape[2]), int(raw.shape[3])),
        channels="L" if raw.shape[1] == 1 else "RGB",
        mean=tuple(float(m) for m in mean),
        std=tuple(float(s) for s in std),
    )
    return {"raw": raw, "input_preprocess": pre}


@DATASETS.register("digits")
def digits(cfg: DataConfig) -> Dataset:
    """sklearn's bundled 8×8 handwritten digits (1797 images, pixel values 0..16)."""
    datasets = require("sklearn.datasets")
    bunch = datasets.load_digits()
    images = bunch.images.reshape(-1, 1, 8, 8)
    labels = [str(c) for c in bunch.target_names]
    return standardised_images("digits", images, bunch.target, 1.0 / 16.0, cfg, labels)
