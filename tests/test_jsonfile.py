"""read_json_or_empty: a cache record that is missing or broken reads as absent, never raises."""

import pytest

from edgesub.jsonfile import read_json_or_empty


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ("[1, 2]", {}),  # valid JSON, but not a record
        ('{"a": ', {}),
        (b"\xff\xfe{}", {}),  # not UTF-8
    ],
)
def test_reads_objects_and_treats_everything_else_as_empty(tmp_path, content, expected):
    path = tmp_path / "meta.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    assert read_json_or_empty(path) == expected


def test_missing_file_and_directory_are_empty(tmp_path):
    assert read_json_or_empty(tmp_path / "missing.json") == {}
    assert read_json_or_empty(tmp_path) == {}
