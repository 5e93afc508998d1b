"""Read TFLite Model Metadata back: what an Android API will find in a packaged .tflite.

An independent reader of the same public schema, so the writer is checked against the schema's
layout rather than against itself: the bundle is verified after it is written, and tests
compare what a client would see with what was meant.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

from flatbuffers import number_types as types
from flatbuffers.table import Table

from edgesub._deps import require
from edgesub.errors import ModelFileError
from edgesub.package.metadata import (
    FILE_IDENTIFIER,
    IMAGE_PROPERTIES,
    METADATA_NAME,
    NORMALIZATION_OPTIONS,
)


class _Fields:
    """Slot-by-number access to one table (a slot's vtable entry sits at 4 + 2 × slot)."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def _at(self, slot: int) -> int:
        return self.table.Offset(4 + 2 * slot)

    def string(self, slot: int) -> str | None:
        at = self._at(slot)
        return self.table.String(at + self.table.Pos).decode("utf-8") if at else None

    def scalar(self, slot: int, flags: Any) -> int:
        at = self._at(slot)
        return self.table.Get(flags, at + self.table.Pos) if at else 0

    def child(self, slot: int) -> _Fields | None:
        at = self._at(slot)
        if not at:
            return None
        return _Fields(Table(self.table.Bytes, self.table.Indirect(at + self.table.Pos)))

    def union(self, slot: int) -> _Fields | None:
        at = self._at(slot)
        if not at:
            return None
        inner = Table(bytearray(), 0)
        self.table.Union(inner, at)
        return _Fields(inner)

    def children(self, slot: int) -> list[_Fields]:
        at = self._at(slot)
        if not at:
            return []
        start = self.table.Vector(at)
        return [
            _Fields(Table(self.table.Bytes, self.table.Indirect(start + 4 * i)))
            for i in range(self.table.VectorLen(at))
        ]

    def floats(self, slot: int) -> list[float]:
        at = self._at(slot)
        if not at:
            return []
        start = self.table.Vector(at)
        return [
            self.table.Get(types.Float32Flags, start + 4 * i)
            for i in range(self.table.VectorLen(at))
        ]


def metadata_buffer(model: bytes) -> bytes | None:
    """The TFLITE_METADATA buffer of a .tflite file's bytes, or None."""
    schema = require("ai_edge_litert.schema_py_generated")
    root = schema.Model.GetRootAs(model, 0)
    for i in range(root.MetadataLength()):
        entry = root.Metadata(i)
        if entry.Name() == METADATA_NAME.encode():
            return root.Buffers(entry.Buffer()).DataAsNumpy().tobytes()
    return None


def read_metadata(path: Path) -> dict[str, Any]:
    """The metadata of a .tflite as plain data, with its packed files' bytes under ``files``."""
    data = Path(path).read_bytes()
    buffer = metadata_buffer(data)
    if buffer is None:
        raise ModelFileError(f"{Path(path).name} has no {METADATA_NAME} metadata")
    return {**parse_metadata(buffer), "files": packed_files(data)}


def parse_metadata(buffer: bytes) -> dict[str, Any]:
    """A ``ModelMetadata`` flatbuffer as plain data (enum fields as their numbers)."""
    if buffer[4:8] != FILE_IDENTIFIER:
        raise ModelFileError(f"metadata lacks the {FILE_IDENTIFIER.decode()} file identifier")
    root = _Fields(Table(buffer, int.from_bytes(buffer[:4], "little")))
    return {
        "name": root.string(0),
        "description": root.string(1),
        "version": root.string(2),
        "author": root.string(4),
        "min_parser_version": root.string(7),
        "subgraphs": [
            {
                "inputs": [_tensor(t) for t in sub.children(2)],
                "outputs": [_tensor(t) for t in sub.children(3)],
            }
            for sub in root.children(3)
        ],
    }


def _tensor(tensor: _Fields) -> dict[str, Any]:
    record: dict[str, Any] = {
        "name": tensor.string(0),
        "description": tensor.string(1),
        "content": _content(tensor.child(3)),
        "normalization": None,
        "associated_files": [
            {"name": f.string(0), "type": f.scalar(2, types.Int8Flags)} for f in tensor.children(6)
        ],
    }
    for unit in tensor.children(4):
        options = unit.union(1)
        if unit.scalar(0, types.Uint8Flags) == NORMALIZATION_OPTIONS and options is not None:
            record["normalization"] = {"mean": options.floats(0), "std": options.floats(1)}
    stats = tensor.child(5)
    record["stats"] = {"max": stats.floats(0), "min": stats.floats(1)} if stats else None
    return record


def _content(content: _Fields | None) -> dict[str, Any] | None:
    if content is None:
        return None
    kind = content.scalar(0, types.Uint8Flags)
    record: dict[str, Any] = {"properties_type": kind}
    properties = content.union(1)
    if kind == IMAGE_PROPERTIES and properties is not None:
        record["color_space"] = properties.scalar(0, types.Int8Flags)
        size = properties.child(1)
        if size is not None:
            record["size"] = [size.scalar(0, types.Uint32Flags), size.scalar(1, types.Uint32Flags)]
    return record


def packed_files(model: bytes) -> dict[str, bytes]:
    """Files packed into a .tflite as an appended zip archive (none: empty)."""
    try:
        with zipfile.ZipFile(io.BytesIO(model)) as archive:
            return {name: archive.read(name) for name in archive.namelist()}
    except zipfile.BadZipFile:
        return {}
