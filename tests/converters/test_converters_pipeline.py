"""convert(): every format × precision exported, verified against torch and published atomically.

One tiny CNN is trained briefly on real digits once per module; the default artifacts
(ONNX/TFLite × fp32/int8) are converted once and inspected by several tests.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tiny_models import trained_tiny_cnn  # noqa: E402

from edgesub.config import ConvertConfig, DataConfig  # noqa: E402
from edgesub.converters import artifact_formats, convert, load_manifest, run_artifact  # noqa: E402
from edgesub.data import load_dataset  # noqa: E402
from edgesub.errors import (  # noqa: E402
    ConfigError,
    ConversionError,
    DataError,
    EdgesubError,
    ModelFileError,
    ParityError,
    UnknownNameError,
)


@pytest.fixture(scope="module")
def digits():
    return load_dataset(DataConfig())


@pytest.fixture(scope="module")
def model(digits) -> torch.nn.Module:
    return trained_tiny_cnn(digits)


@pytest.fixture(scope="module")
def converted(model, digits, tmp_path_factory) -> tuple[Path, list[dict]]:
    out = tmp_path_factory.mktemp("artifacts")
    entries = convert(model, digits, out, ConvertConfig(), progress=False)
    return out, entries


def test_default_artifacts_meet_the_issue_tolerances(converted, digits):
    out, entries = converted
    made = {(e["format"], e["precision"]) for e in entries}
    assert made == {("onnx", "fp32"), ("onnx", "int8"), ("tflite", "fp32"), ("tflite", "int8")}
    for entry in entries:
        parity = entry["parity"]
        assert parity["passed"], entry
        assert (out / entry["file"]).is_file()
        assert entry["parity"]["reference_accuracy"] > 80.0
        if entry["precision"] == "fp32":
            assert parity["max_abs_diff"] <= 1e-4
            assert parity["top1_agreement"] == 100.0
        else:
            assert parity["accuracy_drop"] <= 1.5
            assert parity["top1_agreement"] >= 95.0
        assert entry["convert_seconds"] > 0
        assert entry["inputs"][0]["shape"][1:] == [1, 8, 8]
        assert entry["input_layout"] == "NCHW"
    # int8 files are smaller than fp32 ones of the same format.
    size = {(e["format"], e["precision"]): e["size_bytes"] for e in entries}
    assert size[("onnx", "int8")] < size[("onnx", "fp32")]
    assert size[("tflite", "int8")] < size[("tflite", "fp32")]
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temp files left behind"


def test_manifest_round_trip_and_sha256(converted, digits, tmp_path):
    out, entries = converted
    manifest = load_manifest(out / "manifest.json")
    assert manifest["schema_version"] == 1
    assert manifest["artifacts"] == json.loads(json.dumps(entries))
    assert manifest["model"]["labels"] == digits.labels
    assert manifest["model"]["input_shape"] == [1, 8, 8]
    assert manifest["model"]["preprocessing"]["layout"] == "NCHW"
    tools = {e["format"]: e["tools"] for e in manifest["artifacts"]}
    assert tools["onnx"]["onnxruntime"] and tools["tflite"]["litert-torch"]

    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    target = copy / entries[0]["file"]
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="sha256"):
        load_manifest(copy / "manifest.json")


def test_int8_tflite_has_int8_io_and_runs_from_floats(converted, digits):
    out, entries = converted
    entry = next(e for e in entries if (e["format"], e["precision"]) == ("tflite", "int8"))
    (inp,), (outp,) = entry["inputs"], entry["outputs"]
    assert inp["dtype"] == "int8" and outp["dtype"] == "int8"
    assert inp["quantization"]["scale"] > 0 and outp["quantization"]["scale"] > 0
    assert inp["shape"] == [1, 1, 8, 8]
    logits = run_artifact(out / entry["file"], digits.test.x)
    assert logits.dtype == np.float32 and logits.shape == (len(digits.test.y), 10)
    accuracy = float((logits.argmax(1) == digits.test.y).mean() * 100)
    assert accuracy == pytest.approx(entry["accuracy"])
    # The dequantised logits sit on the output's quantisation grid.
    steps = logits / outp["quantization"]["scale"] + outp["quantization"]["zero_point"]
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-3)


def test_run_artifact_works_without_torch(converted, digits, tmp_path):
    """The runtime-only install (no torch) must run both formats, int8 I/O included."""
    out, entries = converted
    np.save(tmp_path / "x.npy", digits.test.x[:16])
    script = f"""
