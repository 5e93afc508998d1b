"""Any ONNX classifier as a teacher, run by ONNX Runtime on the CPU; torch is never imported.

The features are one tensor of the graph, added as an extra output in memory (the file is not
touched): by default the input of the last Gemm/MatMul whose output reaches a graph output
through bias adds, softmax and reshapes only (the classifier's input), else the tensor
``teacher.feature_layer`` names. That classifier's weights, when they are initializers, are the
teacher's ``head``; the first output, when it is N×C, its logits.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgesub._deps import require
from edgesub.errors import ConfigError, ModelFileError, first_line
from edgesub.onnx_files import check_external_data, cpu_session, external_data_files
from edgesub.teachers.adapter import unknown_layer
from edgesub.teachers.source import Teacher, existing_file
from edgesub.teachers.source_io import (
    batch_runner,
    files_sha256,
    pool_features,
    preprocess_from_shape,
)
from edgesub.training.loop import TRAIN_THREADS

if TYPE_CHECKING:
    from edgesub.config import TeacherConfig

# ops a classifier's output may pass through on its way to a graph output
PASS_THROUGH = {
    "Add",
    "Cast",
    "Flatten",
    "Identity",
    "LogSoftmax",
    "Reshape",
    "Sigmoid",
    "Softmax",
    "Squeeze",
}
CLASSIFIERS = {"Gemm", "MatMul"}
_INPUT_TYPES = {"tensor(float16)": np.float16, "tensor(double)": np.float64}


def load_onnx_teacher(spec: str, cfg: TeacherConfig) -> Teacher:
    """``spec`` (an .onnx file) as a Teacher; see the module docstring for what it reads."""
    path = existing_file(spec, "teacher model")
    model = _load_model(path)
    graph = _Graph(model.graph)
    image = graph.image_input(path)
    classifier = graph.classifier()
    name = cfg.feature_layer or graph.default_feature(classifier, path)
    if name not in graph.tensor_names:
        raise unknown_layer(name, path.name, graph.tensor_names, "tensors")
    logits_name = graph.logits_output()
    session = _session(_with_output(model, name), path)
    shape = _static_dims(image)
    return Teacher(
        kind="onnx",
        source=spec,
        sha256=files_sha256([path, *_side_files(path)]),
        input_kind="image",
        features=_runner(session, image.name, name, shape, spec, pool=True),
        logits=_runner(session, image.name, logits_name, shape, spec) if logits_name else None,
        head=graph.head(classifier, name),
        classes=_classes(model),
        preprocess=preprocess_from_shape(shape),
        params=sum(int(np.prod(t.dims)) for t in model.graph.initializer),
    )


def _load_model(path: Path) -> Any:
    """The ModelProto with its external data (read from the file's own folder)."""
    onnx = require("onnx")
    check_external_data(path)
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf's DecodeError, or an OSError
        raise ModelFileError(
            f"{path} is not an ONNX model ({type(exc).__name__}: {first_line(exc)})"
        ) from None
    if not model.graph.node:  # protobuf decodes an empty file as an empty model
        raise ModelFileError(f"{path} is not an ONNX model (it holds no graph)")
    return model


def _side_files(path: Path) -> list[Path]:
    """The external data files, in a stable order, so a change to the weights changes the hash."""
    folder = path.resolve().parent
    return [folder / location for location in sorted(external_data_files(path))]


class _Graph:
    """Look-ups over one GraphProto: producers of tensors, constants, the classifier."""

    def __init__(self, graph: Any) -> None:
        self.graph = graph
        self.inits = {t.name: t for t in graph.initializer}
        self.consts = set(self.inits) | {
            out for node in graph.node if node.op_type == "Constant" for out in node.output
        }
        self.producer = {out: node for node in graph.node for out in node.output}
        inputs = [i.name for i in graph.input if i.name not in self.inits]
        self.tensor_names = inputs + [out for node in graph.node for out in node.output if out]

    def image_input(self, path: Path) -> Any:
        """The one graph input that is not a weight (older exporters list weights as inputs)."""
        inputs = [i for i in self.graph.input if i.name not in self.inits]
        if len(inputs) != 1:
            names = ", ".join(i.name for i in inputs)
            raise ModelFileError(
                f"{path.name} has {len(inputs)} inputs ({names}); a teacher takes one image batch"
            )
        return inputs[0]

    def data_input(self, node: Any) -> str | None:
        """The input of ``node`` that carries activations, when exactly one does."""
        data = [name for name in node.input if name and name not in self.consts]
        if node.op_type in ("Reshape", "Squeeze"):
            data = data[:1]
        return data[0] if len(data) == 1 else None

    def classifier(self) -> Any | None:
        """The last Gemm/MatMul before a graph output, walking back through PASS_THROUGH ops."""
        for output in self.graph.output:
            node = self.producer.get(output.name)
            while node is not None and node.op_type in PASS_THROUGH:
                node = self.producer.get(self.data_input(node) or "")
            if node is not None and node.op_type in CLASSIFIERS and self._plain(node):
                return node
        return None

    def _plain(self, node: Any) -> bool:
        """A classifier whose activations come in as rows (Gemm without transA)."""
        attrs = _attributes(node)
        return self.data_input(node) is not None and not attrs.get("transA", 0)

    def default_feature(self, classifier: Any | None, path: Path) -> str:
        if classifier is None:
            raise ConfigError(
                f"{path.name}: no Gemm/MatMul feeds its outputs (through bias adds, softmax or "
                "reshapes only), so edgesub cannot tell its features; set teacher.feature_layer "
                f"to a tensor, e.g. {', '.join(self.tensor_names[-4:])}"
            )
        return str(self.data_input(classifier))

    def logits_output(self) -> str | None:
        """The first graph output when it is N×C (rank 2), the model's class scores."""
        first = self.graph.output[0]
        shape = first.type.tensor_type.shape
        return (
            first.name if first.type.tensor_type.HasField("shape") and len(shape.dim) == 2 else None
        )

    def head(self, node: Any | None, feature: str) -> tuple[np.ndarray, np.ndarray] | None:
        """The classifier as ``features @ W.T + b`` (W C×d), when ``feature`` is its input and
        its weights are initializers (scores before any softmax the graph applies)."""
        if node is None or feature != self.data_input(node):
            return None
        weight = self._array(node.input[1])
        if weight is None or weight.ndim != 2:
            return None
        attrs = _attributes(node)
        if node.op_type == "MatMul" or not attrs.get("transB", 0):
            weight = weight.T
        bias = self._bias(node, weight.shape[0])
        if bias is None:
            return None
        if node.op_type == "Gemm":
            weight, bias = weight * attrs.get("alpha", 1.0), bias * attrs.get("beta", 1.0)
        return weight.astype(np.float32), bias.astype(np.float32)

    def _bias(self, node: Any, classes: int) -> np.ndarray | None:
        """Gemm's C input, or the initializer a MatMul's output is added to; zeros if none."""
        if node.op_type == "Gemm":
            name = node.input[2] if len(node.input) > 2 else ""
        else:
            adds = [n for n in self.graph.node if n.op_type == "Add" and node.output[0] in n.input]
            name = next((i for n in adds for i in n.input if i in self.inits), "")
        bias = self._array(name) if name else np.zeros(classes, np.float32)
        if bias is None or bias.size not in (1, classes):
            return None
        return np.broadcast_to(bias.reshape(-1), (classes,)).copy()

    def _array(self, name: str) -> np.ndarray | None:
        tensor = self.inits.get(name)
        return None if tensor is None else require("onnx").numpy_helper.to_array(tensor)


def _attributes(node: Any) -> dict[str, Any]:
    helper = require("onnx").helper
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _with_output(model: Any, name: str) -> bytes:
    """The model, serialized, with tensor ``name`` also a graph output (typed by inference)."""
    onnx = require("onnx")
    if name in {o.name for o in model.graph.output}:
        return model.SerializeToString()
    extended = onnx.ModelProto()
    extended.CopyFrom(model)
    extended.graph.output.append(_value_info(extended, name))
    return extended.SerializeToString()


def _value_info(model: Any, name: str) -> Any:
    """``name``'s type from shape inference (float32 when inference cannot tell)."""
    onnx = require("onnx")
    try:
        inferred = onnx.shape_inference.infer_shapes(model).graph
    except Exception:  # custom ops, or a model past protobuf's 2 GB
        inferred = model.graph
    for info in [*inferred.value_info, *inferred.input]:
        if info.name == name and info.type.tensor_type.elem_type:
            return onnx.helper.make_tensor_value_info(name, info.type.tensor_type.elem_type, None)
    return onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None)


