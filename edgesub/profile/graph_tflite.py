"""TFLite graph analysis from the flatbuffer schema shipped in ai-edge-litert (no TensorFlow).

Reads the main subgraph in operator order (the order the interpreter executes). DEQUANTIZE of a
constant (fp16 or int8 weights) and DENSIFY of a constant (sparse weights) are folded into their
consumer, as the interpreter evaluates them once at prepare time. Standalone RELU/RELU6 ops and
zero PADs in front of a convolution are fused as LiteRT's XNNPACK delegate fuses them
(:data:`edgesub.profile.fusion.TFLITE_FUSIONS`); an activation already in an op's
``fused_activation_function`` is part of that op.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgesub._deps import require
from edgesub.backends import BACKENDS
from edgesub.errors import ModelFileError
from edgesub.profile.fusion import TFLITE_FUSIONS, TFLITE_NO_OPS, Step, fuse
from edgesub.profile.graph import (
    Graph,
    OpCost,
    ShapeOverride,
    TensorSpec,
    check_input_shape,
    named_shapes,
    peak_live_bytes,
    shape_fits,
    split_override,
)
from edgesub.profile.tflite_costs import TFLITE_COSTS, builtin_options

# Custom ops whose cost is known because they are a builtin in disguise: MediaPipe's transpose
# convolution with fused bias (inputs: data, weights [O, H, W, I], bias), which ai-edge-litert's
# interpreter runs.
_COSTED_CUSTOM_OPS = {"Convolution2DTransposeBias"}
# Ops on a constant that the interpreter runs once when it prepares the graph.
_PREPARE_TIME_OPS = {"DEQUANTIZE", "DENSIFY"}
_ITEMSIZE = {
    "FLOAT32": 4, "FLOAT16": 2, "INT32": 4, "UINT8": 1, "INT64": 8, "BOOL": 1, "INT16": 2,
    "INT8": 1, "FLOAT64": 8, "UINT64": 8, "UINT32": 4, "UINT16": 2, "BFLOAT16": 2,
    "COMPLEX64": 8, "COMPLEX128": 16,
}  # fmt: skip
_NUMPY_NAME = {"FLOAT32": "float32", "FLOAT16": "float16", "INT8": "int8", "UINT8": "uint8"}


@BACKENDS.get("tflite").provides("graph")
def load_tflite(path: Path, input_shape: ShapeOverride = None) -> Graph:
    """Parse ``path`` into a Graph; ``input_shape`` may only fill dims the model left dynamic."""
    schema = require("ai_edge_litert.schema_py_generated")
    with open(path, "rb") as fh:  # the header first: a non-TFLite file is never read whole
        data = fh.read(8)
        if len(data) < 8 or data[4:8] != b"TFL3":
            raise ModelFileError(f"{path.name}: not a TFLite flatbuffer (missing TFL3 identifier)")
        data += fh.read()
    try:
        return _parse(schema, path, data, input_shape)
    except (IndexError, ValueError, TypeError, AttributeError, OverflowError) as exc:
        raise ModelFileError(f"{path.name}: corrupt or truncated TFLite file ({exc})") from None
    except Exception as exc:  # flatbuffers raises struct.error and friends on truncation
        if type(exc).__module__ in ("struct", "flatbuffers.number_types", "flatbuffers.table"):
            raise ModelFileError(f"{path.name}: corrupt or truncated TFLite file ({exc})") from None
        raise


def _names(enum: type) -> dict[int, str]:
    return {v: k for k, v in vars(enum).items() if not k.startswith("_") and isinstance(v, int)}


def _parse(schema: Any, path: Path, data: bytes, input_shape: ShapeOverride) -> Graph:
    model = schema.Model.GetRootAs(data, 0)
    if model.SubgraphsLength() < 1:
        raise ModelFileError(f"{path.name}: TFLite model has no subgraph")
    sub = model.Subgraphs(0)
    type_names = _names(schema.TensorType)
    op_names = _names(schema.BuiltinOperator)
    tensors = [_tensor(sub.Tensors(i), model, type_names) for i in range(sub.TensorsLength())]
    input_ids = [int(i) for i in sub.InputsAsNumpy()] if sub.InputsLength() else []
    output_ids = [int(i) for i in sub.OutputsAsNumpy()] if sub.OutputsLength() else []
    shapes, scale = _input_shapes(model, tensors, input_ids, input_shape, path)
    const = {i for i, t in enumerate(tensors) if t["const"]}
    int8_const = {i for i in const if tensors[i]["type"] in ("INT8", "UINT8")}
    stored: list[Step] = []
    custom: list[str] = []
    for index in range(sub.OperatorsLength()):
        op = sub.Operators(index)
        op_type = _op_type(model.OperatorCodes(op.OpcodeIndex()), op_names)
        ins = [int(i) for i in op.InputsAsNumpy() if i >= 0] if op.InputsLength() else []
        outs = [int(i) for i in op.OutputsAsNumpy() if i >= 0] if op.OutputsLength() else []
        if op_type in _PREPARE_TIME_OPS and ins and ins[0] in const:
            const.update(outs)
            if ins[0] in int8_const:
                int8_const.update(outs)
            if op_type == "DEQUANTIZE":  # the kernel reads the weights as stored
                for o in outs:
                    tensors[o]["bytes"] = tensors[ins[0]]["bytes"]
            continue
        if op_type.removeprefix("CUSTOM:") in _COSTED_CUSTOM_OPS:
            op_type = op_type.removeprefix("CUSTOM:")
        elif op_type.startswith("CUSTOM:"):
            custom.append(op_type.removeprefix("CUSTOM:"))
        cost = _op_cost(op, op_type, index, ins, outs, tensors, const, int8_const, scale)
        traits = _TRAITS[op_type](op, ins, model, tensors) if op_type in _TRAITS else ()
        reads = tuple(str(i) for i in ins if i not in const)
        stored.append(Step(cost, reads, tuple(str(o) for o in outs), frozenset(traits)))
    sizes = {str(i): int(t["bytes"] * scale) for i, t in enumerate(tensors) if i not in const}
    input_names, output_names = [str(i) for i in input_ids], [str(i) for i in output_ids]
    run = fuse(stored, input_names, output_names, sizes, TFLITE_FUSIONS, TFLITE_NO_OPS)
    return Graph(
        path=path,
        format="tflite",
        ops=[step.cost for step in run.steps],
        inputs=[_spec(tensors[i], shapes.get(i)) for i in input_ids],
        outputs=[_spec(tensors[i], None) for i in output_ids],
        weight_bytes=sum(t["bytes"] for t in tensors if t["const"]),
        peak_activation_bytes=peak_live_bytes(
            [(s.inputs, s.outputs) for s in run.steps], sizes, input_names, output_names
        ),
        custom_ops=sorted(set(custom)),
        fused_ops=run.fused_ops,
    )


def _tensor(tensor: Any, model: Any, type_names: dict[int, str]) -> dict[str, Any]:
    shape = tuple(int(d) for d in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()
    signature = (
        tuple(int(d) for d in tensor.ShapeSignatureAsNumpy())
        if tensor.ShapeSignatureLength()
        else shape
    )
    type_name = type_names.get(tensor.Type(), "FLOAT32")
    buffer = model.Buffers(tensor.Buffer()) if tensor.Buffer() > 0 else None
    stored = (buffer.DataLength() or int(buffer.Size())) if buffer is not None else 0
    itemsize = _ITEMSIZE.get(type_name, 4)
    nbytes = stored or math.prod(max(d, 1) for d in shape) * itemsize
    if type_name in ("INT4", "UINT4"):
        nbytes = stored or math.prod(max(d, 1) for d in shape) // 2
    return {
        "name": (tensor.Name() or b"").decode("utf-8", "replace"),
        "shape": shape,
        "signature": signature,
        "type": type_name,
        "itemsize": itemsize,
        "const": stored > 0,
        "bytes": nbytes,
        "buffer": tensor.Buffer(),
    }


def _op_type(code: Any, op_names: dict[int, str]) -> str:
    builtin = max(int(code.BuiltinCode()), int(code.DeprecatedBuiltinCode()))
    name = op_names.get(builtin, f"BUILTIN_{builtin}")
    if name == "CUSTOM":
        return "CUSTOM:" + (code.CustomCode() or b"?").decode("utf-8", "replace")
    return name


def _input_shapes(
    model: Any, tensors: list[dict], input_ids: list[int], override: ShapeOverride, path: Path
) -> tuple[dict[int, tuple[int, ...]], float]:
    """The shapes ``override`` gives inputs (tensor index → shape), and the factor by which
    activations grow with them.

    TFLite stores resolved shapes (dynamic dims as 1) beside a signature with -1; bytes and MACs
    of a batch scale linearly, which is all an override may change: one factor for the graph,
    so inputs given shapes that scale differently are refused.
    """
    dims = {i: _open_dims(tensors[i]) for i in input_ids}
    given = _given_shapes(model, tensors, dims, override, path)
    resolved = {
        i: check_input_shape(tensors[i]["name"], dims[i], shape, path) for i, shape in given.items()
    }
    scales = {
        i: math.prod(shape) / max(math.prod(max(d, 1) for d in tensors[i]["shape"]), 1)
        for i, shape in resolved.items()
    }
    if len({round(s, 9) for s in scales.values()}) > 1:
        shown = ", ".join(f"{tensors[i]['name']} ×{s:g}" for i, s in scales.items())
        raise ModelFileError(
            f"{path.name}: --input-shape scales the inputs differently ({shown}); a TFLite "
            "graph's stored shapes scale by one factor"
        )
    return resolved, next(iter(scales.values()), 1.0)


def _given_shapes(
    model: Any,
    tensors: list[dict],
    dims: dict[int, list[int | None]],
    override: ShapeOverride,
    path: Path,
) -> dict[int, Any]:
    """Tensor index → the shape ``override`` names it with (by its signature name, as
    ``input_ids`` for ``serving_default_input_ids``, or its tensor name); a bare shape for every
    other input it fits; none given, a lone input's dynamic batch is 1 (other open dims are
    asked for)."""
    names = _input_names(model, tensors, list(dims))
    aliases = {tensors[i]["name"]: name for name, i in names.items()}
    named_by_alias = {aliases.get(k, k): v for k, v in named_shapes(override).items()}
    bare, named = split_override(named_by_alias, {n: dims[i] for n, i in names.items()}, path)
    given: dict[int, Any] = {names[name]: shape for name, shape in named.items()}
    rest = [i for i in dims if i not in given]
    if bare is None:
        if len(dims) == 1 and not given and None in dims[rest[0]]:
            given[rest[0]] = None
        return given
    fitting = rest if len(dims) == 1 else [i for i in rest if shape_fits(dims[i], bare)]
    if not fitting:
        shown = ", ".join(f"{tensors[i]['name']}: {list(tensors[i]['shape'])}" for i in rest)
        raise ModelFileError(
            f"{path.name}: --input-shape {','.join(map(str, bare))} fits no model input ({shown})"
        )
    return {**given, **dict.fromkeys(fitting, bare)}


def _open_dims(tensor: dict) -> list[int | None]:
    """A tensor's dims, None where its signature leaves them dynamic (-1)."""
    return [
        None if s < 0 else d for d, s in zip(tensor["shape"], tensor["signature"], strict=False)
    ]