import sys
sys.modules["torch"] = None  # any import of torch now raises ImportError
import numpy as np
from pathlib import Path
from edgesub.converters import run_artifact
x = np.load({str(tmp_path / "x.npy")!r})
for name in {[e["file"] for e in entries]!r}:
    y = run_artifact(Path({str(out)!r}) / name, x)
    assert y.shape == (16, 10) and y.dtype == np.float32, (name, y.shape)
print("ok")
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")


def test_impossible_tolerance_raises_and_leaves_the_folder_as_it_was(model, digits, tmp_path):
    cfg = ConvertConfig(formats=("onnx",), precisions=("fp32",), fp32_tolerance=1e-12)
    (tmp_path / "manifest.json").write_text("{}")  # the earlier set's manifest
    with pytest.raises(ParityError, match=r"student_fp32\.onnx failed verification") as info:
        convert(model, digits, tmp_path, cfg, progress=False)
    assert info.value.numbers["max_abs_diff"] > 1e-12
    assert info.value.numbers["passed"] is False
    assert list(tmp_path.iterdir()) == [tmp_path / "manifest.json"]
    assert (tmp_path / "manifest.json").read_text() == "{}"


def test_keep_failed_keeps_the_artifact_marked_failed(model, digits, tmp_path):
    cfg = ConvertConfig(
        formats=("onnx",), precisions=("fp32",), fp32_tolerance=1e-12, keep_failed=True
    )
    (entry,) = convert(model, digits, tmp_path, cfg, name="kept", progress=False)
    assert entry["parity"]["passed"] is False
    assert entry["parity"]["tolerance"] == 1e-12
    manifest = load_manifest(tmp_path / "manifest.json")
    assert manifest["artifacts"][0]["file"] == "kept_fp32.onnx"
    assert (tmp_path / "kept_fp32.onnx").is_file()


def _with_train_x(digits, x: np.ndarray) -> SimpleNamespace:
    """A duck-typed dataset whose train inputs are replaced (Dataset would reject NaN itself)."""
    fields = {f.name: getattr(digits, f.name) for f in dataclasses.fields(digits)}
    fields["train"] = SimpleNamespace(x=x, y=digits.train.y)
    return SimpleNamespace(**fields)


def test_nan_in_calibration_data_is_a_clear_error(model, digits, tmp_path):
    x = digits.train.x.copy()
    x[7, 0, 3, 3] = np.nan
    with pytest.raises(DataError, match="sample 7 contains NaN"):
        convert(model, _with_train_x(digits, x), tmp_path, ConvertConfig(), progress=False)
    assert not (tmp_path / "manifest.json").exists()


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (np.zeros((8, 8, 8), dtype=np.float32), r"shape \(8, 8, 8\), the model takes N×1×8×8"),
        (np.zeros((8, 1, 8, 8), dtype=np.float64), "must be float32, got float64"),
    ],
)
def test_wrong_calibration_shape_or_dtype(model, digits, tmp_path, x, message):
    with pytest.raises(DataError, match=message):
        convert(model, _with_train_x(digits, x), tmp_path, ConvertConfig(), progress=False)


