"""`edgesub profile` on many files (issue 14): one with a custom op gets its own line, the
others are profiled into one table, and the exit status says that some failed."""

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_graph_onnx import tiny_cnn

from edgesub.cli import cli
from edgesub.profile.devices import load_devices


def invoke(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def tflite_batch(tmp_path_factory) -> list[Path]:
    """13 real .tflite files (litert-torch) and, third, one whose dense layer is a custom op."""
    torch = pytest.importorskip("torch")
    litert_torch = pytest.importorskip("litert_torch")
    fb = pytest.importorskip("ai_edge_litert.tools.flatbuffer_utils")
    folder = tmp_path_factory.mktemp("batch")
    good = folder / "m00.tflite"
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Flatten(), torch.nn.Linear(144, 3))
    litert_torch.convert(net.eval(), (torch.zeros(1, 1, 8, 8),)).export(str(good))
    model = fb.read_model(str(good))
    schema = fb.schema_fb
    for code in model.operatorCodes:
        if code.builtinCode == schema.BuiltinOperator.FULLY_CONNECTED:
            code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
            code.customCode = "NoSuchOp"
    custom = folder / "m02_custom.tflite"
    fb.write_model(model, str(custom))
    copies = [Path(shutil.copy(good, folder / f"m{i:02d}.tflite")) for i in (1, *range(3, 14))]
    return [good, copies[0], custom, *copies[1:]]


def test_a_custom_op_file_is_one_line_and_the_other_13_are_one_table(tflite_batch):
    result = invoke("profile", *tflite_batch, "--no-measure", "--device", "all")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    devices = load_devices().names()
    table_rows = [line for line in result.stdout.splitlines() if ".tflite " in line]
    assert len(table_rows) == 13 * len(devices)
    assert {line.split()[0] for line in table_rows} == {p.name for p in tflite_batch} - {
        "m02_custom.tflite"
    }
    assert result.stdout.count("Profile per artifact and device") <= 1  # one table (or its pair)
    (failure,) = [line for line in result.stdout.splitlines() if line.startswith("✗")]
    assert failure.startswith(f"✗ {tflite_batch[2]}, estimating on {len(devices)} devices: ")
    assert failure.endswith("m02_custom.tflite: cannot estimate custom op(s) NoSuchOp; no cost "
                            "model is known for them")  # fmt: skip
    last = result.output.strip().splitlines()[-1]
    assert last == "error: 1 of 14 files could not be profiled: m02_custom.tflite"


def test_json_carries_the_failures_and_strict_stops_at_the_first(tflite_batch):
    result = invoke("profile", *tflite_batch[:4], "--no-measure", "--device", "pixel-4", "--json")
    assert result.exit_code == 1, result.output
    rows = json.loads(result.stdout)
    assert [r["artifact"] for r in rows] == [p.name for p in tflite_batch[:4]]
    failed = rows[2]
    assert failed["error"] == "estimate" and failed["device"] == "pixel-4"
    assert "NoSuchOp" in failed["reason"] and "latency_ms" not in failed
    assert "1 of 4 files could not be profiled" in result.stderr
    strict = invoke("profile", *tflite_batch[:4], "--no-measure", "--device", "pixel-4", "--strict")
    assert strict.exit_code == 1
    (line,) = strict.output.strip().splitlines()
    assert line.startswith("error: m02_custom.tflite: cannot estimate custom op(s) NoSuchOp")


def test_a_file_that_cannot_be_measured_keeps_its_estimates(tflite_batch):
    pytest.importorskip("ai_edge_litert")
    args = ["--device", "pixel-4", "--runs", "2", "--warmup", "0", "--json"]
    result = invoke("profile", tflite_batch[0], tflite_batch[2], *args)
    assert result.exit_code == 1, result.output
    pairs = [(r["artifact"], r["device"], r.get("error")) for r in json.loads(result.stdout)]
    assert pairs == [
        ("m00.tflite", "host", None),
        ("m00.tflite", "pixel-4", None),
        ("m02_custom.tflite", "host", "measure"),
        ("m02_custom.tflite", "pixel-4", "estimate"),
    ]


def test_all_files_profiled_is_exit_0_and_a_single_bad_file_is_one_error_line(tmp_path):
    good = tiny_cnn(tmp_path / "a.onnx")
    custom = tiny_cnn(tmp_path / "custom.onnx", custom=True)
    assert invoke("profile", good, good, "--no-measure", "--device", "all").exit_code == 0
    alone = invoke("profile", custom, "--no-measure", "--device", "all")
    assert alone.exit_code == 1
    (line,) = alone.output.strip().splitlines()
    assert line.startswith("error: custom.onnx: cannot estimate custom op(s)")


def test_a_failed_file_with_a_line_break_in_its_name_stays_on_one_line(tmp_path):
    good = tiny_cnn(tmp_path / "a.onnx")
    odd = Path(shutil.copy(tiny_cnn(tmp_path / "c.onnx", custom=True), tmp_path / "new\nline.onnx"))
    result = invoke("profile", good, odd, "--no-measure", "--device", "pixel-4")
    assert result.exit_code == 1
    (failure,) = [line for line in result.stdout.splitlines() if line.startswith("✗")]
    assert "new\\nline.onnx: cannot estimate" in failure
    assert result.stderr.strip().splitlines() == [
        "error: 1 of 2 files could not be profiled: new\\nline.onnx"
    ]
