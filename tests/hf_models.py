"""Real tiny Hugging Face classifiers, trained here on small real tasks and saved with
save_pretrained: what a user hands edgesub as ``hf:DIR`` (shared by the hf-source and the
given-teacher tests)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

POSITIVE = ["good", "great", "lovely", "superb", "fine", "brilliant"]
NEGATIVE = ["bad", "awful", "dull", "terrible", "boring", "poor"]
FILLER = ["the", "movie", "was", "plot", "acting", "film", "story", "really", "quite", "and"]
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def sentences(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Filler words with one sentiment word somewhere: label 1 for a positive one."""
    rng = np.random.default_rng(seed)
    texts, labels = [], rng.integers(0, 2, n)
    for label in labels:
        words = list(rng.choice(FILLER, rng.integers(2, 7)))
        words.insert(rng.integers(0, len(words) + 1), rng.choice((NEGATIVE, POSITIVE)[label]))
        texts.append(" ".join(words))
    return np.array(texts), labels


def fit(model, batches, steps: int, lr: float) -> None:
    """A few AdamW steps on (inputs, labels) batches; the model ends in eval mode."""
    import torch

    torch.manual_seed(0)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    for step in range(steps):
        inputs, labels = batches(step)
        loss = torch.nn.functional.cross_entropy(model(**inputs).logits, labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()


def save_bert(folder: Path) -> Path:
    """A 2-layer, 32-wide BertForSequenceClassification (neg/pos) with its WordPiece tokenizer,
    fine-tuned on :func:`sentences`."""
    import torch
    import transformers

    (folder / "vocab.txt").write_text("\n".join(SPECIALS + POSITIVE + NEGATIVE + FILLER) + "\n")
    # transformers 5 ignores BertTokenizer(vocab_file=...); from_pretrained reads vocab.txt
    tokenizer = transformers.BertTokenizer.from_pretrained(folder)
    config = transformers.BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=2,
        id2label={0: "neg", 1: "pos"},
        label2id={"neg": 0, "pos": 1},
    )
    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(config)
    texts, labels = sentences(512, seed=0)

    def batch(step):
        rows = slice(32 * (step % 16), 32 * (step % 16 + 1))
        tokens = tokenizer(list(texts[rows]), padding=True, return_tensors="pt")
        return dict(tokens), torch.as_tensor(labels[rows])

    with torch.random.fork_rng():
        fit(model, batch, steps=80, lr=3e-3)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def digit_pictures(classes: int) -> tuple[np.ndarray, np.ndarray]:
    """sklearn's 8×8 digits below ``classes`` as 32×32 RGB pictures with 0..255 values."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    keep = digits.target < classes
    grey = np.kron(np.rint(digits.images[keep] * (255 / 16)), np.ones((4, 4)))  # N×32×32
    return np.repeat(grey[:, None], 3, axis=1).astype(np.float32), digits.target[keep]


def save_vit(folder: Path, classes: int = 3, *, steps: int = 60, named: bool = False) -> Path:
    """A 2-layer, 32-wide ViTForImageClassification on 32×32 RGB digits (mean/std 0.5) with its
    image processor, fine-tuned on the digits below ``classes``; ``named`` labels its classes
    "0", "1", ... as the bundled digits dataset does."""
    import torch
    import transformers

    processor = transformers.ViTImageProcessor(
        size={"height": 32, "width": 32}, image_mean=[0.5] * 3, image_std=[0.5] * 3
    )
    names = {"id2label": {i: str(i) for i in range(classes)}} if named else {}
    config = transformers.ViTConfig(
        image_size=32,
        patch_size=8,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        num_channels=3,
        num_labels=classes,
        **names,
    )
    torch.manual_seed(0)
    model = transformers.ViTForImageClassification(config)
    pixels, labels = digit_pictures(classes)
    n = 40 * 10
    x = torch.from_numpy((pixels[:n] / 255 - 0.5) / 0.5)

    def batch(step):
        rows = slice(40 * (step % 10), 40 * (step % 10 + 1))
        return {"pixel_values": x[rows]}, torch.as_tensor(labels[:n][rows])

    with torch.random.fork_rng():
        fit(model, batch, steps=steps, lr=3e-3)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
