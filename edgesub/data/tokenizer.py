"""A deterministic word-level tokenizer whose vocabulary travels with the artifact as vocab.txt.

A device must turn text into exactly the ids the model was trained on without Python packages
beyond numpy, so the rule is simple enough to re-implement anywhere: lowercase, split on the
regex below, look each word up in vocab.txt (line number = id), unknown words → [UNK], truncate
or pad with [PAD] (id 0) to ``max_length``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgesub.atomic import atomic_write_text
from edgesub.errors import DataError, ModelFileError
from edgesub.limits import read_text_limited

PAD, UNK = "[PAD]", "[UNK]"
WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]", re.IGNORECASE)
VOCAB_FILE = "vocab.txt"


@dataclass(frozen=True)
class WordTokenizer:
    vocab: tuple[str, ...]  # vocab[0] is [PAD], vocab[1] is [UNK]
    max_length: int
    lowercase: bool = True

    @classmethod
    def build(
        cls, texts: Iterable[str], *, size: int, max_length: int, lowercase: bool = True
    ) -> WordTokenizer:
        """The ``size - 2`` most frequent words (ties broken alphabetically) plus [PAD], [UNK]."""
        counts = Counter(w for text in texts for w in _words(text, lowercase))
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        words = [word for word, _ in ranked[: max(0, size - 2)]]
        return cls((PAD, UNK, *words), max_length, lowercase)

    @property
    def ids(self) -> dict[str, int]:
        return {word: i for i, word in enumerate(self.vocab)}

    def encode(self, texts: Iterable[str]) -> np.ndarray:
        """int64 ids, N × max_length, [PAD]-padded."""
        lookup, unk = self.ids, self.vocab.index(UNK)
        rows = []
        for text in texts:
            ids = [lookup.get(w, unk) for w in _words(text, self.lowercase)][: self.max_length]
            rows.append(ids + [0] * (self.max_length - len(ids)))
        return np.asarray(rows, dtype=np.int64).reshape(-1, self.max_length)

    def record(self) -> dict[str, Any]:
        """The manifest's ``preprocessing.tokenizer`` table."""
        return {
            "kind": "word",
            "vocab": VOCAB_FILE,
            "max_length": self.max_length,
            "lowercase": self.lowercase,
        }

    def save(self, folder: Path) -> Path:
        return atomic_write_text(Path(folder) / VOCAB_FILE, "\n".join(self.vocab) + "\n")


def _words(text: str, lowercase: bool) -> list[str]:
    return WORD.findall(text.lower() if lowercase else text)


def load_tokenizer(record: dict[str, Any], folder: Path) -> WordTokenizer:
    """The tokenizer a manifest's ``preprocessing.tokenizer`` names, vocab read from ``folder``."""
    if record.get("kind") != "word" or "vocab" not in record or "max_length" not in record:
        raise ModelFileError(f"unsupported tokenizer in the manifest: {record}")
    path = Path(folder) / str(record["vocab"])
    vocab = tuple(read_text_limited(path, "tokenizer vocabulary", ModelFileError).splitlines())
    if len(vocab) < 2 or vocab[0] != PAD or UNK not in vocab:
        raise ModelFileError(f"{path} is not an edgesub vocabulary ([PAD] first, then [UNK])")
    return WordTokenizer(vocab, int(record["max_length"]), bool(record.get("lowercase", True)))


def text_input(text: str, record: dict[str, Any], folder: Path) -> np.ndarray:
    """One text as a 1 × max_length batch of token ids."""
    if not text.strip():
        raise DataError("the input text is empty")
    return load_tokenizer(record, folder).encode([text])