def _input_names(model: Any, tensors: list[dict], input_ids: list[int]) -> dict[str, int]:
    """Name → tensor index of each input: its name in the model's only signature, else its
    tensor's name."""
    names = {i: tensors[i]["name"] for i in input_ids}
    if model.SignatureDefsLength() == 1:
        signature = model.SignatureDefs(0)
        for j in range(signature.InputsLength()):
            entry = signature.Inputs(j)
            if int(entry.TensorIndex()) in names:
                names[int(entry.TensorIndex())] = entry.Name().decode("utf-8", "replace")
    return {name: i for i, name in names.items()}


def _op_cost(
    op: Any,
    op_type: str,
    index: int,
    ins: list[int],
    outs: list[int],
    tensors: list[dict],
    const: set[int],
    int8_const: set[int],
    scale: float,
) -> OpCost:
    weights = [i for i in ins if i in const]
    acts = [i for i in ins if i not in const]
    rule = TFLITE_COSTS.get(op_type) if op_type in TFLITE_COSTS and outs else None
    kind, macs = rule(op, ins, outs, tensors) if rule is not None else ("other", 0)
    int8 = any(w in int8_const for w in weights[:1]) or any(
        tensors[a]["type"] in ("INT8", "UINT8") for a in acts[:1]
    )
    fp16 = not int8 and any(tensors[w]["type"] == "FLOAT16" for w in weights)
    name = tensors[outs[0]]["name"] if outs else f"{op_type}_{index}"
    return OpCost(
        name=name or f"{op_type}_{index}",
        op_type=op_type.removeprefix("CUSTOM:"),
        kind=kind,
        macs=int(macs * scale),
        weight_bytes=sum(tensors[w]["bytes"] for w in weights),
        input_bytes=int(sum(tensors[a]["bytes"] for a in acts) * scale),
        output_bytes=int(sum(tensors[o]["bytes"] for o in outs) * scale),
        precision="int8" if int8 else ("fp16" if fp16 else "fp32"),
        costed=rule is not None,
    )


