"""The report's first section says what to ship, with the teacher on the same devices, and its
training story shows the curves, the confusion matrix and a command that reproduces the run.

Read from the session's fast run of the default pipeline (tests/conftest.py)."""

from __future__ import annotations

import html
import json
import re
import shlex
import shutil
import subprocess

import click
import click.testing
import numpy as np
import pytest
from PIL import Image

from edgesub.cli import cli
from edgesub.report.canvas import OKABE_ITO


def section(page: str, anchor: str) -> str:
    start = page.index(f'<section id="{anchor}">')
    return page[start : page.index("</section>", start)]


def test_the_teacher_is_estimated_on_every_device_of_the_run(fast_run):
    run, _ = fast_run
    profile = json.loads(run.profile.read_text())
    devices = sorted({r["device"] for r in profile["records"]} - {"host"})
    teacher = profile["teacher"]
    assert sorted(r["device"] for r in teacher) == devices and "teacher_note" not in profile
    assert (run.root / "teacher.onnx").is_file()
    student_macs = max(r["macs"] for r in profile["records"])
    assert all(r["macs"] > 10 * student_macs and r["latency_kind"] == "estimated" for r in teacher)


def test_what_to_ship_names_a_file_per_device_and_the_distillation_speed_up(fast_run):
    run, _ = fast_run
    page = run.report.read_text()
    assert page.index('id="ship"') < page.index('id="summary"')  # the first thing said
    ship = section(page, "ship")
    rows = re.findall(r"<tr>(.*?)</tr>", ship.split("<tbody>")[1], re.S)
    assert len(rows) == 4  # host + the three devices
    speed_ups = [float(m) for m in re.findall(r'class="num">([\d.]+)×</td>', ship)]
    assert len(speed_ups) == 2 * 3 and all(s > 1 for s in speed_ups)  # faster, less energy
    assert "faster than the teacher" in ship and "estimated ±" in ship and "measured" in ship


def test_the_training_story_has_curves_a_confusion_matrix_and_the_reproducing_command(fast_run):
    run, _ = fast_run
    student = json.loads(run.student_json.read_text())
    assert len(student["history"]) == student["epochs_run"] >= student["best_epoch"] >= 1
    counts = np.array(student["confusion"])
    assert counts.trace() / counts.sum() * 100 == pytest.approx(student["test_accuracy"])
    story = section(run.report.read_text(), "training")
    assert story.count("data:image/png;base64,") == 2
    assert f"early stopping kept epoch {student['best_epoch']}" in story
    (command,) = re.findall(r"<pre><code>(edgesub run [^<]+)</code></pre>", story)
    argv = shlex.split(html.unescape(command))[1:]
    assert argv[argv.index("--config") + 1] == str(run.config.resolve())
    with click.Context(cli, info_name="edgesub") as parent:
        run_command = cli.get_command(parent, "run")
        run_command.make_context("run", argv[1:], parent=parent)  # fits: options and paths


def test_chromium_renders_the_ship_and_training_sections(fast_run, tmp_path):
    browser = shutil.which("chromium") or pytest.skip("no chromium binary found")
    run, _ = fast_run
    shot = tmp_path / "top.png"
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path}",
         f"--screenshot={shot}", "--window-size=1280,12000", run.report.resolve().as_uri()],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    # the loss curve's Okabe-Ito blue and the confusion matrix's cividis yellow are drawn
    blue = np.array([int(OKABE_ITO[0][i : i + 2], 16) for i in (1, 3, 5)])
    assert (np.abs(pixels - blue).max(axis=2) <= 12).sum() > 300
    assert (np.abs(pixels - (254, 232, 56)).max(axis=2) <= 30).sum() > 300


@pytest.mark.slow
def test_the_reproducing_command_runs_when_pasted(fast_run, tmp_path):
    run, _ = fast_run
    story = section(run.report.read_text(), "training")
    (command,) = re.findall(r"<pre><code>(edgesub run [^<]+)</code></pre>", story)
    argv = shlex.split(html.unescape(command))[1:]
    result = click.testing.CliRunner().invoke(
        cli, [*argv, "--runs-dir", str(tmp_path), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    again = json.loads((tmp_path / f"{run.root.name}-again" / "student.json").read_text())
    assert again["test_accuracy"] == json.loads(run.student_json.read_text())["test_accuracy"]


def test_a_re_profile_of_the_run_keeps_the_teacher_from_its_export(fast_run, tmp_path):
    """`edgesub profile RUN_DIR` estimates the teacher again from the run's teacher.onnx."""
    run, _ = fast_run
    copy = tmp_path / "copy"
    shutil.copytree(run.root, copy)
    result = click.testing.CliRunner().invoke(
        cli, ["profile", str(copy), "--no-measure", "--device", "raspberry-pi-5", "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    teacher = json.loads((copy / "profile.json").read_text())["teacher"]
    assert [r["device"] for r in teacher] == ["raspberry-pi-5"]
