"""Dataset registry and the bundled datasets that need no download."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edgesub._deps import require
from edgesub.config import DataConfig
from edgesub.data.dataset import Dataset, check_split
from edgesub.registry import Registry

DATASETS: Registry[Callable[[DataConfig], Dataset]] = Registry("dataset")


def load_dataset(cfg: DataConfig) -> Dataset:
    """Load the dataset named in ``cfg`` and check every split is usable."""
    cfg.validate()
    dataset = DATASETS.get(cfg.name)(cfg)
    for name, split in dataset.splits().items():
        check_split(name, split, dataset.num_classes)
    return dataset


def stratified_splits(
    n: int, y: np.ndarray, cfg: DataConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded, stratified train/val/test indices; fractions are of the whole dataset."""
    model_selection = require("sklearn.model_selection")
    idx = np.arange(n)
    rest, test = model_selection.train_test_split(
        idx, test_size=cfg.test_fraction, random_state=cfg.seed, stratify=y
    )
    val_share = cfg.val_fraction / (1.0 - cfg.test_fraction)
    train, val = model_selection.train_test_split(
        rest, test_size=val_share, random_state=cfg.seed, stratify=y[rest]
    )
    return np.sort(train), np.sort(val), np.sort(test)


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
        raw=raw,
    )


@DATASETS.register("digits")
def digits(cfg: DataConfig) -> Dataset:
    """sklearn's bundled 8×8 handwritten digits (1797 images, pixel values 0..16)."""
    datasets = require("sklearn.datasets")
    bunch = datasets.load_digits()
    images = bunch.images.reshape(-1, 1, 8, 8)
    labels = [str(c) for c in bunch.target_names]
    return standardised_images("digits", images, bunch.target, 1.0 / 16.0, cfg, labels)
