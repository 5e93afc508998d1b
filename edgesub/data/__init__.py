"""Datasets: stratified, seeded splits of bundled data, normalised as the models expect."""

from edgesub.data import mnist, text, user
from edgesub.data.dataset import Dataset, Split, check_split
from edgesub.data.loaders import DATASETS, load_dataset

__all__ = ["DATASETS", "Dataset", "Split", "check_split", "load_dataset", "mnist", "text", "user"]
