"""Terminal tables: every record says what is measured and what is estimated, with units."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from table_text import render_text

from edgesub.errors import RecordError
from edgesub.profile.profile_record import ProfileEntry
from edgesub.report.table import (
    profile_table,
    profile_tables,
    stage_timings_table,
    summary_table,
)

FIXTURE = Path(__file__).parent / "fixture_run"


def fixture_records() -> list[dict]:
    """The fixture's records as plain data (tables take the typed records: see typed())."""
    return json.loads((FIXTURE / "profile.json").read_text())["records"]


def typed(records: list[dict]) -> list[ProfileEntry]:
    return [ProfileEntry.from_dict(r) for r in records]


def row_texts(table) -> list[str]:
    """The plain text of each body row, cells joined by ' | '."""
    columns = [[str(cell) for cell in column.cells] for column in table.columns]
    return [" | ".join(cells) for cells in zip(*columns, strict=True)]


def test_every_profile_record_renders_its_kinds() -> None:
    records = fixture_records()
    rows = row_texts(profile_table(typed(records)))
    assert len(rows) == len(records)
    for rec, row in zip(records, rows, strict=True):
        assert rec["artifact"] in row and rec["device"] in row
        assert rec["latency_kind"] in row
        assert rec["memory_kind"] in row
        assert rec["energy_kind"] in row
        if rec["latency_kind"] == "estimated":
            assert f"estimated ±{rec['latency_error_pct']:g} %" in row


def test_profile_tables_fit_a_100_column_terminal_and_keep_every_figure() -> None:
    records = fixture_records()
    assert len(profile_tables(typed(records), 200)) == 1
    tables = profile_tables(typed(records), 100)
    assert len(tables) == 2
    for table in tables:
        widest = max(len(line) for line in render_text(table, width=300).splitlines())
        assert widest <= 100, render_text(table, width=300)
    timing, energy = (row_texts(t) for t in tables)
    for rec, t_row, e_row in zip(records, timing, energy, strict=True):
        assert rec["artifact"] in t_row and rec["device"] in t_row
        assert rec["latency_kind"] in t_row and rec["memory_kind"] in t_row
        assert rec["energy_kind"] in e_row


def test_profile_headers_name_units() -> None:
    headers = [str(c.header) for c in profile_table(typed(fixture_records())).columns]
    assert "Latency (ms)" in headers
    assert "Peak memory (MB)" in headers
    assert "Energy mJ (dynamic mJ)" in headers
    assert "Accuracy (%)" in headers


def test_profile_flags_a_record_that_does_not_fit() -> None:
    rec = dict(fixture_records()[1], fits_in_memory=False)
    (row,) = row_texts(profile_table(typed([rec])))
    assert "exceeds RAM" in row


def test_profile_record_with_null_figures_renders_and_a_partial_one_is_refused() -> None:
    """Figures a machine cannot give are null and render as such; a record lacking keys is
    refused when read, naming them, rather than shown with holes."""
    rec = dict(fixture_records()[0], latency_ms=1.5, energy_mj=None, latency_p90_ms=None)
    (row,) = row_texts(profile_table(typed([rec])))
    assert "1.50 measured" in row
    assert "unavailable" in row
    foreign = {"artifact": "model.onnx", "device": "host", "latency_ms": 1.5}
    with pytest.raises(RecordError, match=r"profile.json: records\[0\]: .*lacks key.*path"):
        ProfileEntry.from_dict(foreign, "profile.json", where="records[0]")


def test_markup_in_artifact_name_is_shown_literally() -> None:
    rec = dict(fixture_records()[0], artifact="[bold red]evil[/].onnx")
    assert "[bold red]evil[/].onnx" in render_text(profile_table(typed([rec])))


def test_summary_of_empty_run_lists_what_is_missing(tmp_path: Path) -> None:
    text = render_text(summary_table(tmp_path))
    for name in ("teacher.json", "subspace.json", "profile.json", "artifacts/manifest.json"):
        assert f"missing {name}" in text
    assert "`edgesub run --name" in text  # a folder without config.toml: only a new run helps


def test_summary_of_partial_run(tmp_path: Path) -> None:
    for name in ("teacher.json", "subspace.json"):
        shutil.copy(FIXTURE / name, tmp_path / name)
    rows = row_texts(summary_table(tmp_path))
    assert [r.split(" | ")[0] for r in rows] == ["teacher", "full head", "compressed head"]
    assert "99.17" in rows[2]


def test_stage_timings_total_from_stages_when_total_absent() -> None:
    text = render_text(stage_timings_table({"stages": {"distill": 3.0, "convert": 1.0}}))
    assert "75.0" in text and "25.0" in text
    assert "4.0" in text


def test_render_text_has_no_colour_codes() -> None:
    assert "\x1b[" not in render_text(profile_table(typed(fixture_records())))
