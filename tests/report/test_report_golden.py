"""Golden files for the terminal tables and the HTML page of a fixed, hand-written run.

Regenerate after an intended change with ``EDGESUB_UPDATE_GOLDEN=1 pytest tests/report`` and
review the diff.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from table_text import render_text

from edgesub.profile.compare import load_profile_records
from edgesub.report import write_report
from edgesub.report.table import profile_table, stage_timings_table, summary_table

FIXTURE = Path(__file__).parent / "fixture_run"
GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURE, tmp_path / "fixture-run"))


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("EDGESUB_UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"golden file {path} missing; run with EDGESUB_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8")


def normalise_html(page: str) -> str:
    """PNG bytes and the package version vary across matplotlib/edgesub versions, the run's
    finishing time across checkouts."""
    page = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "data:image/png;base64,<PNG>", page)
    # when the run finished is the fixture file's mtime: the checkout's time
    page = re.sub(
        r"Run finished [^;<]*; edgesub [^<.]*[^<]*\.", "Run finished DATE; edgesub X.", page
    )
    return re.sub(r'<span class="version">[^<]*</span>', '<span class="version">X</span>', page)


def test_profile_table_golden(run_dir: Path) -> None:
    records = load_profile_records(run_dir)
    check_golden("profile_table.txt", render_text(profile_table(records)))


def test_summary_table_golden(run_dir: Path) -> None:
    check_golden("summary_table.txt", render_text(summary_table(run_dir)))


def test_stage_timings_table_golden(run_dir: Path) -> None:
    timings = json.loads((run_dir / "timings.json").read_text())
    check_golden("stage_timings_table.txt", render_text(stage_timings_table(timings)))


def test_report_html_golden(run_dir: Path) -> None:
    page = write_report(run_dir).read_text(encoding="utf-8")
    # the hints name the run by its path, which is a temporary folder here
    check_golden("report.html", normalise_html(page).replace(str(run_dir), "RUN_DIR"))
