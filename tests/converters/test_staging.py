"""A new artifact set replaces the old one only when complete; kills leave nothing behind."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgesub.converters.staging import COMMIT_MARKER, recover, staged_output


def _old_set(folder):
    (folder / "m_fp32.onnx").write_bytes(b"old model")
    (folder / "manifest.json").write_text('{"old": true}')


def test_a_failure_inside_leaves_the_old_set_and_no_staging(tmp_path):
    _old_set(tmp_path)
    with pytest.raises(RuntimeError), staged_output(tmp_path) as stage:
        (stage / "m_fp32.onnx").write_bytes(b"new model")
        raise RuntimeError("export failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m_fp32.onnx", "manifest.json"]
    assert (tmp_path / "m_fp32.onnx").read_bytes() == b"old model"


def test_success_swaps_in_the_whole_set_and_keeps_other_files(tmp_path):
    _old_set(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    with staged_output(tmp_path) as stage:
        (stage / "m_fp32.onnx").write_bytes(b"new model")
        (stage / "manifest.json").write_text('{"new": true}')
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "m_fp32.onnx",
        "manifest.json",
        "notes.txt",
    ]
    assert json.loads((tmp_path / "manifest.json").read_text()) == {"new": True}


def test_a_swap_killed_after_its_commit_marker_is_finished_by_the_next(tmp_path, dead_pid):
    _old_set(tmp_path)
    stage = tmp_path / f".edgesub-staging-{dead_pid}-abc"
    stage.mkdir()
    (stage / "manifest.json").write_text('{"new": true}')
    (stage / COMMIT_MARKER).write_text("")
    (tmp_path / "m_fp32.onnx").write_bytes(b"new model")  # moved before the kill
    recover(tmp_path)
    assert json.loads((tmp_path / "manifest.json").read_text()) == {"new": True}
    assert not stage.exists()


def test_dead_uncommitted_stagings_are_removed_live_ones_kept(tmp_path, dead_pid):
    dead = tmp_path / f".edgesub-staging-{dead_pid}-abc"
    live = tmp_path / f".edgesub-staging-{os.getppid()}-def"  # our parent is alive
    for stage in (dead, live):
        stage.mkdir()
        (stage / "m_fp32.onnx").write_bytes(b"half")
    _old_set(tmp_path)
    recover(tmp_path)
    assert not dead.exists() and live.exists()
    assert (tmp_path / "m_fp32.onnx").read_bytes() == b"old model"


TESTS = Path(__file__).parents[1]
CONVERT_SCRIPT = f"""
import sys
sys.path.insert(0, {str(TESTS)!r})
from edgesub.config import ConvertConfig, DataConfig
from edgesub.converters import convert
from edgesub.data import load_dataset
from tiny_models import tiny_cnn
digits = load_dataset(DataConfig())
cfg = ConvertConfig(formats=tuple(sys.argv[2].split(",")), precisions=("fp32", "int8"))
convert(tiny_cnn().eval(), digits, sys.argv[1], cfg, progress=False, measure_latency=False)
print("done", flush=True)
"""


def _convert(out, formats, **kwargs):
    return subprocess.Popen(
        [sys.executable, "-c", CONVERT_SCRIPT, str(out), formats],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def _wait_for_staged_file(out, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        staged = [p for p in out.glob(".edgesub-staging-*/*") if p.suffix != ".tmp"]
        if staged:
            return
        time.sleep(0.05)
    raise AssertionError("no artifact was staged")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_a_convert_stopped_half_way_leaves_the_previous_set_valid(tmp_path, sig):
    """Issue 17 case 2: the old manifest and files stay loadable after a kill or Ctrl-C."""
    from edgesub.converters import load_manifest

    out = tmp_path / "artifacts"
    first = _convert(out, "onnx")
    assert first.wait(timeout=300) == 0, first.stderr.read()[-2000:]
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    load_manifest(out / "manifest.json")

    second = _convert(out, "onnx,tflite")
    _wait_for_staged_file(out)
    second.send_signal(sig)
    second.wait(timeout=60)
    assert "done" not in second.stdout.read()
    after = {p.name: p.read_bytes() for p in out.iterdir() if not p.name.startswith(".")}
    assert after == before
    load_manifest(out / "manifest.json")

    third = _convert(out, "onnx")  # the next convert clears what the kill left
    assert third.wait(timeout=300) == 0
    assert not list(out.glob(".*"))


def test_a_full_disk_during_convert_is_one_line_and_keeps_the_previous_set(full_disk):
    """Issue 17 case 2 on a real full disk (a 1 MB tmpfs)."""
    import shutil

    from tiny_models import tiny_cnn

    from edgesub.config import ConvertConfig, DataConfig
    from edgesub.converters import convert, load_manifest
    from edgesub.data import load_dataset
    from edgesub.errors import EdgesubError

    digits = load_dataset(DataConfig())
    out = full_disk / "artifacts"
    cfg = ConvertConfig(formats=("onnx",), precisions=("fp32",))
    convert(tiny_cnn().eval(), digits, out, cfg, progress=False, measure_latency=False)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    free = shutil.disk_usage(full_disk).free
    (full_disk / "filler").write_bytes(bytes(max(free - 8192, 0)))
    with pytest.raises(EdgesubError, match="no space left on device") as info:
        convert(tiny_cnn().eval(), digits, out, cfg, progress=False, measure_latency=False)
    assert "\n" not in str(info.value)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    load_manifest(out / "manifest.json")
