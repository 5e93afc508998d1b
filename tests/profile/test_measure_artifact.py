"""measure_artifact on real tiny .onnx and .tflite models, each measured in a real child process."""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgesub.errors import EdgesubError, ModelFileError
from edgesub.profile import measure as measure_mod
from edgesub.profile.measure import measure_artifact
from edgesub.profile.runtimes import InputShapeError

FIXTURES = Path(__file__).parent / "fixtures"
# No time floor in tests: exactly `runs` timed runs, and fast.
measure_fast = functools.partial(measure_artifact, min_time_s=0.0)
KEYS = {
    "latency_ms",
    "latency_p90_ms",
    "latency_std_ms",
    "latency_min_ms",
    "runs",
    "threads",
    "peak_memory_mb",
    "runtime",
    "runtime_version",
    "energy_mj",
    "energy_kind",
    "power_sensor",
}


def _onnx_model(
    path: Path, batch: int | str = 1, input_type: str = "float", features: int | str = 16
) -> Path:
    """x[batch,16] · W[16,32] + b, optionally fed as uint8 through a Cast."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = [
        numpy_helper.from_array(rng.standard_normal((16, 32)).astype(np.float32), "w"),
        numpy_helper.from_array(rng.standard_normal(32).astype(np.float32), "b"),
    ]
    nodes = [
        helper.make_node("MatMul", ["xf", "w"], ["h"]),
        helper.make_node("Add", ["h", "b"], ["y"]),
    ]
    if input_type == "uint8":
        nodes.insert(0, helper.make_node("Cast", ["x"], ["xf"], to=TensorProto.FLOAT))
        elem = TensorProto.UINT8
    else:
        nodes[0].input[0] = "x"
        elem = TensorProto.FLOAT
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", elem, [batch, features])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 32])],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("onnx")
    return {
        "fixed": _onnx_model(base / "fixed.onnx"),
        "dynamic_batch": _onnx_model(base / "dynamic_batch.onnx", batch="N"),
        "dynamic": _onnx_model(base / "dynamic.onnx", batch="N", features="F"),
        "uint8": _onnx_model(base / "uint8.onnx", input_type="uint8"),
    }


def _int8_tflite_model(path: Path, dynamic: bool = False) -> Path:
    """A one-op TFLite graph, DEQUANTIZE(int8 x[1,4], scale 0.05, zero point -3), built with the
    flatbuffer schema ai-edge-litert ships: a quantised input without needing torch (fast).

    ``dynamic`` marks both dims unknown ([?, ?]), so a shape must be given."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    def tensor(name: str, ttype: int, buffer: int, quant: tuple[float, int] | None):
        t = schema.TensorT()
        t.name, t.shape, t.type, t.buffer = name, [1, 4], ttype, buffer
        if dynamic:
            t.shapeSignature = [-1, -1]
        if quant is not None:
            t.quantization = schema.QuantizationParametersT()
            t.quantization.scale, t.quantization.zeroPoint = [quant[0]], [quant[1]]
        return t

    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.DEQUANTIZE
    code.version = 2
    op = schema.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0], [1]
    graph = schema.SubGraphT()
    graph.name, graph.inputs, graph.outputs, graph.operators = "main", [0], [1], [op]
    graph.tensors = [
        tensor("x", schema.TensorType.INT8, 1, (0.05, -3)),
        tensor("y", schema.TensorType.FLOAT32, 2, None),
    ]
    model = schema.ModelT()
    model.version, model.description = 3, "edgesub test"
    model.buffers = [schema.BufferT() for _ in range(3)]
    model.operatorCodes, model.subgraphs = [code], [graph]
    flatbuffer_utils.write_model(model, str(path))
    return path


@pytest.fixture(scope="session")
def tflite_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("tflite")
    return {
        "fixed": _int8_tflite_model(base / "int8.tflite"),
        "dynamic": _int8_tflite_model(base / "int8_dynamic.tflite", dynamic=True),
    }


