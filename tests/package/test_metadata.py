"""The TFLite Model Metadata writer, read back by an independent reader of the same schema."""

from __future__ import annotations

import io
import zipfile

import pytest

from edgesub.errors import ModelFileError
from edgesub.package.metadata import ClassifierMetadata, build_metadata, pack_files
from edgesub.package.metadata_reader import packed_files, parse_metadata

META = ClassifierMetadata(
    name="digits",
    description="a 10-class digit classifier",
    version="1.2",
    author="edgesub test",
    width=8,
    height=6,
    mean=[77.5],
    std=[95.0],
    labels_file="labels.txt",
)


def test_metadata_reads_back_as_written() -> None:
    buffer = build_metadata(META)
    assert buffer[4:8] == b"M001"
    read = parse_metadata(buffer)
    assert {k: read[k] for k in ("name", "description", "version", "author")} == {
        "name": "digits",
        "description": "a 10-class digit classifier",
        "version": "1.2",
        "author": "edgesub test",
    }
    assert read["min_parser_version"] == "1.0.0"
    (subgraph,) = read["subgraphs"]
    (image,) = subgraph["inputs"]
    assert image["name"] == "image"
    # ImageProperties (union value 2), colour space RGB (1), default size width × height.
    assert image["content"] == {"properties_type": 2, "color_space": 1, "size": [8, 6]}
    assert image["normalization"] == {"mean": [77.5], "std": [95.0]}
    assert image["stats"]["min"] == pytest.approx([-77.5 / 95.0])
    assert image["stats"]["max"] == pytest.approx([(255 - 77.5) / 95.0])
    (scores,) = subgraph["outputs"]
    assert scores["name"] == "probability" and scores["content"] == {"properties_type": 1}
    # The labels file, as TENSOR_AXIS_LABELS (2), is what MediaPipe names categories from.
    assert scores["associated_files"] == [{"name": "labels.txt", "type": 2}]
    assert scores["normalization"] is None


def test_per_channel_normalisation_and_bad_lengths() -> None:
    three = ClassifierMetadata(**{**META.__dict__, "mean": [1.0, 2.0, 3.0], "std": [4.0, 5, 6]})
    image = parse_metadata(build_metadata(three))["subgraphs"][0]["inputs"][0]
    assert image["normalization"] == {"mean": [1.0, 2.0, 3.0], "std": [4.0, 5.0, 6.0]}
    with pytest.raises(ValueError, match="1 or 3 mean"):
        build_metadata(ClassifierMetadata(**{**META.__dict__, "mean": [1.0, 2.0], "std": [1, 1]}))


def test_packed_files_are_appended_uncompressed_after_the_model() -> None:
    model = b"\x1c\x00\x00\x00TFL3" + bytes(range(200))
    packed = pack_files(model, {"labels.txt": b"zero\none\n"})
    assert packed.startswith(model)  # the flatbuffer itself is untouched
    with zipfile.ZipFile(io.BytesIO(packed)) as archive:
        (info,) = archive.infolist()
        assert info.compress_type == zipfile.ZIP_STORED  # MediaPipe reads files in place
    assert packed_files(packed) == {"labels.txt": b"zero\none\n"}
    assert packed_files(model) == {}


def test_a_buffer_without_the_identifier_is_refused() -> None:
    with pytest.raises(ModelFileError, match="M001"):
        parse_metadata(b"\x00" * 16)
