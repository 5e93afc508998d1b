"""Assemble the android .tflite: adapted graph + metadata buffer + packed labels file."""

from __future__ import annotations

import numpy as np

from edgesub._deps import require
from edgesub.converters.tflite_edit import GraphEditor, read_model, write_model
from edgesub.errors import ModelFileError
from edgesub.package.metadata import METADATA_NAME, ClassifierMetadata, build_metadata, pack_files
from edgesub.package.tflite_adapter import ImageInterface, adapt_image_classifier


def classifier_file(
    model: bytes, layout: str, channels: int, meta: ClassifierMetadata, labels: str
) -> tuple[bytes, list[str]]:
    """The packaged file's bytes, and the operators added to its graph (a softmax only when
    ``meta.output_kind`` is logits)."""
    schema = require("ai_edge_litert.schema_py_generated")
    if model[4:8] != b"TFL3":
        raise ModelFileError("not a TFLite flatbuffer (missing TFL3 identifier)")
    graph = read_model(model)
    interface = ImageInterface(layout, channels)
    added = adapt_image_classifier(graph, interface, logits=meta.output_kind == "logits")
    graph.metadata = [m for m in graph.metadata or [] if m.name != METADATA_NAME.encode()]
    entry = schema.MetadataT()
    entry.name = METADATA_NAME.encode()
    entry.buffer = GraphEditor(graph).buffer(np.frombuffer(build_metadata(meta), dtype=np.uint8))
    graph.metadata.append(entry)
    packed = write_model(graph)
    return pack_files(packed, {meta.labels_file: labels.encode("utf-8")}), added