def _session(serialized: bytes, path: Path) -> Any:
    try:
        return cpu_session(serialized, TRAIN_THREADS)
    except Exception as exc:  # ORT raises pybind-defined errors (InvalidGraph, Fail, ...)
        raise ModelFileError(f"{path}: cannot load ONNX model: {first_line(exc)}") from None


def _runner(
    session: Any,
    input_name: str,
    output: str,
    shape: list[int | None],
    spec: str,
    *,
    pool: bool = False,
) -> Any:
    """``batch → output`` (pooled to N×d for features), in the model's fixed batch if it has one."""
    fixed = shape[0] if shape else None
    dtype = _INPUT_TYPES.get(session.get_inputs()[0].type, np.float32)

    def run(chunk: np.ndarray) -> np.ndarray:
        out = session.run([output], {input_name: chunk})[0]
        return pool_features(out, output) if pool else np.asarray(out, np.float32)

    return batch_runner(run, spec, fixed, dtype)


def _static_dims(value_info: Any) -> list[int | None]:
    return [d.dim_value or None for d in value_info.type.tensor_type.shape.dim]


def _classes(model: Any) -> list[str] | None:
    """Class names from metadata ``labels`` or ``classes``: a JSON list of strings."""
    props = {p.key: p.value for p in model.metadata_props}
    for key in ("labels", "classes"):
        try:
            names = json.loads(props.get(key, ""))
        except ValueError:
            continue
        if isinstance(names, list) and names and all(isinstance(n, str) for n in names):
            return names
    return None