def _spec(tensor: dict, override: Sequence[int] | None) -> TensorSpec:
    shape = tuple(override) if override is not None else tensor["shape"]
    return TensorSpec(
        tensor["name"], shape, _NUMPY_NAME.get(tensor["type"], tensor["type"].lower())
    )


def _valid_padding(op: Any, ins: list[int], model: Any, tensors: list[dict]) -> tuple[str, ...]:
    """(Depthwise) convolution trait ``valid_padding``: explicit padding, which XNNPACK can merge
    a preceding PAD into (it cannot into TensorFlow SAME padding)."""
    schema = require("ai_edge_litert.schema_py_generated")
    options = builtin_options(op, "Conv2DOptions")
    if options is None:
        options = builtin_options(op, "DepthwiseConv2DOptions")
    valid = options is not None and options.Padding() == schema.Padding.VALID
    return ("valid_padding",) if valid else ()


def _zero_spatial_pad(op: Any, ins: list[int], model: Any, tensors: list[dict]) -> tuple[str, ...]:
    """PAD trait ``zero_spatial_pad``: a 4-D pad of height and width only (PAD fills zeros, or
    the zero point of a quantised tensor)."""
    import numpy as np

    if len(ins) < 2 or not tensors[ins[1]]["const"] or tensors[ins[1]]["shape"] != (4, 2):
        return ()
    raw = model.Buffers(tensors[ins[1]]["buffer"]).DataAsNumpy()
    dtype = {"INT32": np.int32, "INT64": np.int64}.get(tensors[ins[1]]["type"])
    if dtype is None or not isinstance(raw, np.ndarray) or raw.size != 8 * np.dtype(dtype).itemsize:
        return ()  # weights kept outside the flatbuffer, or an unexpected type
    pads = raw.view(dtype).reshape(4, 2)
    return ("zero_spatial_pad",) if not pads[0].any() and not pads[3].any() else ()


# op type → the traits fusion rules ask of it (edgesub.profile.fusion.TFLITE_FUSIONS)
_TRAITS = {
    "CONV_2D": _valid_padding,
    "DEPTHWISE_CONV_2D": _valid_padding,
    "PAD": _zero_spatial_pad,
}
