"""The README's quick start, followed word for word as a newcomer would, on a fresh clone.

Slow (a full install into a new virtual environment, about 3 minutes with a warm pip cache):
``pytest -m slow tests/test_readme_quickstart.py``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def quick_start_commands() -> list[str]:
    """The command lines of the README's quick-start block, comments removed."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "the quick start has no bash block"
    return [line.split("#", 1)[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_quick_start_is_two_commands_install_then_run_then_test():
    commands = quick_start_commands()
    assert len(commands) == 2
    assert commands[0].startswith("pip install -e '.[all]'")
    assert commands[0].endswith("&& edgesub run")
    assert commands[1].endswith("&& pytest")


@pytest.mark.slow
def test_a_newcomer_following_the_quick_start_gets_what_it_promises(tmp_path):
    clone = tmp_path / "edgesub"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    subprocess.run([sys.executable, "-m", "venv", str(clone / ".venv")], check=True)
    env = {
        **os.environ,
        "PATH": f"{clone / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "VIRTUAL_ENV": str(clone / ".venv"),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    env.pop("PYTHONPATH", None)
    install, run = (part.strip() for part in quick_start_commands()[0].split("&&"))
    assert run == "edgesub run"

    def shell(argv: list[str], timeout: int) -> subprocess.CompletedProcess:
        return subprocess.run(
            argv, cwd=clone, env=env, capture_output=True, text=True, timeout=timeout
        )

    done = shell(["bash", "-c", install], 1800)
    assert done.returncode == 0, done.stderr[-3000:]
    # the main command, with --fast so the check stays short (same stages, fewer epochs)
    result = shell(["edgesub", "run", "--fast"], 900)
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = clone / "runs" / "default"
    for name in (
        ".edgesub-run",
        "config.toml",
        "teacher.json",
        "subspace.json",
        "student.json",
        "profile.json",
        "timings.json",
        "report.html",
        "artifacts/manifest.json",
    ):
        assert (run_dir / name).is_file(), name
    for artifact in (
        "student_fp32.onnx",
        "student_int8.onnx",
        "student_fp32.tflite",
        "student_int8.tflite",
    ):
        assert (run_dir / "artifacts" / artifact).is_file(), artifact
    assert "report: runs/default/report.html" in result.stdout
    for stage in ("data", "teacher", "subspace", "distill", "convert", "profile", "report"):
        assert f"✓ {stage}" in result.stderr
    console = result.stdout + result.stderr
    assert "XNNPACK" not in console and "absl" not in console
    # it refuses to touch the existing run, as the README says, and names the way out
    again = shell(["edgesub", "run", "--fast"], 300)
    assert again.returncode != 0 and "--overwrite" in again.stderr + again.stdout
