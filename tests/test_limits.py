"""The boundary checks every reader uses: regular files only, within their size limit."""

import os

import pytest

from edgesub.errors import ConfigError, DataError, ModelFileError
from edgesub.limits import (
    MAX_INPUT_VALUES,
    check_model_file,
    read_text_limited,
    regular_file_size,
)


def test_devices_folders_and_fifos_are_not_regular_files(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    for path in ("/dev/zero", tmp_path, tmp_path / "pipe"):  # endless, not data, blocking
        with pytest.raises(DataError, match="is not a regular file"):
            regular_file_size(path, "input", DataError)


def test_a_symlink_to_a_regular_file_is_read(tmp_path):
    (tmp_path / "real.txt").write_text("a\nb\n")
    (tmp_path / "link.txt").symlink_to(tmp_path / "real.txt")
    assert read_text_limited(tmp_path / "link.txt", "labels file", DataError) == "a\nb\n"


def test_size_limits_and_empty_models(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("x" * 11)
    with pytest.raises(DataError, match=r"labels file .* is 11 bytes; the limit is 10 bytes"):
        read_text_limited(path, "labels file", DataError, max_bytes=10)
    (tmp_path / "m.onnx").write_bytes(b"")
    with pytest.raises(ModelFileError, match="model file is empty"):
        check_model_file(tmp_path / "m.onnx")
    with pytest.raises(ModelFileError, match="model file not found"):
        check_model_file(tmp_path / "gone.onnx")


def test_text_that_is_not_utf8_is_one_error(tmp_path):
    (tmp_path / "v.txt").write_bytes(b"\xff\xfe")
    with pytest.raises(ModelFileError, match="not UTF-8 text"):
        read_text_limited(tmp_path / "v.txt", "vocabulary", ModelFileError)


def test_input_shapes_parse_by_name_or_as_one_bare_shape():
    from edgesub.limits import parse_dims, parse_named_shapes

    assert parse_dims("1x3x224x224") == (1, 3, 224, 224)
    assert parse_named_shapes(("input_ids=1,128", "attention_mask=1,128")) == {
        "input_ids": (1, 128),
        "attention_mask": (1, 128),
    }
    assert parse_named_shapes(("3,8,8",)) == {None: (3, 8, 8)}
    for values, message in [
        (("1,0",), "dimensions >= 1"),
        (("a=1,b",), "positive integers"),
        (("=1,2",), "expected NAME=1,128"),
        (("x=1,2", "x=1,3"), "input 'x' twice"),
        (("1,2", "x=1,3"), "name each input"),
        ((f"1,{MAX_INPUT_VALUES + 1}",), "the limit is"),
    ]:
        with pytest.raises(ConfigError, match=message):
            parse_named_shapes(values)