@pytest.fixture(scope="session")
def converted_tflite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny torch MLP converted by litert-torch (~15-25 s here, so its test is slow)."""
    torch = pytest.importorskip("torch")
    litert_torch = pytest.importorskip("litert_torch")
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    path = tmp_path_factory.mktemp("tflite_torch") / "tiny.tflite"
    litert_torch.convert(module.eval(), (torch.randn(1, 4),)).export(str(path))
    return path


def _check_result(result: dict, threads: int, runs: int) -> None:
    assert set(result) >= KEYS
    assert result["runs"] == runs and result["threads"] == threads
    assert 0 < result["latency_min_ms"] <= result["latency_ms"] <= result["latency_p90_ms"]
    assert result["latency_std_ms"] >= 0
    assert result["peak_memory_mb"] >= 0
    assert result["energy_kind"] in {"measured", "unavailable"}
    assert (result["energy_mj"] is None) == (result["energy_kind"] == "unavailable")
    assert result["runtime_version"] and result["runtime_version"] != "unknown"


def test_onnx_measurement(models: dict[str, Path]) -> None:
    result = measure_fast(models["fixed"], warmup=3, runs=30)
    _check_result(result, threads=1, runs=30)
    assert result["runtime"] == "onnxruntime"
    assert result["latency_kind"] == result["memory_kind"] == "measured"
    assert "op_profile" not in result


def test_time_floor_adds_runs(models: dict[str, Path]) -> None:
    result = measure_artifact(models["fixed"], warmup=1, runs=5, min_time_s=0.2)
    assert result["runs"] > 5  # a ~10 µs model needs thousands of runs to fill 0.2 s
    _check_result(result, threads=1, runs=result["runs"])


def test_peak_memory_grows_with_the_weights(tmp_path: Path, models: dict[str, Path]) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = np.ones((2048, 2048), np.float32)  # 16 MiB of initializer
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "big",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2048])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2048])],
        [numpy_helper.from_array(weight, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "big.onnx")
    big = measure_fast(tmp_path / "big.onnx", warmup=1, runs=3)["peak_memory_mb"]
    tiny = measure_fast(models["fixed"], warmup=1, runs=3)["peak_memory_mb"]
    assert big >= tiny + 16


def test_child_memory_is_not_inherited_from_a_large_parent(models: dict[str, Path]) -> None:
    """Linux carries ru_maxrss across exec; the child's VmHWM must not see this 256 MiB."""
    ballast = np.ones(256 * 2**20 // 8)
    report = measure_mod._run_child("baseline", models["fixed"], [], 120.0)
    assert ballast.sum() > 0
    assert report["vmhwm_kb"] < 200 * 1024


def test_threads_are_passed_to_the_runtime(models: dict[str, Path]) -> None:
    result = measure_fast(models["fixed"], threads=2, warmup=1, runs=5)
    assert result["threads"] == 2  # read back from the ORT session options in the child


def test_integer_inputs_are_synthesised(models: dict[str, Path]) -> None:
    _check_result(measure_fast(models["uint8"], warmup=1, runs=5), threads=1, runs=5)


def test_dynamic_batch_is_measured_at_batch_one(models: dict[str, Path]) -> None:
    _check_result(measure_fast(models["dynamic_batch"], warmup=1, runs=3), threads=1, runs=3)


def test_dynamic_input_needs_a_shape(models: dict[str, Path]) -> None:
    with pytest.raises(InputShapeError, match=r"--input-shape"):
        measure_fast(models["dynamic"], warmup=1, runs=3)
    result = measure_fast(models["dynamic"], warmup=1, runs=3, input_shape=(4, 16))
    _check_result(result, threads=1, runs=3)
    with pytest.raises(InputShapeError, match="fits no model input"):
        measure_fast(models["dynamic"], warmup=1, runs=3, input_shape=(1, 1, 16))


def test_op_profile_sums_kernel_time_per_op_type(models: dict[str, Path]) -> None:
    result = measure_fast(models["fixed"], warmup=2, runs=20, op_profile=True)
    profile = result["op_profile"]
    assert profile and all(ms > 0 for ms in profile.values())
    # MatMul+Add is fused into Gemm by ORT's optimiser, or kept as the two ops.
    assert set(profile) <= {"Gemm", "MatMul", "Add", "FusedMatMul"}
    # kernel time per inference cannot exceed the slowest whole inference by much
    assert sum(profile.values()) < 10 * result["latency_p90_ms"]


@pytest.mark.parametrize(
    ("name", "content", "error"),
    [
        ("corrupt.onnx", b"\x08\x07garbage-not-a-protobuf" * 8, ModelFileError),
        ("corrupt.tflite", b"TFL3" + b"\x00\xff" * 64, ModelFileError),
        ("empty.onnx", b"", ModelFileError),
        ("model.pt", b"\x80\x04", ModelFileError),
    ],
)
def test_bad_files_raise_clear_errors(
    tmp_path: Path, name: str, content: bytes, error: type[Exception]
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(error) as info:
        measure_fast(path, warmup=0, runs=1)
    assert "\n" not in str(info.value) and path.name in str(info.value)


def test_missing_file_and_bad_arguments(tmp_path: Path, models: dict[str, Path]) -> None:
    with pytest.raises(ModelFileError, match="not found"):
        measure_fast(tmp_path / "absent.onnx")
    with pytest.raises(EdgesubError, match="threads"):
        measure_fast(models["fixed"], threads=0)


def test_truncated_onnx_is_a_model_file_error(tmp_path: Path, models: dict[str, Path]) -> None:
    data = models["fixed"].read_bytes()
    path = tmp_path / "truncated.onnx"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match=r"truncated\.onnx"):
        measure_fast(path, warmup=0, runs=1)


def test_child_timeout_is_reported(models: dict[str, Path]) -> None:
    with pytest.raises(EdgesubError, match=r"timed out after 0\.01 s"):
        measure_fast(models["fixed"], timeout_s=0.01)


def test_child_crash_reports_its_last_stderr_line(models: dict[str, Path]) -> None:
    with pytest.raises(EdgesubError, match=r"failed \(exit status 2\).*invalid choice"):
        measure_mod._run_child("no-such-mode", models["fixed"], [], 60.0)


def test_measured_energy_from_a_sampled_sensor(models: dict[str, Path]) -> None:
    """The hwmon fixture reads a constant 5.048 V × 1.144 A on VDD_IN; energy = P × time/run."""
    power_w = 5.048 * 1.144
    result = measure_fast(models["fixed"], warmup=2, runs=20, power_root=FIXTURES / "jetson_hwmon")
    assert result["energy_kind"] == "measured"
    assert result["power_sensor"] == "ina3221-hwmon (VDD_IN)"
    # energy / power is the energy loop's mean time per run: the same order as the latency
    # loop's runs (the two loops run at different moments, so load shifts either one).
    ms_per_run = result["energy_mj"] / power_w
    assert 0.25 * result["latency_min_ms"] <= ms_per_run <= 100 * result["latency_p90_ms"]
    # constant power: idle equals busy, so nothing is left above idle
    assert result["idle_power_w"] == pytest.approx(power_w, rel=0.01)
    assert result["energy_dynamic_mj"] == pytest.approx(0.0, abs=0.02 * result["energy_mj"])


def test_measurement_needs_no_torch_or_onnx(models: dict[str, Path], tmp_path: Path) -> None:
    """The child path runs on a runtime-only install: torch/onnx imports are made to fail."""
    code = (
        "import sys\n"
        "for name in ('torch', 'onnx', 'litert_torch', 'tensorflow'):\n"
        "    sys.modules[name] = None\n"
        "from edgesub.profile import _child\n"
        f"sys.exit(_child.main(['--mode=measure', '--path={models['fixed']}',"
        f" '--out={tmp_path / 'out.json'}', '--runs=3', '--warmup=1']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert '"latency_ms"' in (tmp_path / "out.json").read_text()


def test_tflite_measurement_with_a_quantised_input(tflite_models: dict[str, Path]) -> None:
    result = measure_fast(tflite_models["fixed"], threads=2, warmup=3, runs=30)
    _check_result(result, threads=2, runs=30)
    assert result["runtime"] == "ai-edge-litert"
    with pytest.raises(EdgesubError, match=r"only available for \.onnx"):
        measure_fast(tflite_models["fixed"], op_profile=True)


def test_tflite_dynamic_input_is_resized(tflite_models: dict[str, Path]) -> None:
    with pytest.raises(InputShapeError, match="--input-shape"):
        measure_fast(tflite_models["dynamic"], warmup=1, runs=3)
    result = measure_fast(tflite_models["dynamic"], warmup=1, runs=3, input_shape=(8, 4))
    _check_result(result, threads=1, runs=3)


def test_truncated_tflite_is_a_model_file_error(
    tmp_path: Path, tflite_models: dict[str, Path]
) -> None:
    data = tflite_models["fixed"].read_bytes()
    path = tmp_path / "truncated.tflite"
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(ModelFileError, match=r"truncated\.tflite"):
        measure_fast(path, warmup=0, runs=1)


@pytest.mark.slow
def test_converted_tflite_measurement(converted_tflite: Path) -> None:
    result = measure_fast(converted_tflite, warmup=3, runs=30)
    _check_result(result, threads=1, runs=30)
    assert result["runtime"] == "ai-edge-litert"
