"""Ctrl-C and kills at every stage of a tiny run, and two processes on one run (issue 17):
after each, the run is valid as it stands and `edgesub run --resume RUN_DIR` completes it."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgesub.rundir import RunDir

pytestmark = pytest.mark.slow

STAGES = ["data", "teacher", "subspace", "distill", "convert", "profile", "report"]
RECORDS = ["teacher.json", "subspace.json", "student.json", "profile.json", "timings.json"]


def _edgesub(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-u", "-m", "edgesub", *args, "--no-progress"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _signal_in(process: subprocess.Popen, stage: str, sig: int) -> tuple[float, str]:
    """Send ``sig`` half a second into ``stage``; return the seconds to exit and the stderr."""
    seen = []
    for line in process.stderr:
        seen.append(line)
        if line.startswith(f"▶ {stage}"):
            break
    time.sleep(0.5)
    sent = time.monotonic()
    process.send_signal(sig)
    rest = process.stderr.read()
    process.wait(timeout=60)
    return time.monotonic() - sent, "".join(seen) + rest


def _assert_valid_as_it_stands(run: RunDir) -> None:
    from edgesub.converters import load_manifest

    for name in RECORDS:
        if (run.root / name).exists():
            json.loads((run.root / name).read_text())
    if run.manifest.exists():
        load_manifest(run.manifest)


def _litter(run: RunDir) -> list[Path]:
    return [p for p in run.root.rglob(".*") if p.name.endswith(".tmp") or "staging" in p.name]


@pytest.mark.parametrize("first", [signal.SIGINT, signal.SIGKILL], ids=["INT-first", "KILL-first"])
def test_a_signal_at_every_stage_leaves_a_run_that_resumes(tmp_path, first):
    run = RunDir(tmp_path / "runs" / "r")
    sigs = [first, signal.SIGKILL if first == signal.SIGINT else signal.SIGINT]
    process = _edgesub("run", "--fast", "--runs-dir", str(run.root.parent), "--name", "r")
    for i, stage in enumerate(STAGES):
        sig = sigs[i % 2]
        seconds, stderr = _signal_in(process, stage, sig)
        if sig == signal.SIGINT:
            assert process.returncode == 130, stderr[-2000:]
            assert seconds < 5, f"Ctrl-C in {stage} took {seconds:.1f} s"
            assert stderr.strip().splitlines()[-1].endswith(f"edgesub run --resume {run.root}")
        else:
            assert process.returncode == -signal.SIGKILL
        _assert_valid_as_it_stands(run)
        process = _edgesub("run", "--resume", str(run.root))
    assert process.wait(timeout=600) == 0, process.stderr.read()[-2000:]
    _assert_valid_as_it_stands(run)
    assert run.report.is_file()
    assert not [p for p in _litter(run) if p.parent.name in ("artifacts", "plots")]


def test_two_runs_of_one_name_at_once_one_is_refused_the_other_completes(tmp_path):
    runs = tmp_path / "runs"
    args = ("run", "--fast", "--runs-dir", str(runs), "--name", "r", "--overwrite")
    first = _edgesub(*args)
    for line in first.stderr:
        if line.startswith("▶ teacher"):
            break
    second = _edgesub(*args)
    assert second.wait(timeout=60) == 1
    message = second.stderr.read()
    assert f"is in use by PID {first.pid}" in message, message
    assert first.wait(timeout=600) == 0
    from edgesub.converters import load_manifest

    load_manifest(RunDir(runs / "r").manifest)
    assert os.path.isfile(runs / "r" / "report.html")
