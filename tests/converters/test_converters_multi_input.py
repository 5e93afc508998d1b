"""`edgesub convert` of ONNX files with any input signature, exported outside edgesub.

A token-id embedding + attention mask → classifier (torch.onnx.export, dynamic batch and
sequence axes) and an int32-ids + bool-mask model written with onnx.helper are converted from the
CLI, verified against the source in ONNX Runtime on the same feeds, described input by input in
the manifest, and profiled. Data comes as .npz by input name, labels as .npy.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from edgesub.cli import cli  # noqa: E402
from edgesub.converters import feeds as feeds_mod  # noqa: E402

VOCAB, SEQ, CLASSES, SAMPLES = 50, 16, 3, 40


def invoke(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def one_error_line(result) -> str:
    """The single 'error:' line of a failed command (no traceback)."""
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.output
    return lines[0]


class TokenClassifier(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(VOCAB, 8)
        self.fc = torch.nn.Linear(8, CLASSES)

    def forward(self, input_ids, attention_mask):
        h = self.emb(input_ids)
        m = attention_mask.unsqueeze(-1).to(h.dtype)
        return self.fc((h * m).sum(1) / m.sum(1).clamp(min=1))


@pytest.fixture(scope="module")
def bert_like(tmp_path_factory):
    """(model.onnx, data.npz, labels.npy): labels are the model's own top
    class, wrong on every even sample, so accuracy differs from agreement."""
    folder = tmp_path_factory.mktemp("bert_like")
    torch.manual_seed(0)
    model = TokenClassifier().eval()
    path = folder / "bert_like.onnx"
    sample = (torch.randint(0, VOCAB, (2, SEQ)), torch.ones(2, SEQ, dtype=torch.int64))
    axes = {0: "batch", 1: "sequence"}
    torch.onnx.export(
        model,
        sample,
        str(path),
        dynamo=False,
        opset_version=17,
        input_names=["input_ids", "attention_mask"],
        output_names=["logits"],
        dynamic_axes={"input_ids": axes, "attention_mask": axes, "logits": {0: "batch"}},
    )
    rng = np.random.default_rng(1)
    ids = rng.integers(0, VOCAB, (SAMPLES, SEQ))
    mask = np.ones((SAMPLES, SEQ), np.int64)
    mask[:, 12:] = 0
    data = folder / "data.npz"
    np.savez(data, input_ids=ids, attention_mask=mask)
    with torch.no_grad():
        y = model(torch.from_numpy(ids), torch.from_numpy(mask)).argmax(1).numpy()
    y[::2] = (y[::2] + 1) % CLASSES
    labels = folder / "y.npy"
    np.save(labels, y)
    return path, data, labels


@pytest.fixture(scope="module")
def bool_mask_model(tmp_path_factory) -> Path:
    """int32 token ids [N, 8] and a bool mask [N, 8] → masked mean embedding → 3 logits."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    emb = numpy_helper.from_array(rng.standard_normal((20, 4)).astype(np.float32), "emb")
    weight = numpy_helper.from_array(rng.standard_normal((4, 3)).astype(np.float32), "w")
    axes = numpy_helper.from_array(np.array([-1], np.int64), "axes")
    nodes = [
        helper.make_node("Gather", ["emb", "ids"], ["h"]),
        helper.make_node("Cast", ["mask"], ["mf"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["mf", "axes"], ["m3"]),
        helper.make_node("Mul", ["h", "m3"], ["hm"]),
        helper.make_node("ReduceMean", ["hm"], ["pooled"], axes=[1], keepdims=0),
        helper.make_node("MatMul", ["pooled", "w"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "bool_mask",
        [
            helper.make_tensor_value_info("ids", TensorProto.INT32, ["batch", 8]),
            helper.make_tensor_value_info("mask", TensorProto.BOOL, ["batch", 8]),
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])],
        [emb, weight, axes],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = tmp_path_factory.mktemp("bool_mask") / "bool_mask.onnx"
    onnx.save(model, str(path))
    return path


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def test_two_input_onnx_converts_at_the_given_sequence_length_and_profiles(bert_like, tmp_path):
    source, _, _ = bert_like
    out = tmp_path / "out"
    result = invoke(
        "convert", source, "--out", out, "--precision", "fp32", "--precision", "int8_dynamic",
        "--input-shape", f"input_ids=1,{SEQ}", "--input-shape", f"attention_mask={SEQ}",
        "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    entries = json.loads(result.stdout)
    assert [(e["precision"], e["parity"]["passed"]) for e in entries] == [
        ("fp32", True),
        ("int8_dynamic", True),
    ]
    assert entries[0]["parity"]["max_abs_diff"] == 0.0
    for entry in entries:
        names = [(i["name"], i["dtype"], i["shape"]) for i in entry["inputs"]]
        assert names == [("input_ids", "int64", [-1, -1]), ("attention_mask", "int64", [-1, -1])]
        assert entry["outputs"][0]["name"] == "logits"
    model = _manifest(out)["model"]
    assert [(i["name"], i["dtype"], i["shape"]) for i in model["inputs"]] == [
        ("input_ids", "int64", [-1, SEQ]),
        ("attention_mask", "int64", [-1, SEQ]),
    ]
    assert model["outputs"][0]["shape"] == [-1, CLASSES]
    assert "calibration" not in model  # no static int8, nothing calibrated
    assert f"uniform ids 0..{VOCAB - 1}" in model["verified_on"]
    assert "attention_mask: ones" in model["verified_on"]

    profiled = invoke(
        "profile", out / "bert_like_int8_dynamic.onnx", out / "bert_like_fp32.onnx",
        "--device", "raspberry-pi-5", "--input-shape", f"1,{SEQ}",
        "--runs", "3", "--warmup", "1", "--json",
    )  # fmt: skip
    assert profiled.exit_code == 0, profiled.output
    rows = json.loads(profiled.stdout)
    assert {(r["artifact"], r["device"]) for r in rows} >= {
        ("bert_like_int8_dynamic.onnx", "raspberry-pi-5"),
        ("bert_like_fp32.onnx", "host"),
    }
    # without --input-shape the manifest beside the files gives the verified sequence length
    estimated = invoke(
        "profile", out / "bert_like_int8_dynamic.onnx", "--device", "raspberry-pi-5",
        "--no-measure", "--json",
    )  # fmt: skip
    assert estimated.exit_code == 0, estimated.output
    (row,) = json.loads(estimated.stdout)
    assert row["precision"] == "int8_dynamic" and row["latency_ms"] > 0


def test_dynamic_sequence_without_shape_or_data_is_one_line(bert_like, tmp_path):
    source, _, _ = bert_like
    line = one_error_line(invoke("convert", source, "--out", tmp_path / "o"))
    assert "dynamic dimensions" in line and "--input-shape input_ids=1,128" in line


def test_npz_calibration_static_int8_and_labels_give_real_accuracy(bert_like, tmp_path):
    source, data, labels = bert_like
    out = tmp_path / "out"
    result = invoke(
        "convert", source, "--out", out, "--calibration", data, "--labels-npy", labels,
        "--precision", "fp32", "--precision", "int8", "--precision", "int8_dynamic", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    entries = json.loads(result.stdout)
    # the verification samples are the held-out ones; labels go with them
    held = feeds_mod.held_out_feeds({"i": np.arange(SAMPLES)}, None)[1]["i"]
    expected = float((held % 2 == 1).mean() * 100.0)  # even samples are labelled wrong
    assert 0 < expected < 100
    for entry in entries:
        assert entry["parity"]["passed"], entry
        assert entry["parity"]["reference_accuracy"] == pytest.approx(expected)
        assert entry["accuracy"] is not None
    assert entries[0]["accuracy"] == pytest.approx(expected)
    assert entries[1]["parity"]["criterion"] == "accuracy_drop"
    # static int8 quantised the float tensors only: the token ids and the mask stay int64
    assert [i["dtype"] for i in entries[1]["inputs"]] == ["int64", "int64"]
    model = _manifest(out)["model"]
    assert model["calibration"] == "data"
    assert model["verified_on"] == f"{len(held)} held-out samples of data.npz"


def test_static_int8_of_token_inputs_calibrates_on_synthetic_ids_loudly(bert_like, tmp_path):
    source, _, _ = bert_like
    out = tmp_path / "out"
    result = invoke(
        "convert", source, "--out", out, "--precision", "int8",
        "--input-shape", f"input_ids=1,{SEQ}", "--input-shape", f"attention_mask=1,{SEQ}",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "SYNTHETIC" in result.output
    assert _manifest(out)["model"]["calibration"] == "synthetic"


def test_int32_ids_and_bool_mask_without_data(bool_mask_model, tmp_path):
    out = tmp_path / "out"
    result = invoke(
        "convert", bool_mask_model, "--out", out,
        "--precision", "fp32", "--precision", "fp16", "--precision", "int8_dynamic",
        "--precision", "int8", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    entries = json.loads(result.stdout)
    assert all(e["parity"]["passed"] for e in entries), entries
    model = _manifest(out)["model"]
    described = [(i["name"], i["dtype"]) for i in model["inputs"]]
    assert described == [("ids", "int32"), ("mask", "bool")]
    assert "ids: uniform ids 0..19" in model["verified_on"]
    assert model["calibration"] == "synthetic"


def test_npz_names_dtypes_and_labels_are_checked_in_one_line(bert_like, tmp_path):
    source, data, _ = bert_like
    base = ["convert", source, "--out", tmp_path / "o", "--precision", "fp32"]
    ids = np.zeros((4, SEQ), np.int64)

    wrong_names = tmp_path / "names.npz"
    np.savez(wrong_names, input_ids=ids, token_type_ids=ids)
    line = one_error_line(invoke(*base, "--calibration", wrong_names))
    assert "missing attention_mask; extra token_type_ids" in line
    assert "the model's inputs: input_ids, attention_mask" in line

    floats = tmp_path / "floats.npz"
    np.savez(floats, input_ids=ids.astype(np.float64), attention_mask=ids)
    line = one_error_line(invoke(*base, "--calibration", floats))
    assert "'input_ids' must be integers (int64), got float64" in line

    counts = tmp_path / "counts.npz"
    np.savez(counts, input_ids=ids, attention_mask=ids[:3])
    assert "different sample counts" in one_error_line(invoke(*base, "--calibration", counts))

    one_array = tmp_path / "ids.npy"
    np.save(one_array, ids)
    line = one_error_line(invoke(*base, "--calibration", one_array))
    assert "has 2 inputs" in line and ".npz" in line

    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, input_ids=np.array([{"a": 1}], dtype=object), attention_mask=ids)
    assert "cannot read" in one_error_line(invoke(*base, "--calibration", pickled))

    short = tmp_path / "short.npy"
    np.save(short, np.zeros(3, np.int64))
    line = one_error_line(invoke(*base, "--calibration", data, "--labels-npy", short))
    assert f"has 3 labels, data.npz has {SAMPLES} samples" in line


def test_npz_over_the_size_limit_is_refused_before_reading(bert_like, tmp_path, monkeypatch):
    source, data, _ = bert_like
    monkeypatch.setattr(feeds_mod, "MAX_NPZ_BYTES", 1000)
    line = one_error_line(invoke("convert", source, "--out", tmp_path / "o", "--calibration", data))
    assert "decompresses to" in line and "the limit is 1,000" in line


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        (["--input-shape", "1,16"], "name each one: --input-shape input_ids=1,128"),
        (["--input-shape", "ids=1,16"], "names ids, which the model lacks"),
        (["--input-shape", "input_ids=1,16,3"], "does not fit input input_ids [?, ?]"),
        (["--input-shape", "input_ids=1,a"], "--input-shape takes positive integers"),
        (["--input-shape", "input_ids=1,8", "--input-shape", "input_ids=1,8"], "twice"),
    ],
)
def test_bad_input_shapes_are_one_line(bert_like, tmp_path, shape, expected):
    source, _, _ = bert_like
    line = one_error_line(invoke("convert", source, "--out", tmp_path / "o", *shape))
    assert expected in line, line


def test_onnx_to_tflite_is_refused_naming_what_is_supported(bert_like, tmp_path):
    source, _, _ = bert_like
    line = one_error_line(invoke("convert", source, "--out", tmp_path / "o", "--format", "tflite"))
    assert "ONNX artifacts only" in line


def test_a_named_shape_is_for_an_onnx_source(tmp_path):
    (tmp_path / "net.py").write_text("def build():\n    pass\n")
    line = one_error_line(
        invoke("convert", f"{tmp_path / 'net.py'}:build", "--input-shape", "x=1,3")
    )
    assert "applies to an .onnx SOURCE" in line


def test_predict_feeds_a_npz_by_input_name(bert_like, tmp_path):
    import onnxruntime as ort

    source, data, _ = bert_like
    out = tmp_path / "out"
    result = invoke("convert", source, "--out", out, "--calibration", data, "--precision", "fp32")
    assert result.exit_code == 0, result.output
    arrays = dict(np.load(data))
    two = tmp_path / "two.npz"
    np.savez(two, **{name: a[:2] for name, a in arrays.items()})
    predicted = invoke("predict", out / "bert_like_fp32.onnx", two, "--top", "1", "--json")
    assert predicted.exit_code == 0, predicted.output
    logits = ort.InferenceSession(str(source)).run(None, {k: a[:2] for k, a in arrays.items()})[0]
    top = [ranked[0]["index"] for ranked in json.loads(predicted.stdout)["predictions"]]
    assert top == logits.argmax(1).tolist()

    one = tmp_path / "one.npy"
    np.save(one, arrays["input_ids"][:1])
    line = one_error_line(invoke("predict", out / "bert_like_fp32.onnx", one))
    assert "the model has 2 (input_ids, attention_mask)" in line and ".npz with one array" in line


def test_two_float_inputs_verify_on_normal_inputs_and_static_int8_asks_for_data(tmp_path):
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.standard_normal((6, 4)).astype(np.float32), "w")
    graph = helper.make_graph(
        [
            helper.make_node("Add", ["a", "b"], ["s"]),
            helper.make_node("MatMul", ["s", "w"], ["logits"]),
        ],
        "two_floats",
        [
            helper.make_tensor_value_info("a", TensorProto.FLOAT, ["batch", 6]),
            helper.make_tensor_value_info("b", TensorProto.FLOAT, ["batch", 6]),
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 4])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path / "two_floats.onnx"
    onnx.save(model, str(path))
    out = tmp_path / "out"
    result = invoke("convert", path, "--out", out, "--json")
    assert result.exit_code == 0, result.output
    entries = json.loads(result.stdout)
    assert [e["precision"] for e in entries] == ["fp32", "int8_dynamic"]
    assert "seeded standard-normal" in _manifest(out)["model"]["verified_on"]
    line = one_error_line(invoke("convert", path, "--out", out, "--precision", "int8"))
    assert "float input 'a'" in line and "--calibration DATA.npz (one array per input" in line
