"""Keras / SavedModel sources: TFLite via TensorFlow's converter, verified, runnable by predict."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgesub.cli import cli


@pytest.fixture(scope="module")
def keras_model(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A tiny NHWC CNN trained briefly on sklearn digits, saved as .keras and as a SavedModel."""
    pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[..., None]
    y = digits.target
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(10),
        ]
    )
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile("adam", loss)
    model.fit(x[:1500], y[:1500], epochs=25, batch_size=64, verbose=0)
    root = tmp_path_factory.mktemp("keras")
    model.save(root / "digits.keras")
    model.export(str(root / "digits_saved"), verbose=False)
    held = x[1500:1700]
    np.save(root / "calibration.npy", held)
    keras_top1 = np.asarray(model(held[:40], training=False)).argmax(axis=1)
    assert (keras_top1 == y[1500:1540]).mean() > 0.8  # the model really learned digits
    np.save(root / "probe.npy", held[:40])
    return {"root": root, "top1": keras_top1}


def _convert(source: Path, out: Path, cal: Path, *extra: str) -> list[dict]:
    args = ["convert", str(source), "--out", str(out), "--calibration", str(cal), "--json"]
    result = CliRunner().invoke(cli, [*args, "--no-progress", *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.output[result.output.index("[") :])


def _predicted(artifact: Path, probe: Path) -> np.ndarray:
    result = CliRunner().invoke(cli, ["predict", str(artifact), str(probe), "--json", "--top", "1"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output[result.output.index("{") :])
    return np.array([ranked[0]["index"] for ranked in payload["predictions"]])


def test_keras_file_converts_fp32_and_int8_with_parity(keras_model: dict, tmp_path: Path) -> None:
    root = keras_model["root"]
    entries = _convert(root / "digits.keras", tmp_path, root / "calibration.npy")
    by_precision = {e["precision"]: e for e in entries}
    assert set(by_precision) == {"fp32", "int8"}
    assert by_precision["fp32"]["parity"]["max_abs_diff"] < 1e-4
    assert by_precision["int8"]["parity"]["top1_agreement"] >= 95.0
    assert by_precision["int8"]["inputs"][0]["dtype"] == "int8"  # full-integer I/O by default
    assert by_precision["int8"]["size_bytes"] < by_precision["fp32"]["size_bytes"]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["model"]["source"]["kind"] == "keras"
    assert manifest["model"]["output_kind"] == "logits"  # Dense(10), trained from logits
    assert manifest["model"]["preprocessing"] == {"layout": "NHWC"}
    assert all(a["input_layout"] == "NHWC" for a in manifest["artifacts"])
    probe, top1 = root / "probe.npy", keras_model["top1"]
    assert (_predicted(tmp_path / "digits_fp32.tflite", probe) == top1).all()
    assert (_predicted(tmp_path / "digits_int8.tflite", probe) == top1).mean() >= 0.95


def test_saved_model_directory_converts_all_precisions(keras_model: dict, tmp_path: Path) -> None:
    root = keras_model["root"]
    precisions = ("fp32", "fp16", "int8_dynamic", "int8")
    extra = [arg for p in precisions for arg in ("--precision", p)]
    entries = _convert(
        root / "digits_saved", tmp_path, root / "calibration.npy", *extra, "--float-io"
    )
    by_precision = {e["precision"]: e for e in entries}
    assert set(by_precision) == set(precisions)
    assert by_precision["fp32"]["parity"]["max_abs_diff"] < 1e-4
    assert by_precision["fp16"]["parity"]["max_abs_diff"] < 1e-2
    assert by_precision["int8"]["inputs"][0]["dtype"] == "float32"  # --float-io
    for precision in ("int8_dynamic", "int8"):
        assert by_precision[precision]["parity"]["top1_agreement"] >= 95.0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["model"]["source"]["kind"] == "saved_model"
    top1 = _predicted(tmp_path / "digits_saved_int8.tflite", root / "probe.npy")
    assert (top1 == keras_model["top1"]).mean() >= 0.95


def test_keras_source_rejects_onnx_format(keras_model: dict, tmp_path: Path) -> None:
    root = keras_model["root"]
    args = ["convert", str(root / "digits.keras"), "--format", "onnx", "--out", str(tmp_path)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code != 0
    assert "converts to TFLite only" in result.output


def test_missing_tensorflow_names_the_extra(tmp_path: Path) -> None:
    model = tmp_path / "model.keras"
    model.write_bytes(b"not read: tensorflow is missing first")
    code = (
        "import sys; sys.modules['tensorflow'] = None\n"
        "from edgesub.cli import main\n"
        f"sys.argv = ['edgesub', 'convert', {str(model)!r}, '--out', {str(tmp_path / 'o')!r}]\n"
        "main()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    lines = [line for line in result.stderr.strip().splitlines() if line]
    assert len(lines) == 1, result.stderr
    assert "pip install 'edgesub[tensorflow]'" in lines[0]


def test_corrupt_keras_file_is_one_clear_error(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"PK\x03\x04 truncated zip")
    result = CliRunner().invoke(cli, ["convert", str(broken), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert result.output.startswith("error: cannot load Keras model"), result.output
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_a_keras_softmax_keeps_its_probabilities(tmp_path: Path) -> None:
    """Dense(softmax): recorded as probabilities, and predict shows the model's own numbers."""
    pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(10, "softmax")]
    )
    model.save(tmp_path / "soft.keras")
    args = ["convert", str(tmp_path / "soft.keras"), "--out", str(tmp_path / "out")]
    result = CliRunner().invoke(cli, [*args, "--precision", "fp32", "--no-progress"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["model"]["output_kind"] == "probabilities"
    x = np.random.default_rng(1).standard_normal((1, 8, 8, 1)).astype(np.float32) * 3
    np.save(tmp_path / "x.npy", x)
    expected = np.asarray(model(x, training=False))[0]
    artifact = str(tmp_path / "out" / "soft_fp32.tflite")
    result = CliRunner().invoke(cli, ["predict", artifact, str(tmp_path / "x.npy"), "--json"])
    payload = json.loads(result.output[result.output.index("{") :])
    ranked = sorted(payload["predictions"][0], key=lambda r: r["index"])
    top = np.argsort(-expected)[:5]
    assert [r["index"] for r in ranked] == sorted(int(i) for i in top)
    assert np.abs(np.array([r["score"] for r in ranked]) - expected[sorted(top)]).max() <= 1e-6
