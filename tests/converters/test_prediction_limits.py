"""`edgesub predict` on hostile or broken input: decompression bombs, manifests declaring huge or
non-finite inputs, FIFOs and NaN weights are one clear error line, never a crash or a score."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

from edgesub.cli import cli
from edgesub.digest import file_sha256

IMAGE_PRE = {
    "input": "image",
    "layout": "NCHW",
    "channels": 1,
    "color": "grey",
    "size": [8, 8],
    "value_range": [0.0, 16.0],
    "scale": 1.0,
    "mean": [0.0],
    "std": [1.0],
}


def _classifier(path: Path, weight: float = 0.01) -> Path:
    """x[1,1,8,8] → Flatten → Gemm(64 → 3), every weight ``weight`` (NaN for a broken one)."""
    nodes = [
        helper.make_node("Flatten", ["x"], ["f"]),
        helper.make_node("Gemm", ["f", "w", "b"], ["y"], transB=1),
    ]
    inits = [
        numpy_helper.from_array(np.full((3, 64), weight, np.float32), "w"),
        numpy_helper.from_array(np.arange(3, dtype=np.float32), "b"),
    ]
    graph = helper.make_graph(
        nodes,
        "classifier",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
        inits,
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def _manifest_text(model: Path, **changes: object) -> str:
    """manifest.json for ``model`` as edgesub writes it, with ``changes`` to its model section."""
    section = {"name": "m", "num_classes": 3, "labels": None, "input_shape": [1, 8, 8]}
    section["preprocessing"] = dict(IMAGE_PRE)
    section.update(changes)
    entry = {
        "file": model.name,
        "format": "onnx",
        "precision": "fp32",
        "size_bytes": model.stat().st_size,
        "sha256": file_sha256(model),
        "inputs": [{"name": "x", "shape": [1, 1, 8, 8], "dtype": "float32"}],
        "outputs": [{"name": "y", "shape": [1, 3], "dtype": "float32"}],
        "parity": None,
    }
    return json.dumps({"schema_version": 1, "model": section, "artifacts": [entry]})


def _error_line(*args: object) -> str:
    result = CliRunner().invoke(cli, ["predict", *map(str, args)])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error: ")
    return line


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = _classifier(tmp_path / "m.onnx")
    (tmp_path / "manifest.json").write_text(_manifest_text(path))
    return path


def test_a_small_picture_still_predicts(model, tmp_path, bomb_png):
    from PIL import Image

    Image.fromarray(np.zeros((16, 16), np.uint8)).save(tmp_path / "ok.png")
    result = CliRunner().invoke(cli, ["predict", str(model), str(tmp_path / "ok.png")])
    assert result.exit_code == 0 and result.output.startswith("1. 2 "), result.output


@pytest.mark.parametrize(
    "size",
    [(20_000, 10_000), (9_000, 8_000), (8_001, 8_000)],  # Pillow: error, warning, nothing
)
def test_a_decompression_bomb_is_one_clear_error(model, tmp_path, bomb_png, size):
    png = bomb_png(tmp_path / "bomb.png", *size)
    line = _error_line(model, png)
    assert "bomb.png" in line and "the limit is 64,000,000" in line


def test_a_manifest_declaring_a_huge_input_is_refused_before_reading(tmp_path, bomb_png):
    path = _classifier(tmp_path / "m.onnx")
    pre = dict(IMAGE_PRE, size=[100_000, 100_000])  # Pillow would allocate ~10 GB for it
    (tmp_path / "manifest.json").write_text(_manifest_text(path, preprocessing=pre))
    line = _error_line(path, bomb_png(tmp_path / "small.png", 8, 8))
    assert "model.preprocessing.size" in line and "the limit is" in line
    (tmp_path / "manifest.json").write_text(_manifest_text(path, input_shape=[3, 100_000, 100_000]))
    line = _error_line(path, bomb_png(tmp_path / "small.png", 8, 8))
    assert "model.input_shape" in line and "the limit is" in line


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_a_manifest_with_non_finite_numbers_is_refused(tmp_path, bomb_png, bad):
    path = _classifier(tmp_path / "m.onnx")
    text = _manifest_text(path).replace('"std": [1.0]', f'"std": [{bad}]')
    (tmp_path / "manifest.json").write_text(text)
    line = _error_line(path, bomb_png(tmp_path / "small.png", 8, 8))
    assert "cannot read manifest" in line and "finite" in line


def test_fifos_are_never_opened_as_input_manifest_or_model(model, tmp_path):
    os.mkfifo(tmp_path / "pipe.png")
    assert "not a regular file" in _error_line(model, tmp_path / "pipe.png")
    os.mkfifo(tmp_path / "pipe.json")
    np.save(tmp_path / "x.npy", np.zeros((1, 8, 8), np.float32))
    line = _error_line(model, tmp_path / "x.npy", "--manifest", tmp_path / "pipe.json")
    assert "not a regular file" in line
    os.mkfifo(tmp_path / "pipe.onnx")
    assert "not a regular file" in _error_line(tmp_path / "pipe.onnx", tmp_path / "x.npy")


def test_nan_weights_fail_predict_instead_of_printing_nan_scores(tmp_path):
    path = _classifier(tmp_path / "nan.onnx", weight=float("nan"))
    np.save(tmp_path / "x.npy", np.ones((1, 8, 8), np.float32))
    line = _error_line(path, tmp_path / "x.npy")
    assert "nan.onnx outputs NaN or infinity" in line