def test_unwritable_output_folder(model, digits, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(EdgesubError, match="cannot write artifacts to"):
        convert(model, digits, blocker / "artifacts", ConvertConfig(), progress=False)


def test_unknown_format_or_precision_fails_before_work(model, digits, tmp_path):
    with pytest.raises(UnknownNameError, match="known: onnx, tflite"):
        convert(model, digits, tmp_path, ConvertConfig(formats=("coreml",)), progress=False)
    with pytest.raises(ConfigError, match="no precision 'int4'"):
        convert(model, digits, tmp_path, ConvertConfig(precisions=("int4",)), progress=False)
    assert list(tmp_path.iterdir()) == []


class _Bessel(torch.nn.Module):
    """An op neither exporter handles: aten::special_bessel_j0."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.special.bessel_j0(x).flatten(1)[:, :10]


def test_unsupported_op_names_the_op_and_the_alternative(digits, tmp_path):
    cfg = ConvertConfig(formats=("onnx",), precisions=("fp32",))
    with pytest.raises(ConversionError, match=r"aten::special_bessel_j0.*'tflite' format"):
        convert(_Bessel(), digits, tmp_path, cfg, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_unsupported_op_in_tflite(digits, tmp_path):
    cfg = ConvertConfig(formats=("tflite",), precisions=("fp32",))
    with pytest.raises(ConversionError, match=r"special_bessel_j0.*'onnx' format"):
        convert(_Bessel(), digits, tmp_path, cfg, progress=False)


def test_fp16_and_dynamic_int8_on_both_formats(model, digits, tmp_path):
    cfg = ConvertConfig(precisions=("fp16", "int8_dynamic"))
    entries = convert(model, digits, tmp_path, cfg, progress=False)
    assert len(entries) == 2 * len(artifact_formats())
    for entry in entries:
        assert entry["parity"]["passed"], entry
        assert entry["parity"]["max_abs_diff"] < 1.0
        assert entry["inputs"][0]["dtype"] == "float32"


def test_float_io_rewrite_keeps_the_integer_core(converted, digits, tmp_path):
    """QUANTIZE/DEQUANTIZE at the boundary: float32 I/O, the same logits as the int8-I/O file."""
    from edgesub.converters import describe_io
    from edgesub.converters.tflite_io import with_float_io
    from edgesub.profile.formats import load_graph

    out, _ = converted
    source = out / "student_int8.tflite"
    target = tmp_path / "float_io.tflite"
    target.write_bytes(with_float_io(source.read_bytes()))
    io = describe_io(target)
    assert [t["dtype"] for t in io["inputs"] + io["outputs"]] == ["float32", "float32"]
    assert io["inputs"][0]["quantization"] is None and io["inputs"][0]["shape"] == [1, 1, 8, 8]
    assert io["inputs"][0]["name"] == describe_io(source)["inputs"][0]["name"]
    np.testing.assert_array_equal(
        run_artifact(target, digits.test.x), run_artifact(source, digits.test.x)
    )
    ops = [op.op_type for op in load_graph(target).ops]
    assert ops[0] == "QUANTIZE" and ops[-1] == "DEQUANTIZE"
    assert len(ops) == len(load_graph(source).ops) + 2


def test_float_io_option_makes_pt2e_int8_take_floats(model, digits, tmp_path):
    cfg = ConvertConfig(formats=("tflite",), precisions=("int8",), float_io=True)
    (entry,) = convert(model, digits, tmp_path, cfg, progress=False, measure_latency=False)
    assert entry["parity"]["passed"] and entry["inputs"][0]["dtype"] == "float32"
    assert entry["outputs"][0]["dtype"] == "float32"


def test_fixed_batch_onnx_has_batch_one_and_still_verifies(model, digits, tmp_path):
    cfg = ConvertConfig(formats=("onnx",), precisions=("fp32", "int8"), dynamic_batch=False)
    entries = convert(model, digits, tmp_path, cfg, progress=False, measure_latency=False)
    for entry in entries:
        assert entry["inputs"][0]["shape"] == [1, 1, 8, 8], entry["file"]
        assert entry["outputs"][0]["shape"] == [1, 10], entry["file"]
        assert entry["parity"]["passed"]


def test_uint8_activations_option_quantises_activations_unsigned(model, digits, tmp_path):
    import onnx

    cfg = ConvertConfig(formats=("onnx",), precisions=("int8",), onnx_int8_activations="uint8")
    (entry,) = convert(model, digits, tmp_path, cfg, progress=False, measure_latency=False)
    assert entry["parity"]["passed"]
    graph = onnx.load(str(tmp_path / entry["file"])).graph
    initializers = {t.name: t for t in graph.initializer}
    zero_points = [
        initializers[node.input[2]].data_type
        for node in graph.node
        if node.op_type == "QuantizeLinear" and len(node.input) == 3
    ]
    assert zero_points and set(zero_points) == {onnx.TensorProto.UINT8}
    with pytest.raises(ConfigError, match="onnx_int8_activations must be int8 or uint8"):
        ConvertConfig(onnx_int8_activations="int4").validate()
