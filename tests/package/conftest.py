"""Real artifacts to package: a tiny CNN trained on digits (ONNX/TFLite × fp32/int8, with the
manifest and recommendations `convert` writes), a tiny text model, and the digits test split
written as RGB PNG files, the kind of picture a phone or a Pi camera hands over."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
Image = pytest.importorskip("PIL.Image")

from tiny_models import trained_tiny_cnn  # noqa: E402

from edgesub.config import ConvertConfig, DataConfig  # noqa: E402
from edgesub.converters import convert  # noqa: E402
from edgesub.converters.calibration import ArraySplit, text_data  # noqa: E402
from edgesub.converters.preprocessing import preprocessing_record  # noqa: E402
from edgesub.data import load_dataset  # noqa: E402
from edgesub.data.tokenizer import WordTokenizer  # noqa: E402


@pytest.fixture(scope="session")
def digits():
    return load_dataset(DataConfig())


@pytest.fixture(scope="session")
def model(digits):
    return trained_tiny_cnn(digits, epochs=8)


@pytest.fixture(scope="session")
def artifacts(model, digits, tmp_path_factory) -> Path:
    """A folder like a run's artifacts/: four verified files, manifest.json, recommendations."""
    out = tmp_path_factory.mktemp("artifacts")
    cfg = ConvertConfig(formats=("onnx", "tflite"), precisions=("fp32", "int8"))
    convert(model, digits, out, cfg, progress=False)
    return out


def write_digit_pngs(digits, folder: Path) -> list[Path]:
    """The test split as 8-bit RGB PNGs: raw values 0..16 mapped linearly onto 0..255."""
    pre = preprocessing_record(digits)
    low, high = pre["value_range"]
    raw = (digits.test.x[:, 0] * pre["std"][0] + pre["mean"][0]) / pre["scale"]
    pixels = np.round((raw - low) / (high - low) * 255).astype(np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, grey in enumerate(pixels):
        paths.append(folder / f"digit_{i:03d}.png")
        Image.fromarray(np.stack([grey] * 3, axis=-1)).save(paths[-1])
    return paths


@pytest.fixture(scope="session")
def images(digits, tmp_path_factory) -> list[Path]:
    return write_digit_pngs(digits, tmp_path_factory.mktemp("images"))


@pytest.fixture(scope="session")
def text_artifacts(tmp_path_factory) -> Path:
    """An untrained 2-class bag-of-embeddings text model as ONNX, with its vocab.txt."""
    texts = ["a good film", "a bad film", "great fun", "dull and slow", "good acting"]
    tokenizer = WordTokenizer.build(texts, size=16, max_length=6)
    x = tokenizer.encode(texts)
    split = ArraySplit(x, np.array([1, 0, 1, 0, 1]))
    data = text_data(tokenizer, split, split, 2, ["negative", "positive"])
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Embedding(16, 4), torch.nn.Flatten(), torch.nn.Linear(4 * 6, 2)
    ).eval()
    out = tmp_path_factory.mktemp("text")
    cfg = ConvertConfig(formats=("onnx",), precisions=("fp32",))
    convert(net, data, out, cfg, name="review", progress=False, measure_latency=False)
    return out
