"""TFLite Model Metadata for an image classifier, written with ``flatbuffers`` alone.

Android's on-device APIs (MediaPipe Tasks, the TFLite Task Library) read a classifier's input
normalisation and label names from a ``ModelMetadata`` flatbuffer (file identifier ``M001``)
stored in a model buffer named ``TFLITE_METADATA``; files it names (labels.txt) are packed as an
uncompressed zip archive appended to the .tflite. ``tflite-support`` writes this but pins numpy<2
and protobuf 3, so the tables are built here from the public schema (tflite-support's
``metadata_schema.fbs``): each field's slot is its declaration order, a union takes two slots
(type, then value).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import flatbuffers

METADATA_NAME = "TFLITE_METADATA"
FILE_IDENTIFIER = b"M001"
# The fields written here all exist in metadata schema 1.0.0 (tflite-support's
# metadata_version.cc raises it only for vocabularies, tokenizers, tensor groups, audio).
MIN_PARSER_VERSION = "1.0.0"

# Enum values of the schema.
TENSOR_AXIS_LABELS = 2  # AssociatedFileType
COLOR_RGB = 1  # ColorSpaceType
FEATURE_PROPERTIES, IMAGE_PROPERTIES = 1, 2  # ContentProperties union
NORMALIZATION_OPTIONS = 1  # ProcessUnitOptions union

# What the packaged output holds, by the source's output kind (logits get a softmax added).
OUTPUT_DESCRIPTIONS = {
    "logits": "Probability of each class (softmax of the model's logits)",
    "probabilities": "Probability of each class (the model's own)",
    "raw": "Score of each class (the model's raw output, no softmax)",
}


@dataclass(frozen=True)
class ClassifierMetadata:
    """What an image classifier's metadata says, in the terms MediaPipe uses.

    ``mean``/``std`` normalise 0..255 pixel values per channel (one value: all channels).
    """

    name: str
    description: str
    version: str
    author: str
    width: int
    height: int
    mean: Sequence[float]
    std: Sequence[float]
    labels_file: str
    output_kind: str = "logits"  # the source's (manifest model.output_kind)
    input_name: str = "image"
    output_name: str = "probability"


# A field: (slot, kind, value); kind is "offset" or a scalar type of flatbuffers.Builder.
Field = tuple[int, str, Any]
_PREPEND = {
    "offset": "PrependUOffsetTRelativeSlot",
    "ubyte": "PrependUint8Slot",
    "byte": "PrependInt8Slot",
    "uint": "PrependUint32Slot",
}


def _table(builder: flatbuffers.Builder, fields: Sequence[Field]) -> int:
    """One table from already-built children (slots not listed keep the schema default)."""
    builder.StartObject(max((slot for slot, _, _ in fields), default=-1) + 1)
    for slot, kind, value in fields:
        getattr(builder, _PREPEND[kind])(slot, value, 0)
    return builder.EndObject()


def _offsets(builder: flatbuffers.Builder, items: Sequence[int]) -> int:
    builder.StartVector(4, len(items), 4)
    for item in reversed(items):
        builder.PrependUOffsetTRelative(item)
    return builder.EndVector()


def _floats(builder: flatbuffers.Builder, values: Sequence[float]) -> int:
    builder.StartVector(4, len(values), 4)
    for value in reversed(values):
        builder.PrependFloat32(float(value))
    return builder.EndVector()


def _strings(builder: flatbuffers.Builder, **values: str) -> dict[str, int]:
    return {key: builder.CreateString(value) for key, value in values.items()}


def _stats(builder: flatbuffers.Builder, low: Sequence[float], high: Sequence[float]) -> int:
    """Stats table: ``max`` is slot 0, ``min`` slot 1."""
    return _table(
        builder, [(0, "offset", _floats(builder, high)), (1, "offset", _floats(builder, low))]
    )


def _input_tensor(builder: flatbuffers.Builder, meta: ClassifierMetadata) -> int:
    text = _strings(
        builder,
        name=meta.input_name,
        description=f"{meta.width}×{meta.height} RGB image, 0..255 values normalised by the "
        "NormalizationOptions",
    )
    size = _table(builder, [(0, "uint", meta.width), (1, "uint", meta.height)])
    image = _table(builder, [(0, "byte", COLOR_RGB), (1, "offset", size)])
    content = _table(builder, [(0, "ubyte", IMAGE_PROPERTIES), (1, "offset", image)])
    mean, std = _floats(builder, meta.mean), _floats(builder, meta.std)
    normalization = _table(builder, [(0, "offset", mean), (1, "offset", std)])
    unit = _table(builder, [(0, "ubyte", NORMALIZATION_OPTIONS), (1, "offset", normalization)])
    units = _offsets(builder, [unit])
    low = [(0.0 - m) / s for m, s in zip(meta.mean, meta.std, strict=True)]
    high = [(255.0 - m) / s for m, s in zip(meta.mean, meta.std, strict=True)]
    stats = _stats(builder, low, high)
    return _table(
        builder,
        [
            (0, "offset", text["name"]),
            (1, "offset", text["description"]),
            (3, "offset", content),
            (4, "offset", units),
            (5, "offset", stats),
        ],
    )


def _output_tensor(builder: flatbuffers.Builder, meta: ClassifierMetadata) -> int:
    text = _strings(
        builder,
        name=meta.output_name,
        description=f"{OUTPUT_DESCRIPTIONS[meta.output_kind]}, in the order of the labels file",
        file=meta.labels_file,
        file_description="Class names, one per line, in output order",
    )
    labels = _table(
        builder,
        [
            (0, "offset", text["file"]),
            (1, "offset", text["file_description"]),
            (2, "byte", TENSOR_AXIS_LABELS),
        ],
    )
    features = _table(builder, [])
    content = _table(builder, [(0, "ubyte", FEATURE_PROPERTIES), (1, "offset", features)])
    fields = [
        (0, "offset", text["name"]),
        (1, "offset", text["description"]),
        (3, "offset", content),
        (6, "offset", _offsets(builder, [labels])),
    ]
    if meta.output_kind != "raw":  # probabilities lie in [0, 1]; raw scores anywhere
        fields.append((5, "offset", _stats(builder, [0.0], [1.0])))
    return _table(builder, fields)


def build_metadata(meta: ClassifierMetadata) -> bytes:
    """The ``ModelMetadata`` flatbuffer (identifier M001) of a one-input image classifier."""
    if len(meta.mean) != len(meta.std) or len(meta.mean) not in (1, 3):
        raise ValueError("normalisation needs 1 or 3 mean values and as many std values")
    builder = flatbuffers.Builder(1024)
    builder.ForceDefaults(True)  # write enum fields even where their value is 0
    inputs = _offsets(builder, [_input_tensor(builder, meta)])
    outputs = _offsets(builder, [_output_tensor(builder, meta)])
    subgraph = _table(builder, [(2, "offset", inputs), (3, "offset", outputs)])
    text = _strings(
        builder,
        name=meta.name,
        description=meta.description,
        version=meta.version,
        author=meta.author,
        parser=MIN_PARSER_VERSION,
    )
    root = _table(
        builder,
        [
            (0, "offset", text["name"]),
            (1, "offset", text["description"]),
            (2, "offset", text["version"]),
            (3, "offset", _offsets(builder, [subgraph])),
            (4, "offset", text["author"]),
            (7, "offset", text["parser"]),
        ],
    )
    builder.Finish(root, file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())


def pack_files(model: bytes, files: dict[str, bytes]) -> bytes:
    """``model`` with ``files`` appended as a zip archive, stored uncompressed.

    MediaPipe's metadata extractor hands out associated files as views into the model buffer,
    so they must not be compressed; zip offsets are found from the archive's end record.
    """
    buffer = io.BytesIO()
    buffer.write(model)
    with zipfile.ZipFile(buffer, "a", compression=zipfile.ZIP_STORED) as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            archive.writestr(info, data)
    return buffer.getvalue()
