"""The budget section, the compare table and the Pareto plot, from the fixture run."""

import html
import re
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from table_text import render_text
from test_report_golden import check_golden

from edgesub.cli import cli
from edgesub.profile.compare import (
    COMPARE_FILE,
    Budget,
    compare_records,
    load_profile_records,
    write_comparison,
)
from edgesub.profile.profile_record import ProfileEntry
from edgesub.report import write_report
from edgesub.report.pareto_plot import write_pareto_plot
from edgesub.report.table import compare_tables

FIXTURE = Path(__file__).parent / "fixture_run"
BUDGET = Budget(
    energy_mj=0.5, max_latency_ms=0.2, rate_hz=10.0, battery_wh=11.1, min_hours=3.0,
    conversion_efficiency=1.0,
)  # fmt: skip


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURE, tmp_path / "fixture-run"))


def records(run_dir: Path) -> list[ProfileEntry]:
    return load_profile_records(run_dir)


def budget_section(page: str) -> str:
    return page[page.index('<section id="budget">') : page.index('<section id="plots">')]


def test_compare_table_golden(run_dir: Path) -> None:
    text = "\n".join(map(render_text, compare_tables(compare_records(records(run_dir), BUDGET))))
    check_golden("compare_table.txt", text)


def test_without_budget_the_section_ranks_and_marks_no_verdict(run_dir: Path) -> None:
    section = budget_section(write_report(run_dir).read_text())
    rows = re.findall(r"<tr>.*?</tr>", section.split("<tbody>")[1])
    assert len(rows) == len(records(run_dir))
    assert "No budget set" in section
    assert "within budget" not in section and 'badge good">Pareto-optimal' not in section
    # the hint is a command that works when pasted (the run's own path, quoted): run it
    hint = html.unescape(re.search(r"<code>(edgesub compare [^<]+)</code>", section).group(1))
    assert hint.startswith(f"edgesub compare {run_dir} --budget-mj 5")
    result = CliRunner().invoke(cli, [*shlex.split(hint)[1:], "--no-progress"])
    assert result.exit_code == 0, result.output
    assert (run_dir / COMPARE_FILE).is_file()


def test_with_budget_the_section_shows_verdicts_and_assumptions(run_dir: Path) -> None:
    write_comparison(run_dir / COMPARE_FILE, compare_records(records(run_dir), BUDGET))
    section = budget_section(write_report(run_dir).read_text())
    assert "No budget set" not in section
    # all four on the Pi 5 (3.5 h of battery); on the Pi 4 only int8 .tflite is fast and frugal
    assert section.count('badge good">within budget') == 5
    assert "latency &gt; 0.2 ms, energy &gt; 0.5 mJ" in section
    assert "battery hours = 11.1 Wh × 100% conversion efficiency / average power" in section
    assert "includes the device&#x27;s idle power" in section


def test_pareto_plot_without_accuracy_is_energy_vs_latency(run_dir: Path, tmp_path: Path) -> None:
    plain = [r.replace(accuracy=None) for r in records(run_dir)]
    one_panel = write_pareto_plot(compare_records(plain, BUDGET), tmp_path / "plain.png")
    two_panels = write_pareto_plot(compare_records(records(run_dir), BUDGET), tmp_path / "acc.png")
    for path in (one_panel, two_panels):
        assert np.asarray(Image.open(path)).shape[:2] == (528, 1056)
    # the vermillion budget crosses (a colour no device gets) mark pairs outside the budget
    alert = np.all(np.abs(np.asarray(Image.open(two_panels).convert("RGB")).astype(int)
                          - (213, 94, 0)) <= 10, axis=2)  # fmt: skip
    assert alert.sum() > 200
    assert write_pareto_plot(compare_records([], Budget()), tmp_path / "none.png") is None
    assert not (tmp_path / "none.png").exists()
