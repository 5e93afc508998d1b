"""The text student through the converters: int64 token ids, vocab.txt, predict on a string."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from edgesub.cli import cli
from edgesub.config import ConvertConfig
from edgesub.converters import convert, load_manifest
from edgesub.converters.calibration import ArraySplit, text_data
from edgesub.data.tokenizer import PAD, UNK, WordTokenizer, load_tokenizer
from edgesub.errors import ModelFileError
from edgesub.students import build_student

POSITIVE = ["good", "great", "wonderful", "fun", "moving", "delightful", "brilliant", "charming"]
NEGATIVE = ["bad", "awful", "boring", "dull", "tedious", "terrible", "weak", "clumsy"]
FILLER = [
    "the",
    "film",
    "movie",
    "was",
    "a",
    "really",
    "quite",
    "story",
    "acting",
    "plot",
    "and",
    "it",
]
MAX_LENGTH = 12


def _sentences(rng: np.random.Generator, words: list[str], n: int) -> list[str]:
    out = []
    for _ in range(n):
        tokens = [*rng.choice(FILLER, size=int(rng.integers(3, 8))), rng.choice(words)]
        rng.shuffle(tokens)
        out.append(" ".join(tokens))
    return out


@pytest.fixture(scope="module")
def text_model() -> tuple[torch.nn.Module, WordTokenizer, object]:
    """A tiny text student + 2-class head trained briefly on synthetic sentiment sentences."""
    rng = np.random.default_rng(0)
    texts = _sentences(rng, POSITIVE, 200) + _sentences(rng, NEGATIVE, 200)
    y = np.array([1] * 200 + [0] * 200)
    tokenizer = WordTokenizer.build(texts[::2], size=64, max_length=MAX_LENGTH)
    x = tokenizer.encode(texts)
    torch.manual_seed(0)
    student = build_student("text_transformer", 32, 16, (MAX_LENGTH,), vocab_size=64)
    model = torch.nn.Sequential(student, torch.nn.Linear(16, 2))
    optimiser = torch.optim.Adam(model.parameters(), 3e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(60):
        batch = torch.randint(0, len(x), (64,))
        loss = torch.nn.functional.cross_entropy(model(xt[batch]), yt[batch])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    data = text_data(
        tokenizer, ArraySplit(x[::2], y[::2]), ArraySplit(x[1::2], y[1::2]), 2, ["neg", "pos"]
    )
    return model, tokenizer, data


@pytest.fixture(scope="module")
def artifacts(text_model, tmp_path_factory) -> Path:
    model, _, data = text_model
    out = tmp_path_factory.mktemp("text")
    for fmt, precisions in (("onnx", ("fp32", "int8_dynamic")), ("tflite", ("fp32",))):
        cfg = ConvertConfig(formats=(fmt,), precisions=precisions)
        convert(model, data, out / fmt, cfg, name="text", progress=False, measure_latency=False)
    return out


def test_tokenizer_is_deterministic_and_pads() -> None:
    texts = ["The film was GREAT, great fun!", "a dull film"]
    tokenizer = WordTokenizer.build(texts, size=6, max_length=5)
    assert tokenizer.vocab[:2] == (PAD, UNK)
    assert tokenizer.vocab[2:] == ("film", "great", "!", ",")  # by count, then alphabetically
    ids = tokenizer.encode(["great film, unseen words here", "film"])
    assert ids.dtype == np.int64 and ids.shape == (2, 5)
    assert ids.tolist() == [[3, 2, 5, 1, 1], [2, 0, 0, 0, 0]]


def test_vocab_round_trips_and_bad_vocab_is_one_error(tmp_path: Path) -> None:
    tokenizer = WordTokenizer.build(["a b c a"], size=10, max_length=4)
    tokenizer.save(tmp_path)
    loaded = load_tokenizer(tokenizer.record(), tmp_path)
    assert loaded == tokenizer
    (tmp_path / "vocab.txt").write_text("hello\nworld\n")
    with pytest.raises(ModelFileError, match="not an edgesub vocabulary"):
        load_tokenizer(tokenizer.record(), tmp_path)


def test_text_artifacts_verify_and_manifest_names_the_tokenizer(artifacts: Path) -> None:
    for fmt, precisions in (("onnx", {"fp32", "int8_dynamic"}), ("tflite", {"fp32"})):
        manifest = load_manifest(artifacts / fmt / "manifest.json")
        entries = {e["precision"]: e for e in manifest["artifacts"]}
        assert set(entries) == precisions
        assert entries["fp32"]["parity"]["max_abs_diff"] < 1e-4
        assert entries["fp32"]["inputs"][0]["dtype"] in ("int64", "int32")
        pre = manifest["model"]["preprocessing"]
        assert pre == {
            "input": "text",
            "tokenizer": {
                "kind": "word",
                "vocab": "vocab.txt",
                "max_length": 12,
                "lowercase": True,
            },
        }
        assert (artifacts / fmt / "vocab.txt").read_text().startswith("[PAD]\n[UNK]\n")
    dynamic = load_manifest(artifacts / "onnx" / "manifest.json")["artifacts"][1]
    assert dynamic["parity"]["top1_agreement"] >= 95.0
    assert (
        dynamic["size_bytes"]
        < 0.7 * load_manifest(artifacts / "onnx" / "manifest.json")["artifacts"][0]["size_bytes"]
    )


@pytest.mark.parametrize(
    "artifact", ["onnx/text_fp32.onnx", "onnx/text_int8_dynamic.onnx", "tflite/text_fp32.tflite"]
)
@pytest.mark.parametrize("text", ["A really wonderful and moving film", "the plot was dull"])
def test_predict_on_text_agrees_with_torch(text_model, artifacts, artifact, text) -> None:
    model, tokenizer, _ = text_model
    with torch.no_grad():
        logits = model(torch.from_numpy(tokenizer.encode([text])))[0]
    expected = torch.softmax(logits, dim=0).numpy()
    result = CliRunner().invoke(cli, ["predict", str(artifacts / artifact), text, "--json"])
    assert result.exit_code == 0, result.output
    ranked = json.loads(result.output)["predictions"][0]
    assert ranked[0]["label"] == ["neg", "pos"][int(expected.argmax())]
    tolerance = 1e-4 if "fp32" in artifact else 0.05
    assert abs(ranked[0]["score"] - float(expected.max())) < tolerance


def test_predict_text_without_vocab_is_one_error(artifacts, tmp_path: Path) -> None:
    folder = tmp_path / "copy"
    folder.mkdir()
    for name in ("text_fp32.onnx", "manifest.json"):
        (folder / name).write_bytes((artifacts / "onnx" / name).read_bytes())
    result = CliRunner().invoke(cli, ["predict", str(folder / "text_fp32.onnx"), "great film"])
    assert result.exit_code == 1
    assert "tokenizer vocabulary not found" in result.output
