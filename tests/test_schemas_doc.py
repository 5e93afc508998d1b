"""docs/schemas.md is generated from the record classes and committed: it must not go stale.

Regenerate with ``python -m edgesub.schemas_doc > docs/schemas.md`` and review the diff. The
record base (edgesub.records) is tested here too: round trips, and the errors a reader gives.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import pytest

from edgesub.converters.manifest_record import Manifest
from edgesub.errors import ConfigError, RecordError
from edgesub.profile.compare import Budget, compare_records, load_profile_records
from edgesub.profile.compare_record import CompareRecord
from edgesub.profile.profile_record import ProfileRecord
from edgesub.records import FileRecord, Record, field
from edgesub.schemas_doc import COMMAND, FILES, render

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "report" / "fixture_run"


def test_schemas_md_is_up_to_date():
    committed = (ROOT / "docs" / "schemas.md").read_text(encoding="utf-8")
    assert committed == render(), f"docs/schemas.md is stale: run `{COMMAND}`"


def test_every_file_record_is_documented():
    """A FileRecord subclass anywhere in the package is one of the documented files."""
    declared = {
        node.name
        for folder in ("edgesub", "converters")
        for path in (ROOT / folder).rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ClassDef)
        and any(getattr(base, "id", None) == "FileRecord" for base in node.bases)
    }
    assert declared == {cls.__name__ for cls in FILES}


def test_every_field_has_a_meaning():
    text = render()
    assert "|  |\n" not in text  # an empty "meaning" cell
    for cls in FILES:
        assert f"`{cls.FILE}` (schema_version {cls.SCHEMA_VERSION})" in text


@pytest.mark.parametrize(
    ("cls", "name"), [(Manifest, "artifacts/manifest.json"), (ProfileRecord, "profile.json")]
)
def test_fixture_files_round_trip(cls, name):
    """A file edgesub wrote reads back and writes out as the same JSON (fields not yet in an
    older file stay absent, or come back empty)."""
    data = json.loads((FIXTURE / name).read_text())
    again = cls.from_dict(data, name).to_dict()
    assert again == {**data, **{k: v for k, v in again.items() if k not in data}}


def test_a_comparison_reads_back_as_written(tmp_path):
    records = load_profile_records(FIXTURE)
    comparison = compare_records(records, Budget(energy_mj=0.5, rate_hz=10.0))
    path = comparison.write(tmp_path / "compare.json")
    assert CompareRecord.read(path) == comparison


@dataclass(frozen=True, kw_only=True)
class Inner(Record):
    TITLE: ClassVar[str] = "inner"

    kind: Literal["a", "b"] = field("a or b")
    size: float | None = field("a size", unit="mm", default=None, omit_none=True)


def _to_two(data: dict) -> dict:
    kinds = data.pop("kinds")
    return {**data, "items": [{"kind": k} for k in kinds]}


@dataclass(frozen=True, kw_only=True)
class Demo(FileRecord):
    TITLE: ClassVar[str] = "demo.json"
    FILE: ClassVar[str] = "demo.json"
    SCHEMA_VERSION: ClassVar[int] = 2
    REWRITE: ClassVar[str] = "edgesub demo RUN_DIR"
    MIGRATIONS: ClassVar = {1: _to_two}

    items: tuple[Inner, ...] = field("the items")


def test_a_record_round_trips_and_leaves_out_what_it_omits():
    demo = Demo(items=(Inner(kind="a"), Inner(kind="b", size=2)))
    assert demo.schema_version == 2
    data = demo.to_dict()
    assert data == {"schema_version": 2, "items": [{"kind": "a"}, {"kind": "b", "size": 2}]}
    assert Demo.from_dict(data) == demo


def test_an_older_version_is_migrated_and_others_are_refused_naming_the_command():
    assert Demo.from_dict({"schema_version": 1, "kinds": ["a"]}).items == (Inner(kind="a"),)
    with pytest.raises(RecordError, match=r"demo\.json: not an edgesub demo\.json of .*"
                       r"no schema_version.*`edgesub demo RUN_DIR` writes it anew"):  # fmt: skip
        Demo.from_dict({"items": []}, "demo.json")
    with pytest.raises(RecordError, match="newer than this edgesub reads"):
        Demo.from_dict({"schema_version": 3, "items": []})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"schema_version": 2}, r"x\.json: demo\.json lacks key\(s\) items"),
        ({"schema_version": 2, "items": [], "more": 1}, r"unknown key\(s\) 'more' in demo\.json"),
        ({"schema_version": 2, "items": {}}, r"x\.json: items: expected a list, got an object"),
        ({"schema_version": 2, "items": [{"kind": "c"}]}, r"items\[0\]\.kind: expected one of"),
        (
            {"schema_version": 2, "items": [{"kind": "a", "size": "big"}]},
            r"items\[0\]\.size: expected number, got a string \('big'\)",
        ),
        ({"schema_version": 2, "items": [{"kind": "a", "size": True}]}, "got a boolean"),
        ([], r"x\.json: not an edgesub demo\.json \(expected a JSON object\)"),
    ],
)
def test_a_bad_key_is_an_error_naming_the_file_and_its_path(data, message):
    with pytest.raises(ConfigError, match=message):
        Demo.from_dict(data, "x.json", error=ConfigError)
