"""Converters on files edgesub did not make, and the import-cost contract of the package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from edgesub.converters import describe_io, run_artifact  # noqa: E402
from edgesub.converters.onnx_export import quantize_onnx  # noqa: E402
from edgesub.errors import ModelFileError  # noqa: E402

LIGHT_MODELS = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"


def test_onnx_ships_light_models():
    assert (LIGHT_MODELS / "light_squeezenet.onnx").is_file()


def test_dynamic_int8_quantisation_of_a_third_party_onnx_model(tmp_path):
    """SqueezeNet (opset 9, weights built by ConstantOfShape) → dynamic int8 that still runs."""
    src = LIGHT_MODELS / "light_squeezenet.onnx"
    dst = tmp_path / "squeezenet_int8.onnx"
    quantize_onnx(src, dst, "int8_dynamic")

    ops = {node.op_type for node in onnx.load(str(dst)).graph.node}
    assert "ConvInteger" in ops and "Conv" not in ops
    io = describe_io(dst)
    assert [i["name"] for i in io["inputs"]] == ["data_0"]  # dangling weight inputs removed
    assert io["inputs"][0]["shape"] == [1, 3, 224, 224]

    x = np.random.default_rng(0).random((2, 3, 224, 224), dtype=np.float32)
    reference = run_artifact(src, x)
    quantized = run_artifact(dst, x)
    assert quantized.shape == reference.shape == (2, 1000, 1, 1)
    np.testing.assert_allclose(quantized, reference, atol=1e-3)


def test_unknown_or_corrupt_model_files(tmp_path):
    other = tmp_path / "model.pt"
    other.write_bytes(b"x")
    with pytest.raises(ModelFileError, match=r"unsupported model format '\.pt'"):
        run_artifact(other, np.zeros((1, 1), np.float32))
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a protobuf")
    with pytest.raises(ModelFileError, match="cannot load ONNX model"):
        run_artifact(broken, np.zeros((1, 3), np.float32))
    with pytest.raises(ModelFileError, match="not found"):
        run_artifact(tmp_path / "missing.tflite", np.zeros((1, 3), np.float32))


def test_importing_converters_stays_light():
    script = (
        "import sys, edgesub.converters as c; "
        "heavy = [m for m in ('torch', 'onnx', 'onnxruntime', 'litert_torch', 'ai_edge_litert', "
        "'ai_edge_quantizer', 'sklearn', 'tensorflow') if m in sys.modules]; "
        "assert c.artifact_formats() == ['onnx', 'tflite']; print(heavy)"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
