"""Run locking: one writer per run, refused (not interleaved) with the holder's PID."""

import subprocess
import sys

import pytest
from click.testing import CliRunner

from edgesub.cli import cli
from edgesub.errors import RunDirError
from edgesub.rundir import RunDir

HOLD = """
import sys, time
from edgesub.rundir import RunDir
with RunDir(sys.argv[1]).lock(shared=sys.argv[2] == "shared"):
    print("held", flush=True)
    time.sleep(60)
"""


@pytest.fixture
def holder(tmp_path):
    """Start a process that holds a run's lock (exclusive or shared) until the test ends."""
    started = []

    def start(run: RunDir, mode: str = "exclusive") -> subprocess.Popen:
        child = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(run.root), mode], stdout=subprocess.PIPE, text=True
        )
        started.append(child)
        assert child.stdout.readline().strip() == "held"
        return child

    yield start
    for child in started:
        child.kill()
        child.wait()


def test_a_second_writer_is_refused_with_the_holders_pid(tmp_path, holder):
    run = RunDir(tmp_path / "r")
    child = holder(run)
    with pytest.raises(RunDirError, match=rf"in use by PID {child.pid}\b"), run.lock():
        pass
    with pytest.raises(RunDirError, match="in use"), run.lock(shared=True):
        pass


def test_readers_share_and_keep_writers_out(tmp_path, holder):
    run = RunDir(tmp_path / "r")
    holder(run, "shared")
    with run.lock(shared=True):
        pass
    with pytest.raises(RunDirError, match="in use by another edgesub process"), run.lock():
        pass


def test_the_lock_is_free_again_when_its_holder_dies(tmp_path, holder):
    run = RunDir(tmp_path / "r")
    child = holder(run)
    child.kill()
    child.wait()
    with run.lock():
        assert run.lock_path.read_text().strip() != str(child.pid)


def test_locks_nest_within_one_process(tmp_path):
    run = RunDir(tmp_path / "r")
    with run.lock(), run.lock(), run.lock(shared=True):
        pass
    with run.lock():
        pass


def test_overwrite_of_a_run_in_progress_is_refused_and_deletes_nothing(tmp_path, holder):
    """Issue 17 case 5: `run --overwrite` used to delete the folder of a running run."""
    runs = tmp_path / "runs"
    run = RunDir(runs / "busy")
    run.root.mkdir(parents=True)
    run.mark()
    (run.root / "teacher.safetensors").write_bytes(b"weights")
    child = holder(run)
    result = CliRunner().invoke(
        cli, ["run", "--fast", "--runs-dir", str(runs), "--name", "busy", "--overwrite"]
    )
    assert result.exit_code == 1
    assert f"run {run.root} is in use by PID {child.pid}" in result.output
    assert (run.root / "teacher.safetensors").read_bytes() == b"weights"


@pytest.mark.parametrize(
    "command",
    [
        ["report"],
        ["subspace"],
        ["distill"],
        ["convert"],
        ["profile", "--no-measure"],
        ["package", "--target", "raspberry-pi", "--out", "{tmp}/bundle"],
    ],
)
def test_every_command_on_a_run_respects_its_lock(tmp_path, holder, command):
    run = RunDir(tmp_path / "runs" / "busy")
    run.root.mkdir(parents=True)
    run.mark()
    (run.config).write_text("")  # an empty config.toml is the default configuration
    holder(run)
    args = [command[0], str(run.root), *(a.format(tmp=tmp_path) for a in command[1:])]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    assert "is in use by PID" in result.output
