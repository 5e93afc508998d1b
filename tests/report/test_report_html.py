"""The HTML report: self-contained, escaped, atomic, and useful for unfinished runs."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgesub.report import write_report
from edgesub.report.html import render_html
from edgesub.report.plots import write_plots
from edgesub.report.rundata import read_run_data

FIXTURE = Path(__file__).parent / "fixture_run"
EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>.onnx'


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURE, tmp_path / "fixture-run"))


@pytest.fixture(scope="module")
def reported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One full report of the fixture run, shared by the read-only checks (plots are slow)."""
    run = Path(shutil.copytree(FIXTURE, tmp_path_factory.mktemp("report") / "fixture-run"))
    write_report(run)
    return run


def page_of(run: Path) -> str:
    """The HTML without plots, for checks of the page text (drawing plots costs seconds)."""
    return render_html(read_run_data(run), [])


def rewrite_json(path: Path, edit) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_report_is_self_contained_with_decodable_images(reported: Path) -> None:
    page = (reported / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//|file:)""", page)
    assert "<script" not in page and "<link" not in page and "@import" not in page
    payloads = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(payloads) == 5
    for payload in payloads:
        assert base64.b64decode(payload).startswith(b"\x89PNG\r\n\x1a\n")


def test_report_writes_plots_and_leaves_no_temp_files(reported: Path) -> None:
    names = sorted(p.name for p in (reported / "plots").iterdir())
    assert names == [
        "accuracy_vs_compression.png",
        "accuracy_vs_size.png",
        "energy.png",
        "latency.png",
        "pareto.png",
    ]
    assert not [p for p in reported.rglob("*.tmp")]


def test_profile_rows_show_kinds_error_and_fit(run_dir: Path) -> None:
    rewrite_json(run_dir / "profile.json", lambda d: d["records"][1].update(fits_in_memory=False))
    page = page_of(run_dir)
    profile = page[page.index('<section id="profile">') : page.index('<section id="recommended">')]
    rows = re.findall(r"<tr[ >].*?</tr>", profile.split("<tbody>")[1])
    records = json.loads((run_dir / "profile.json").read_text())["records"]
    assert len(rows) == len(records)
    for rec, row in zip(records, rows, strict=True):
        assert f"badge {rec['latency_kind']}" in row
        assert rec["energy_kind"] in row
        if rec["latency_kind"] == "estimated":
            assert f"estimated ±{rec['latency_error_pct']:g} %" in row and "range " in row
    assert rows[1].count("exceeds RAM") == 1


def test_malicious_names_are_escaped(run_dir: Path) -> None:
    def rename_manifest(data: dict) -> None:
        data["artifacts"][0]["file"] = EVIL

    def rename_profile(data: dict) -> None:
        for rec in data["records"]:
            if rec["artifact"] == "deployable_fp32.onnx":
                rec["artifact"] = EVIL
                rec["device_name"] = "<b>pi</b>"

    rewrite_json(run_dir / "artifacts" / "manifest.json", rename_manifest)
    rewrite_json(run_dir / "profile.json", rename_profile)
    (run_dir / "config.toml").write_text('name = "<b onclick=x>run"\n[data]\nname = "<u>"\n')
    page = page_of(run_dir)
    assert "<script" not in page and "<img src=x" not in page
    assert "<b>pi</b>" not in page and "<b onclick" not in page and "<u>" not in page
    escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"
    assert page.count(escaped) >= 3  # models table, artifacts table, profile table
    assert "&lt;b onclick=x&gt;run" in page and "&lt;u&gt;" in page


def test_partial_run_reports_what_exists_and_what_is_missing(tmp_path: Path) -> None:
    for name in ("config.toml", "teacher.json", "subspace.json"):
        shutil.copy(FIXTURE / name, tmp_path / name)
    page = write_report(tmp_path).read_text(encoding="utf-8")
    missing = page[page.index('<section id="missing"') : page.index('<section id="summary">')]
    for name, command in (  # each command writes the file into this run
        ("student.json", "edgesub distill"),
        ("artifacts/manifest.json", "edgesub convert"),
        ("profile.json", "edgesub profile"),
        ("timings.json", "edgesub run --resume"),
    ):
        assert f"<code>{name}</code>" in missing
        assert f"<code>{command} {tmp_path}</code>" in missing
    assert "teacher.json" not in missing
    assert "99.17 %" in page and "No profile.json yet." in page
    assert [p.name for p in (tmp_path / "plots").iterdir()] == ["accuracy_vs_compression.png"]


def test_empty_run_still_gets_a_report(tmp_path: Path) -> None:
    page = write_report(tmp_path).read_text(encoding="utf-8")
    assert "No data to plot yet." in page
    assert "<code>config.toml</code>" in page
    assert tmp_path.name in page


def test_malformed_json_is_reported_not_fatal(run_dir: Path) -> None:
    (run_dir / "profile.json").write_text('{"records": [')
    page = page_of(run_dir)
    assert "profile.json</code> — malformed JSON" in page
    assert "deployable_int8.tflite" in page  # the manifest still reports the artifacts


def test_no_sweep_no_compression_plot_and_stale_plot_removed(run_dir: Path) -> None:
    stale = run_dir / "plots" / "accuracy_vs_compression.png"
    stale.parent.mkdir()
    stale.write_bytes(b"from an earlier sweep")
    rewrite_json(run_dir / "subspace.json", lambda d: d.update(sweep=[]))
    paths = write_plots(run_dir)
    assert [p.name for p in paths] == [
        "latency.png", "energy.png", "accuracy_vs_size.png", "pareto.png"
    ]  # fmt: skip
    assert not stale.exists()


def test_importing_report_package_stays_light() -> None:
    code = (
        "import sys, edgesub.report, edgesub.report.table, edgesub.report.plots; "
        "heavy = {'matplotlib', 'torch', 'onnx', 'onnxruntime'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_timings_written_before_the_report_stage_say_what_the_total_covers(run_dir: Path) -> None:
    """`edgesub run` renders the page before it knows the report stage's own time."""
    assert "stages above" not in page_of(run_dir)  # the fixture's timings include the report
    rewrite_json(run_dir / "timings.json", lambda t: t["stages"].pop("report"))
    assert "The total is that of the stages above" in page_of(run_dir)


def test_the_recommended_section_gives_each_devices_choice_and_basis(run_dir: Path) -> None:
    """One row per device (host first): the file to use, per format, and what it rests on;
    the choice is the one compare computes from the same profile."""
    from edgesub.profile.compare import Budget, compare_records, load_profile_records

    page = page_of(run_dir)
    section = page[page.index('<section id="recommended">') : page.index('<section id="budget">')]
    rows = re.findall(r"<tr>.*?</tr>", section.split("<tbody>")[1], re.S)
    advice = compare_records(load_profile_records(run_dir), Budget()).recommendations
    assert [a.device for a in advice] == ["host", "raspberry-pi-4b", "raspberry-pi-5"]
    assert len(rows) == len(advice)
    for item, row in zip(advice, rows, strict=True):
        assert f"<code>{item.overall.file}</code>" in row.split("</td>")[1]
        band = f"±{item.overall.band_pct:g} %"
        assert ("measured, 1 thread" if item.device == "host" else f"estimated {band}") in row
        for choice in item.by_format.values():
            assert f"<code>{choice.file}</code>" in row
            assert ("tie with" in row) >= choice.tie
