"""``--input-shape NAME=dims`` on profile and compare: each named shape binds exactly that input
of a model with several symbolic inputs, in the estimate's graph and in the measurement's
inputs alike; one bare shape still fills every input it fits; a name the model lacks is one
line listing its inputs.

The model is a real 2-input ONNX graph with symbolic dims (attention scores of a query
``x[batch, seq, 4]`` against keys ``y[batch, mem, 4]``), so its MACs depend on both lengths.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper  # noqa: E402

from edgesub.cli import cli  # noqa: E402
from edgesub.errors import ModelFileError  # noqa: E402
from edgesub.profile.formats import load_graph  # noqa: E402
from edgesub.profile.runtimes import InputShapeError, runtime_for, synthesise_inputs  # noqa: E402

WIDTH = 4
NAMED = ("--input-shape", f"x=1,8,{WIDTH}", "--input-shape", f"y=1,5,{WIDTH}")


@pytest.fixture(scope="module")
def scores_onnx(tmp_path_factory) -> Path:
    """scores = x · yᵀ: [batch, seq, mem]; batch, seq and mem symbolic."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "seq", WIDTH])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "mem", WIDTH])
    out = helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", "seq", "mem"])
    nodes = [
        helper.make_node("Transpose", ["y"], ["yt"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["x", "yt"], ["scores"]),
    ]
    graph = helper.make_graph(nodes, "scores", [x, y], [out])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = tmp_path_factory.mktemp("named") / "scores.onnx"
    onnx.save(model, path)
    return path


def macs(graph) -> int:
    return sum(op.macs for op in graph.ops)


def test_named_shapes_bind_exactly_their_input_in_the_graph(scores_onnx) -> None:
    graph = load_graph(scores_onnx, {"x": (1, 8, WIDTH), "y": (1, 5, WIDTH)})
    assert [(spec.name, tuple(spec.shape)) for spec in graph.inputs] == [
        ("x", (1, 8, WIDTH)),
        ("y", (1, 5, WIDTH)),
    ]
    assert macs(graph) == 1 * 8 * 5 * WIDTH
    # one bare shape fills every input it fits: both lengths 8
    assert macs(load_graph(scores_onnx, (1, 8, WIDTH))) == 1 * 8 * 8 * WIDTH
    # a named shape for one input binds only the dims the other shares (batch): the hint for
    # the other names it, and works as given
    with pytest.raises(ModelFileError) as raised:
        load_graph(scores_onnx, {"x": (1, 8, WIDTH)})
    hint = f"--input-shape y=1,128,{WIDTH}"
    assert (
        f"input 'y' has unknown dimensions [1, ?, {WIDTH}]; pass --input-shape (e.g. {hint})"
        in (str(raised.value))
    )
    given = {"x": (1, 8, WIDTH), "y": (1, 128, WIDTH)}
    assert macs(load_graph(scores_onnx, given)) == 1 * 8 * 128 * WIDTH


def test_a_name_the_model_lacks_lists_its_inputs(scores_onnx) -> None:
    with pytest.raises(ModelFileError) as raised:
        load_graph(scores_onnx, {"query": (1, 8, WIDTH)})
    assert str(raised.value) == (
        "scores.onnx: --input-shape names 'query', which is not an input of the model; its "
        f"inputs: x [?, ?, {WIDTH}], y [?, ?, {WIDTH}]"
    )


def test_measurement_inputs_follow_the_named_shapes(scores_onnx) -> None:
    session = runtime_for(scores_onnx).load(scores_onnx, 1)
    feeds = synthesise_inputs(session.inputs, {"x": (1, 8, WIDTH), "y": (1, 5, WIDTH)})
    assert {name: a.shape for name, a in feeds.items()} == {
        "x": (1, 8, WIDTH),
        "y": (1, 5, WIDTH),
    }
    session.prepare(feeds)
    session.run()  # the runtime takes them
    with pytest.raises(InputShapeError, match=r"--input-shape y=1,5,3 does not fit input 'y'"):
        synthesise_inputs(session.inputs, {"x": (1, 8, WIDTH), "y": (1, 5, 3)})


def invoke(*args: str):
    return CliRunner().invoke(cli, [*args], catch_exceptions=False)


def test_profile_measures_and_estimates_at_the_named_shapes(scores_onnx) -> None:
    result = invoke(
        "profile", str(scores_onnx), *NAMED, "--device", "raspberry-pi-5", "--threads", "1",
        "--runs", "5", "--warmup", "1", "--json", "--no-progress",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = {row["device"]: row for row in json.loads(result.output)}
    assert set(rows) == {"raspberry-pi-5", "host"}
    assert rows["raspberry-pi-5"]["macs"] == 1 * 8 * 5 * WIDTH
    assert rows["raspberry-pi-5"]["costed_fraction"] == 1.0
    assert rows["host"]["latency_kind"] == "measured" and rows["host"]["latency_ms"] > 0


def test_compare_estimates_at_the_named_shapes(scores_onnx) -> None:
    result = invoke(
        "compare", str(scores_onnx), *NAMED, "--device", "raspberry-pi-5", "--json",
        "--no-progress",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)["rows"]
    assert row["device"] == "raspberry-pi-5" and np.isfinite(row["latency_ms"])


@pytest.mark.parametrize("command", ["profile", "compare"])
def test_an_unknown_input_name_is_one_line(scores_onnx, command) -> None:
    flags = ("--input-shape", "query=1,8,4", "--device", "raspberry-pi-5", "--no-progress")
    result = invoke(
        command, str(scores_onnx), *flags, *(("--no-measure",) * (command == "profile"))
    )
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert any(
        "--input-shape names 'query', which is not an input of the model; its inputs: x" in line
        for line in lines
    ), result.output


def test_a_bare_shape_beside_named_ones_is_refused() -> None:
    result = invoke("profile", "--input-shape", "1,8,4", "--input-shape", "x=1,8,4", ".")
    assert result.exit_code == 2
    assert "a bare shape is for a single-input model" in result.output
