"""What a user can get wrong with their own teacher is one edgesub error line each: files that
are not what their name says, pickles, a factory that fails, weights that do not fit, a feature
layer that does not exist or is no feature vector, and .pt2 archives that would run code."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgesub.config import TeacherConfig
from edgesub.errors import ConfigError, DataError, EdgesubError, ModelFileError
from edgesub.teachers import load_source

torch = pytest.importorskip("torch")


def load(source: str, **fields: str):
    return load_source(TeacherConfig(source=source, **fields))


def one_line(exc_info) -> str:
    message = str(exc_info.value)
    assert isinstance(exc_info.value, EdgesubError) and "\n" not in message
    return message


def factory(saved, name: str = "build", weights: str | None = None, **fields: str):
    return load(f"{saved.factory}:{name}", weights=str(weights or saved.weights), **fields)


# ---- files that are not what their name says


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("model.onnx", "model.onnx is not an ONNX model (DecodeError"),
        ("model.pt2", "model.pt2 is not a torch.export program (File is not a zip file)"),
        ("empty.onnx", "empty.onnx is not an ONNX model (it holds no graph)"),
    ],
)
def test_a_file_that_is_not_what_its_name_says(tmp_path, name, expected):
    path = tmp_path / name
    path.write_text("" if name.startswith("empty") else "these are not the weights you want\n")
    with pytest.raises(ModelFileError) as exc:
        load(str(path))
    assert expected in one_line(exc)


def test_a_pth_teacher_is_refused_before_anything_is_read(tmp_path):
    path = tmp_path / "model.pth"
    torch.save({"w": torch.zeros(2)}, path)
    with pytest.raises(ModelFileError) as exc:
        load(str(path))
    assert "is a pickle (.pth), which edgesub never loads" in one_line(exc)


# ---- the factory


def test_a_factory_that_raises(saved_teacher):
    with pytest.raises(ConfigError) as exc:
        factory(saved_teacher, "broken")
    assert one_line(exc) == (
        "teacher factory digits_cnn.py:broken raised ValueError: no GPU on this machine"
    )


def test_a_factory_that_returns_no_module(saved_teacher):
    with pytest.raises(ConfigError) as exc:
        factory(saved_teacher, "not_a_module")
    assert "digits_cnn.py:not_a_module returned dict, not a torch.nn.Module" in one_line(exc)


def test_a_factory_name_the_file_lacks(saved_teacher):
    with pytest.raises(ConfigError, match=r"digits_cnn\.py defines no function 'buld'"):
        factory(saved_teacher, "buld")


def test_a_factory_file_that_fails_to_import(tmp_path):
    (tmp_path / "net.py").write_text("import torch\ndef build(:\n")
    with pytest.raises(ConfigError) as exc:
        load(f"{tmp_path / 'net.py'}:build", weights="w.safetensors")
    assert "teacher factory file net.py failed to import: SyntaxError" in one_line(exc)


def test_factory_weights_not_set(saved_teacher):
    with pytest.raises(ConfigError) as exc:
        load(f"{saved_teacher.factory}:build")
    assert "set teacher.weights to the .safetensors file" in one_line(exc)


def test_factory_weights_missing(saved_teacher, tmp_path):
    with pytest.raises(ModelFileError, match=r"teacher weights .*gone\.safetensors does not exist"):
        factory(saved_teacher, weights=tmp_path / "gone.safetensors")


def test_factory_weights_as_a_pickle_are_refused(saved_teacher, tmp_path):
    path = tmp_path / "weights.pt"
    torch.save(saved_teacher.module.state_dict(), path)
    with pytest.raises(ModelFileError) as exc:
        factory(saved_teacher, weights=path)
    assert "are a pickle (.pt), which edgesub never loads" in one_line(exc)
    assert "safetensors.torch.save_file" in str(exc.value)


def test_factory_weights_of_another_model(saved_teacher):
    with pytest.raises(ModelFileError) as exc:
        factory(saved_teacher, "build_wider")
    message = one_line(exc)
    assert "teacher weights digits_cnn.safetensors do not fit the model of" in message
    assert "wrong shapes hidden.weight (32×256 in the file, 48×256 in the model)" in message


def test_factory_weights_with_missing_and_unexpected_keys(saved_teacher, tmp_path):
    from safetensors.torch import save_file

    state = dict(saved_teacher.module.state_dict())
    state["extra.weight"] = state.pop("classifier.weight")
    save_file(state, str(tmp_path / "renamed.safetensors"))
    with pytest.raises(ModelFileError) as exc:
        factory(saved_teacher, weights=tmp_path / "renamed.safetensors")
    assert "missing keys classifier.weight; unexpected keys extra.weight" in one_line(exc)


def test_corrupt_factory_weights(saved_teacher, tmp_path):
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 16)
    with pytest.raises(ModelFileError, match="cannot read teacher weights"):
        factory(saved_teacher, weights=tmp_path / "junk.safetensors")


# ---- feature layers


@pytest.mark.parametrize(
    ("kind", "layer", "expected"),
    [
        ("factory", "classifer", "not found in DigitsCNN; candidates: classifier"),
        ("onnx", "/hiden/Gemm_output", "not found in digits_cnn.onnx; candidates: /hidden/Gemm"),
        ("pt2", "linaer", "not found in digits_cnn.pt2; candidates: linear"),
    ],
)
def test_a_feature_layer_that_does_not_exist(saved_teacher, kind, layer, expected):
    with pytest.raises(ConfigError) as exc:
        load_source(saved_teacher.config(kind, feature_layer=layer))
    message = one_line(exc)
    assert f"feature layer '{layer}' {expected}" in message
    assert "in all)" in message  # how many there are to choose from


def odd_shapes_onnx(path: Path) -> Path:
    """N×2×3×4×5 input → a 5-D copy, a 1-D mean per sample, and a Flatten → Gemm classifier."""
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.normal(size=(10, 120)).astype(np.float32), "w")
    nodes = [
        helper.make_node("Identity", ["x"], ["five_d"]),
        helper.make_node("ReduceMean", ["five_d"], ["per_sample"], axes=[1, 2, 3, 4], keepdims=0),
        helper.make_node("Flatten", ["five_d"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "w"], ["scores"], transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "odd",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 2, 3, 4, 5])],
        [
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["n", 10]),
            helper.make_tensor_value_info("per_sample", TensorProto.FLOAT, ["n"]),
        ],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())
    return path


@pytest.mark.parametrize(("layer", "shape"), [("five_d", "3×2×3×4×5"), ("per_sample", "3")])
def test_a_feature_tensor_that_is_not_n_by_d_after_pooling(tmp_path, layer, shape):
    teacher = load(str(odd_shapes_onnx(tmp_path / "odd.onnx")), feature_layer=layer)
    x = np.zeros((3, 2, 3, 4, 5), np.float32)
    with pytest.raises(ConfigError) as exc:
        teacher.features(x)
    assert f"feature tensor {layer} is {shape}, not N×d after pooling" in one_line(exc)
    assert load(str(tmp_path / "odd.onnx")).features(x).shape == (3, 120)  # the default: flat


def test_a_batch_of_the_wrong_shape(saved_teacher):
    bad = np.zeros((2, 3, 8, 8), np.float32)
    for kind in ("onnx", "pt2"):
        with pytest.raises(DataError) as exc:
            load(str(getattr(saved_teacher, kind))).features(bad)
        assert "failed on a batch of shape 2×3×8×8" in one_line(exc)


# ---- .pt2 archives that would run code on loading


def with_entry(src: Path, dst: Path, name: str, data: bytes) -> Path:
    """A copy of the archive ``src`` with entry ``name`` (under its root folder) set to ``data``."""
    with zipfile.ZipFile(src) as old, zipfile.ZipFile(dst, "w") as new:
        root = old.namelist()[0].split("/")[0]
        for item in old.infolist():
            if item.filename != f"{root}/{name}":
                new.writestr(item, old.read(item.filename))
        new.writestr(f"{root}/{name}", data)
    return dst


@pytest.mark.parametrize(
    "entry", ["data/aotinductor/model/model.so", "data/constants/opaque_obj_0"]
)
def test_pt2_with_native_code_or_pickled_objects_is_refused(saved_teacher, tmp_path, entry):
    path = with_entry(saved_teacher.pt2, tmp_path / "model.pt2", entry, b"\x7fELF")
    with pytest.raises(ModelFileError) as exc:
        load(str(path))
    assert f"holds {entry}, which loading would run or unpickle" in one_line(exc)


class _Payload:
    """Unpickling this writes a marker file: what a hostile archive would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "unpickled"))


