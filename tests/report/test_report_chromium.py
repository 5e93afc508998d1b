"""Render the HTML report in headless Chromium: the tables are in the DOM and the plots decode.

Needs a Chromium binary (Debian: ``apt-get install -y chromium``); CI installs it. The test is
skipped only when no binary is found.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgesub.profile.compare import (
    COMPARE_FILE,
    Budget,
    compare_records,
    load_profile_records,
    write_comparison,
)
from edgesub.report import write_report
from edgesub.report.canvas import PALETTE

FIXTURE = Path(__file__).parent / "fixture_run"
# Solid (measured) latency bars are the first series colour at alpha 0.85 on white; present only
# if the PNGs decoded.
MEASURED_BAR_RGB = np.round(
    0.85 * np.array([int(PALETTE[0][i : i + 2], 16) for i in (1, 3, 5)]) + 0.15 * 255
)


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no chromium binary found (apt-get install -y chromium)")


def run_chromium(page: Path, profile_dir: Path, *args: str) -> subprocess.CompletedProcess:
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile_dir}",
        *args,
        page.resolve().as_uri(),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


class TableRows(HTMLParser):
    """Counts body rows per table class and collects image sources from a DOM dump."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, int] = {}
        self.images: list[str] = []
        self._table = ""
        self._in_body = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        if tag == "table":
            self._table = attr.get("class") or "plain"
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.rows[self._table] = self.rows.get(self._table, 0) + 1
        elif tag == "img":
            self.images.append(attr.get("src") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self._in_body = False


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture run's page after `edgesub compare` set a budget (the budget section)."""
    chromium()
    run = Path(shutil.copytree(FIXTURE, tmp_path_factory.mktemp("chromium") / "fixture-run"))
    records = load_profile_records(run)
    budget = Budget(energy_mj=0.5, rate_hz=10.0, battery_wh=11.1)
    write_comparison(run / COMPARE_FILE, compare_records(records, budget))
    return write_report(run)


def test_dom_contains_the_tables(report: Path, tmp_path: Path) -> None:
    dom = run_chromium(report, tmp_path / "profile", "--dump-dom").stdout
    parsed = TableRows()
    parsed.feed(dom)
    run = report.parent
    records = json.loads((run / "profile.json").read_text())["records"]
    artifacts = json.loads((run / "artifacts" / "manifest.json").read_text())["artifacts"]
    assert parsed.rows["profile"] == len(records)
    assert parsed.rows["timings"] == 7 + 1  # stages + total
    assert parsed.rows["plain"] == (4 + len(artifacts)) + len(artifacts)  # models + artifacts
    assert parsed.rows["budget"] == len(records)
    assert parsed.rows["recommended"] == len({r["device"] for r in records})  # host + 2 Pis
    assert len(parsed.images) == 5  # latency, energy, accuracy vs size and compression, Pareto
    assert all(src.startswith("data:image/png;base64,") for src in parsed.images)
    assert "estimated ±35 %" in dom and "measured" in dom
    # the front is among the pairs within the budget: the Pi 4's int8 .tflite, the Pi 5's two
    assert dom.count('good">Pareto-optimal<') == 3 and "energy &gt; 0.5 mJ" in dom
    assert "battery hours = 11.1 Wh × 90% conversion efficiency / average power" in dom


def test_screenshot_shows_page_and_decoded_plots(report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    run_chromium(report, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,7600")
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert pixels.shape[:2] == (7600, 1280)
    colours = np.unique(pixels[..., 0] << 16 | pixels[..., 1] << 8 | pixels[..., 2])
    assert len(colours) > 200  # not blank: text, tables, badges and plots
    near_bar = np.abs(pixels - MEASURED_BAR_RGB).max(axis=2) <= 8
    assert near_bar.sum() > 2000, "latency plot bars not rendered: PNG data URI did not decode"
