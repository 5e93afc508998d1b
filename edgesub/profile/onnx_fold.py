"""Constant folding of ONNX shape sub-graphs, so that shape inference reaches every op.

Exporters compute paddings, reshape targets and attention masks at run time from ``Shape`` of
a tensor (TF-style "same" padding: ``Shape → Gather → … → ConstantOfShape/Concat/Slice/Cast →
Pad``). ONNX shape inference cannot see through such chains, so every op after the first one has
unknown shapes and would cost nothing. Once the input shapes are fixed, these sub-graphs are
constants: this module evaluates them with the ONNX reference implementation, writes their
values back as initializers and infers again, until nothing more folds. Runtimes do the same at
load time (ONNX Runtime's constant folding), so folded nodes are not ops of the inference.

Inference runs on a skeleton of the model whose large initializers are typed inputs, so a model
with hundreds of MB of weights is never re-serialised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgesub.errors import ModelFileError

# A folded value larger than this is an activation-sized tensor, not shape arithmetic: leave it.
FOLD_LIMIT = 1 << 16
# Ops whose value is not a pure function of constant inputs, or that runtimes keep at run time
# because they carry weights of a stored precision (their consumers count them as int8 / fp16).
_NEVER_FOLD = {
    "DequantizeLinear", "QuantizeLinear", "DynamicQuantizeLinear", "RandomNormal",
    "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli",
    "If", "Loop", "Scan", "SequenceConstruct",
}  # fmt: skip
_MAX_ROUNDS = 512


@dataclass
class Folded:
    """The model after folding: inferred types for every tensor and the folded node outputs."""

    model: Any  # onnx.ModelProto skeleton with value_info filled in
    values: dict[str, Any] = field(default_factory=dict)  # name → numpy array


def fold_and_infer(onnx: Any, model: Any, path: Path) -> Folded:
    """Alternate shape inference and folding of constant sub-graphs until a fixed point."""
    skeleton = _skeleton(onnx, model)
    values = _small_initializers(onnx, model)
    folded: dict[str, Any] = {}
    for _ in range(_MAX_ROUNDS):
        skeleton = _infer(onnx, skeleton, path)
        new = _fold_round(onnx, skeleton, values)
        if not new:
            break
        folded.update(new)
        values.update(new)
        _replace_with_initializers(onnx, skeleton, new)
    return Folded(skeleton, folded)


def _infer(onnx: Any, model: Any, path: Path) -> Any:
    try:
        return onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    except Exception as exc:
        raise ModelFileError(f"{path.name}: ONNX shape inference failed ({exc})") from None


def _skeleton(onnx: Any, model: Any) -> Any:
    """A copy whose large initializers are graph inputs of the same type and shape."""
    skeleton = onnx.ModelProto()
    skeleton.CopyFrom(model)
    graph = skeleton.graph
    keep = [init for init in graph.initializer if _elements(init.dims) <= FOLD_LIMIT]
    moved = [init for init in graph.initializer if _elements(init.dims) > FOLD_LIMIT]
    declared = {value.name for value in graph.input}
    for init in moved:
        if init.name not in declared:
            graph.input.append(
                onnx.helper.make_tensor_value_info(init.name, init.data_type, list(init.dims))
            )
    del graph.initializer[:]
    graph.initializer.extend(keep)
    return skeleton


def _small_initializers(onnx: Any, model: Any) -> dict[str, Any]:
    return {
        init.name: onnx.numpy_helper.to_array(init)
        for init in model.graph.initializer
        if _elements(init.dims) <= FOLD_LIMIT
    }


def _elements(dims: Any) -> int:
    count = 1
    for d in dims:
        count *= int(d)
    return count


def _fold_round(onnx: Any, model: Any, values: dict[str, Any]) -> dict[str, Any]:
    """Values of every node computable from constants and static shapes, in graph order."""
    static = _static_shapes(model)
    opsets = list(model.opset_import)
    known = dict(values)
    new: dict[str, Any] = {}
    for node in model.graph.node:
        outputs = _evaluate(onnx, node, known, static, opsets)
        if outputs is None:
            continue
        known.update(outputs)
        new.update(outputs)
    return new


def _static_shapes(model: Any) -> dict[str, tuple[int, ...]]:
    shapes = {}
    graph = model.graph
    for value in [*graph.input, *graph.value_info, *graph.output]:
        tensor_type = value.type.tensor_type
        if tensor_type.HasField("shape"):
            dims = tensor_type.shape.dim
            if all(d.HasField("dim_value") for d in dims):
                shapes[value.name] = tuple(int(d.dim_value) for d in dims)
    shapes.update({init.name: tuple(int(d) for d in init.dims) for init in graph.initializer})
    return shapes


def _evaluate(
    onnx: Any, node: Any, known: dict[str, Any], static: dict, opsets: list
) -> dict[str, Any] | None:
    """The node's output values, or None when they are not (cheaply) constant."""
    if node.op_type in _NEVER_FOLD or node.domain not in ("", "ai.onnx"):
        return None
    inputs = [name for name in node.input if name]
    if node.op_type in ("Shape", "Size"):
        if not inputs or inputs[0] not in static:
            return None
        return _shape_value(node, static[inputs[0]])
    if any(name not in known for name in inputs):
        return None
    try:
        results = _run_node(onnx, node, {name: known[name] for name in inputs}, opsets)
    except Exception:  # an op the reference runtime lacks, or bad attributes: leave it unfolded
        return None
    outputs = dict(zip([o for o in node.output if o], results, strict=False))
    if any(getattr(v, "size", FOLD_LIMIT + 1) > FOLD_LIMIT for v in outputs.values()):
        return None
    return outputs


def _shape_value(node: Any, shape: tuple[int, ...]) -> dict[str, Any]:
    import numpy as np

    if node.op_type == "Size":
        return {node.output[0]: np.array(_elements(shape), dtype=np.int64)}
    attrs = {a.name: int(a.i) for a in node.attribute}
    start, end = attrs.get("start", 0), attrs.get("end", len(shape))
    return {node.output[0]: np.array(shape[start:end], dtype=np.int64)}


def _run_node(onnx: Any, node: Any, feeds: dict[str, Any], opsets: list) -> list[Any]:
    from onnx.reference import ReferenceEvaluator

    helper = onnx.helper
    graph = helper.make_graph(
        [node],
        "fold",
        [helper.make_tensor_value_info(name, 0, None) for name in feeds],
        [helper.make_tensor_value_info(o, 0, None) for o in node.output if o],
    )
    model = helper.make_model(graph, opset_imports=opsets)
    return list(ReferenceEvaluator(model).run(None, feeds))


def _replace_with_initializers(onnx: Any, model: Any, new: dict[str, Any]) -> None:
    """Drop nodes whose outputs are all folded; their values become initializers.

    Annotations that are not fully static are dropped too: inference of the last round wrote
    placeholders (``unk__0``) there, which would otherwise win over what it can now find.
    """
    graph = model.graph
    kept = [n for n in graph.node if not all(o in new for o in n.output if o)]
    del graph.node[:]
    graph.node.extend(kept)
    static = _static_shapes(model)
    annotations = [v for v in graph.value_info if v.name in static and v.name not in new]
    del graph.value_info[:]
    graph.value_info.extend(annotations)
    existing = {init.name for init in graph.initializer}
    for name, value in new.items():
        if name not in existing:
            graph.initializer.append(onnx.numpy_helper.from_array(value, name))