def test_pt2_pickles_are_loaded_weights_only(saved_teacher, tmp_path):
    """torch.export.load would retry a failed weights-only load with weights_only=False."""
    marker = tmp_path / "ran"
    hostile = tmp_path / "payload.pt"
    torch.save(_Payload(marker), hostile)
    inputs = "data/sample_inputs/model.pt"  # torch.load'ed, weights-only first
    path = with_entry(saved_teacher.pt2, tmp_path / "model.pt2", inputs, hostile.read_bytes())
    with pytest.raises(ModelFileError) as exc:
        load(str(path))
    assert "holds pickled objects besides tensors; edgesub will not unpickle them" in one_line(exc)
    assert not marker.exists()


def test_a_rewritten_pt2_with_a_harmless_entry_still_loads(saved_teacher, tmp_path):
    """So the refusals above come from the entries, not from rewriting the archive."""
    path = with_entry(saved_teacher.pt2, tmp_path / "model.pt2", "extra/note.txt", b"hello")
    assert load(str(path)).features(saved_teacher.x[:3]).shape == (3, 32)


def test_onnx_side_file_missing(saved_teacher, tmp_path):
    import onnx

    model = onnx.load(str(saved_teacher.onnx))
    path = tmp_path / "external.onnx"
    onnx.save(model, str(path), save_as_external_data=True, location="w.data", size_threshold=0)
    (tmp_path / "w.data").unlink()
    with pytest.raises(ModelFileError) as exc:
        load(str(path))
    assert "external.onnx keeps its weights in 'w.data', which is missing" in one_line(exc)
