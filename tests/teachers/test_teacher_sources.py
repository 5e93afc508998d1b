"""A user's trained teacher, used as it is from each source kind: the factory file with
safetensors weights, ONNX (ONNX Runtime, no torch) and a torch.export program all give the
module's own penultimate features, logits and classifier head."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
from tiny_models import dense_onnx

from edgesub.config import TeacherConfig
from edgesub.teachers import load_source
from edgesub.teachers.source_io import preprocess_from_shape

KINDS = ["factory", "onnx", "pt2"]


@pytest.fixture(scope="module")
def teachers(saved_teacher):
    return {kind: load_source(saved_teacher.config(kind)) for kind in KINDS}


@pytest.mark.parametrize("kind", KINDS)
def test_features_are_the_modules_penultimate_activations(saved_teacher, teachers, kind):
    teacher = teachers[kind]
    h = teacher.features(saved_teacher.x)
    assert teacher.kind == kind and teacher.input_kind == "image"
    assert h.dtype == np.float32 and h.shape == (len(saved_teacher.x), 32)
    assert np.abs(h - saved_teacher.penultimate(saved_teacher.x)).max() <= 1e-4


def test_onnx_features_equal_pytorch_features(saved_teacher, teachers):
    x = saved_teacher.x
    assert np.abs(teachers["onnx"].features(x) - teachers["factory"].features(x)).max() <= 1e-4
    assert np.abs(teachers["onnx"].features(x) - teachers["pt2"].features(x)).max() <= 1e-4


def test_logits_give_the_same_accuracy_from_every_source(saved_teacher, teachers):
    accuracy = {
        kind: float((t.logits(saved_teacher.x).argmax(1) == saved_teacher.y).mean())
        for kind, t in teachers.items()
    }
    own = (saved_teacher.logits(saved_teacher.x).argmax(1) == saved_teacher.y).mean()
    assert own > 0.85  # a trained classifier, not random weights
    assert accuracy == dict.fromkeys(KINDS, pytest.approx(own))


@pytest.mark.parametrize("kind", KINDS)
def test_head_applied_to_features_reproduces_the_logits(saved_teacher, teachers, kind):
    teacher = teachers[kind]
    weight, bias = teacher.head
    assert weight.shape == (10, 32) and bias.shape == (10,)
    h = teacher.features(saved_teacher.x)
    assert np.abs(h @ weight.T + bias - teacher.logits(saved_teacher.x)).max() <= 1e-4


def test_preprocess_is_read_from_the_input_shape(teachers):
    image = {"channels": "L", "layout": "NCHW", "size": [8, 8]}
    assert teachers["onnx"].preprocess == image
    assert teachers["pt2"].preprocess == image
    assert teachers["factory"].preprocess is None  # a factory declares no input


def test_preprocess_from_shapes_of_either_layout():
    assert preprocess_from_shape([None, 224, 224, 3]) == {
        "channels": "RGB",
        "layout": "NHWC",
        "size": [224, 224],
    }
    assert preprocess_from_shape([1, 3, None, None]) == {"channels": "RGB", "layout": "NCHW"}
    assert preprocess_from_shape([None, 64]) is None


def test_sha256_params_and_module(saved_teacher, teachers):
    assert {t.params for t in teachers.values()} == {
        sum(p.numel() for p in saved_teacher.module.parameters())
    }
    assert len({t.sha256 for t in teachers.values()}) == 3
    assert teachers["onnx"].module is None and teachers["factory"].module is not None


def test_fixed_batch_onnx_runs_any_batch_in_chunks(saved_teacher):
    teacher = load_source(TeacherConfig(source=str(saved_teacher.onnx_batch1)))
    x = saved_teacher.x[:5]
    assert np.abs(teacher.features(x) - saved_teacher.penultimate(x)).max() <= 1e-4
    assert teacher.logits(x).shape == (5, 10)


def pre_relu(saved, x):
    torch = pytest.importorskip("torch")
    with torch.no_grad():
        return saved.module.hidden(saved.module.body(torch.from_numpy(x))).numpy()


@pytest.mark.parametrize(
    ("kind", "layer"),
    [("factory", "hidden"), ("onnx", "/hidden/Gemm_output_0"), ("pt2", "linear")],
)
def test_a_named_feature_layer_is_read_instead(saved_teacher, kind, layer):
    teacher = load_source(saved_teacher.config(kind, feature_layer=layer))
    x = saved_teacher.x[:20]
    assert np.abs(teacher.features(x) - pre_relu(saved_teacher, x)).max() <= 1e-4
    assert teacher.head is None  # the classifier maps other features than these


def test_onnx_class_names_come_from_metadata(saved_teacher, tmp_path):
    model = onnx.load(str(saved_teacher.onnx))
    names = [f"digit {i}" for i in range(10)]
    onnx.helper.set_model_props(model, {"labels": json.dumps(names)})
    onnx.save(model, str(tmp_path / "named.onnx"))
    assert load_source(TeacherConfig(source=str(tmp_path / "named.onnx"))).classes == names
    assert load_source(TeacherConfig(source=str(saved_teacher.onnx))).classes is None


@pytest.mark.parametrize("softmax", [False, True])
def test_onnx_matmul_add_classifier_gives_its_head(tmp_path, softmax):
    path = dense_onnx(tmp_path / "dense.onnx", softmax=softmax)
    teacher = load_source(TeacherConfig(source=str(path)))
    x = np.random.default_rng(0).random((4, 1, 8, 8), dtype=np.float32)
    h = teacher.features(x)
    assert h.shape == (4, 64)  # the Flatten output feeds the MatMul
    weight, bias = teacher.head
    scores = h @ weight.T + bias
    if softmax:  # the head gives the scores before the graph's softmax
        scores = np.exp(scores - scores.max(1, keepdims=True))
        scores /= scores.sum(1, keepdims=True)
    assert np.abs(scores - teacher.logits(x)).max() <= 1e-4


def test_the_onnx_source_never_imports_torch(saved_teacher):
    code = (
        "import sys, numpy as np\n"
        "from edgesub.config import TeacherConfig\n"
        "from edgesub.teachers import load_source\n"
        f"teacher = load_source(TeacherConfig(source={str(saved_teacher.onnx)!r}))\n"
        "teacher.features(np.zeros((2, 1, 8, 8), np.float32))\n"
        "print(sorted(m for m in ('torch', 'onnxruntime') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[-2] == "['onnxruntime']"


def external_copy(saved, folder):
    """The ONNX teacher with its weights in a side file, as large models are saved."""
    model = onnx.load(str(saved.onnx))
    path = folder / "external.onnx"
    onnx.save(
        model, str(path), save_as_external_data=True, location="external.data", size_threshold=0
    )
    return path


def test_onnx_weights_in_a_side_file_are_read_from_the_models_folder(
    saved_teacher, tmp_path, monkeypatch
):
    path = external_copy(saved_teacher, tmp_path)
    monkeypatch.chdir(tmp_path.parent)  # not where the side file is
    teacher = load_source(TeacherConfig(source=str(path)))
    x = saved_teacher.x[:10]
    assert np.abs(teacher.features(x) - saved_teacher.penultimate(x)).max() <= 1e-4
    assert teacher.head is not None
    before = teacher.sha256
    side = bytearray((tmp_path / "external.data").read_bytes())
    side[0] ^= 1  # the lowest mantissa bit of one weight
    (tmp_path / "external.data").write_bytes(bytes(side))
    assert load_source(TeacherConfig(source=str(path))).sha256 != before  # the weights count
