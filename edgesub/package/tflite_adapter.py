"""Give a .tflite classifier the interface MediaPipe's ImageClassifier accepts, inside the graph.

MediaPipe feeds a 1×H×W×3 RGB tensor (float32 after the metadata's normalisation, or uint8)
and reads float32 or uint8 scores. edgesub's files keep torch's N×C×H×W layout, may take one
grey channel, and static int8 files take and give int8. Rather than re-export from torch (which
a device-side install does not have), a few operators are prepended and appended to the
flatbuffer: RGB → grey as a 1×1 convolution with PIL's luma weights (the conversion the
training images went through), NHWC → NCHW as a TRANSPOSE, float → int8 as a QUANTIZE with the
file's own input scale; int8 → float as a DEQUANTIZE and, for a model whose outputs are logits,
a SOFTMAX so scores are probabilities (a model's own probabilities, or raw scores, are kept).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgesub.converters.tflite_edit import GraphEditor
from edgesub.errors import ModelFileError

# ITU-R 601-2 luma, what PIL's convert("L") applies (and so what grey training images saw).
LUMA = (0.299, 0.587, 0.114)
INPUT_NAME, OUTPUT_NAME = "image", "probability"


@dataclass(frozen=True)
class ImageInterface:
    """The original input's layout and channel count (1 = grey, 3 = RGB)."""

    layout: str  # "NCHW" or "NHWC"
    channels: int


def adapt_image_classifier(model: Any, interface: ImageInterface, *, logits: bool) -> list[str]:
    """Rewrite ``model`` (a ``ModelT``) in place: 1×H×W×3 float32 in, 1×N float scores out
    (probabilities: a softmax is added when the outputs are ``logits``).

    Returns the operators added, in graph order (none where the model already fits).
    """
    graph = GraphEditor(model)
    if len(model.subgraphs) != 1 or len(graph.sub.inputs) != 1 or len(graph.sub.outputs) != 1:
        raise ModelFileError("an image classifier needs one subgraph with one input and one output")
    image, ops, added = _input_ops(graph, graph.sub.inputs[0], interface)
    graph.sub.operators[:0] = ops
    graph.sub.tensors[image].name = INPUT_NAME.encode()
    probability, appended = _output_ops(graph, graph.sub.outputs[0], logits)
    graph.sub.tensors[probability].name = OUTPUT_NAME.encode()
    graph.sub.inputs, graph.sub.outputs = [image], [probability]
    for signature in model.signatureDefs or []:
        for tensor_map, index in (
            (signature.inputs[0], image),
            (signature.outputs[0], probability),
        ):
            tensor_map.tensorIndex = index
            tensor_map.name = graph.sub.tensors[index].name
    return added + appended


def _input_ops(
    graph: GraphEditor, original: int, interface: ImageInterface
) -> tuple[int, list[Any], list[str]]:
    """The new RGB NHWC float input, and the operators from it to the original input tensor."""
    schema, types = graph.schema, graph.schema.TensorType
    target = graph.sub.tensors[original]
    shape = [int(d) for d in target.shape]
    if len(shape) != 4 or shape[0] != 1:
        raise ModelFileError(
            f"the model input is {shape}; an image classifier takes 1×C×H×W or 1×H×W×C"
        )
    height, width = shape[2:] if interface.layout == "NCHW" else shape[1:3]
    steps: list[tuple[str, int, list[int], list[int], tuple[str, Any]]] = []
    if interface.channels == 1:
        options = schema.Conv2DOptionsT()
        options.padding, options.strideW, options.strideH = schema.Padding.VALID, 1, 1
        options.dilationWFactor = options.dilationHFactor = 1
        weights = graph.tensor("luma_weights", [1, 1, 1, 3], types.FLOAT32, np.float32(LUMA))
        bias = graph.tensor("luma_bias", [1], types.FLOAT32, np.zeros(1, np.float32))
        grey = [1, height, width, 1]
        steps.append(("CONV_2D", 1, [weights, bias], grey, ("Conv2DOptions", options)))
    elif interface.channels != 3:
        raise ModelFileError(f"an image classifier takes 1 or 3 channels, not {interface.channels}")
    if interface.layout == "NCHW":
        perm = graph.tensor("to_nchw", [4], types.INT32, np.int32([0, 3, 1, 2]))
        nchw = [1, interface.channels, height, width]
        steps.append(
            ("TRANSPOSE", 1, [perm], nchw, ("TransposeOptions", schema.TransposeOptionsT()))
        )
    if target.type in (types.INT8, types.UINT8):
        steps.append(("QUANTIZE", 1, [], shape, ("QuantizeOptions", schema.QuantizeOptionsT())))
    elif target.type != types.FLOAT32:
        raise ModelFileError("an image classifier's input must be float32, int8 or uint8")
    if not steps:
        return original, [], []
    image = current = graph.tensor(INPUT_NAME, [1, height, width, 3], types.FLOAT32)
    ops = []
    for n, (code, version, constants, out_shape, options) in enumerate(steps):
        last = n == len(steps) - 1
        output = (
            original if last else graph.tensor(f"image_{code.lower()}", out_shape, types.FLOAT32)
        )
        ops.append(graph.op(code, version, [current, *constants], [output], options))
        current = output
    return image, ops, [code for code, *_ in steps]


def _output_ops(graph: GraphEditor, original: int, logits: bool) -> tuple[int, list[str]]:
    """Append DEQUANTIZE (integer scores) and SOFTMAX (to logits, unless the model ends in one:
    a model's own probabilities softmaxed again would flatten 0.9999 to 0.73)."""
    schema, types = graph.schema, graph.schema.TensorType
    tensor = graph.sub.tensors[original]
    shape = [int(d) for d in tensor.shape]
    if len(shape) != 2 or shape[0] != 1:
        raise ModelFileError(f"the model output is {shape}; a classifier gives 1×classes scores")
    has_softmax = graph.producer(original) == "SOFTMAX"
    current, added = original, []
    if tensor.type in (types.INT8, types.UINT8):
        version = 2 if tensor.type == types.INT8 else 1
        scores = graph.tensor("scores_float", shape, types.FLOAT32)
        graph.sub.operators.append(graph.op("DEQUANTIZE", version, [current], [scores]))
        current, added = scores, ["DEQUANTIZE"]
    elif tensor.type != types.FLOAT32:
        raise ModelFileError("a classifier's output must be float32, int8 or uint8")
    if logits and not has_softmax:
        options = schema.SoftmaxOptionsT()
        options.beta = 1.0
        probability = graph.tensor(OUTPUT_NAME, shape, types.FLOAT32)
        graph.sub.operators.append(
            graph.op("SOFTMAX", 1, [current], [probability], ("SoftmaxOptions", options))
        )
        current, added = probability, [*added, "SOFTMAX"]
    return current, added
