"""Text tables the way users have them: CSV and JSON Lines with their own column names, and
one-line errors that say which line or column is wrong."""

import json

import pytest

from edgesub.config import DataConfig
from edgesub.data import load_dataset
from edgesub.errors import DataError
from edgesub.limits import MAX_RECORD_BYTES, MAX_TEXT_CHARS


def reviews(n: int = 40) -> list[tuple[str, str]]:
    return [(f"good film {i}", "pos") if i % 2 else (f"bad film {i}", "neg") for i in range(n)]


def load(path, **fields):
    name = "jsonl_text" if str(path).endswith(".jsonl") else "csv_text"
    return load_dataset(DataConfig(name=name, path=str(path), **fields))


def test_csv_text_reads_the_configured_columns(tmp_path):
    rows = "".join(f'{i},"{t}",{c}\n' for i, (t, c) in enumerate(reviews()))
    (tmp_path / "r.csv").write_text("id,review,sentiment\n" + rows)
    data = load(tmp_path / "r.csv", text_column="review", label_column="sentiment")
    assert data.labels == ["neg", "pos"] and sum(len(s) for s in data.splits().values()) == 40
    assert all(("good" in t) == (c == 1) for t, c in zip(data.test.x, data.test.y, strict=True))


def test_csv_without_the_columns_names_them_and_the_ones_present(tmp_path):
    (tmp_path / "r.csv").write_text("id,review,sentiment\n1,a,pos\n")
    with pytest.raises(DataError) as caught:
        load(tmp_path / "r.csv", label_column="sentiment")
    message = str(caught.value)
    assert "lacks column(s) text (it has: id, review, sentiment)" in message
    assert "data.text_column" in message and "\n" not in message


def test_csv_text_too_long_is_refused_by_row(tmp_path):
    rows = [f"film {i},{'pos' if i % 2 else 'neg'}" for i in range(20)]
    rows[4] = f"{'x' * (MAX_TEXT_CHARS + 1)},pos"
    (tmp_path / "r.csv").write_text("text,label\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"row 6: the text has 100,001 characters; the limit"):
        load(tmp_path / "r.csv")


def test_jsonl_text_reads_objects_with_string_or_integer_labels(tmp_path):
    lines = [json.dumps({"body": t, "stars": 1 if c == "pos" else 0}) for t, c in reviews()]
    lines.insert(3, "")  # blank lines are skipped
    (tmp_path / "r.jsonl").write_text("\n".join(lines) + "\n")
    data = load(tmp_path / "r.jsonl", text_column="body", label_column="stars")
    assert data.labels == ["0", "1"] and sum(len(s) for s in data.splits().values()) == 40
    assert all(("good" in t) == (c == 1) for t, c in zip(data.test.x, data.test.y, strict=True))


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ('{"text": "a", "label": ', r"line 3 is not JSON: Expecting value"),
        ('["a", "pos"]', r"line 3 is a JSON list, not an object"),
        ('{"text": "a"}', r"line 3 lacks column\(s\) label \(it has: text\)"),
        ('{"text": 5, "label": "pos"}', r"line 3: the text is int, not a string"),
        ('{"text": "a", "label": ""}', r"line 3 has no label"),
        ('{"text": "a", "label": "x\\ny"}', r"line 3: label 'x\\ny' contains a newline"),
    ],
)
def test_a_bad_jsonl_line_is_named_by_number(tmp_path, bad, message):
    lines = [json.dumps({"text": t, "label": c}) for t, c in reviews(10)]
    lines[2] = bad
    (tmp_path / "r.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=message) as caught:
        load(tmp_path / "r.jsonl")
    assert "\n" not in str(caught.value)


def test_jsonl_lines_are_read_within_their_size_limit(tmp_path):
    lines = [json.dumps({"text": t, "label": c}) for t, c in reviews(10)]
    lines[1] = json.dumps({"text": "x" * MAX_RECORD_BYTES, "label": "pos"})
    (tmp_path / "r.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=rf"line 2 is over the limit of {MAX_RECORD_BYTES:,}"):
        load(tmp_path / "r.jsonl")
    (tmp_path / "r.jsonl").write_bytes(b'{"text": "caf\xe9", "label": "pos"}\n')
    with pytest.raises(DataError, match=r"line 1 is not UTF-8 text"):
        load(tmp_path / "r.jsonl")
