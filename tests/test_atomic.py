import os

import pytest

from edgesub.atomic import atomic_path, atomic_write_bytes, atomic_write_json, atomic_write_text
from edgesub.errors import EdgesubError


def test_failure_leaves_old_file_and_no_temp(tmp_path):
    target = tmp_path / "report.html"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["report.html"]


def test_interrupt_leaves_nothing(tmp_path):
    target = tmp_path / "model.onnx"
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_bytes(b"partial")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_json_handles_numpy(tmp_path):
    np = pytest.importorskip("numpy")
    path = atomic_write_json(tmp_path / "a.json", {"x": np.float32(1.5), "v": np.arange(2)})
    assert path.read_text().replace(" ", "").replace("\n", "") == '{"x":1.5,"v":[0,1]}'


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_folder_is_one_clear_error(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    with pytest.raises(EdgesubError, match="cannot write"):
        atomic_write_text(ro / "x.txt", "x")


def test_unwritable_target_is_one_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(EdgesubError, match="cannot write"):
        atomic_write_text(blocker / "x.txt", "x")


def test_written_files_get_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "report.html", "x")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


def test_the_next_write_removes_temp_files_a_killed_writer_left(tmp_path, dead_pid):
    stale = tmp_path / f".model.onnx.{dead_pid}.abc123_x.tmp"
    live = tmp_path / f".plot.png.{os.getpid()}.zz9.tmp"  # a writer still at work: kept
    foreign = tmp_path / "notes.tmp"  # not edgesub's pattern: kept
    for path in (stale, live, foreign):
        path.write_bytes(b"partial")
    atomic_write_text(tmp_path / "report.html", "new")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["report.html", live.name, foreign.name]
    )


def test_temp_names_carry_the_writer_pid(tmp_path):
    with atomic_path(tmp_path / "a.bin") as tmp:
        assert f".a.bin.{os.getpid()}." in tmp.name
        tmp.write_bytes(b"x")


def test_a_full_disk_says_how_much_room_is_left(full_disk):
    """safetensors files are written as bytes through here, so a full disk is this line too."""
    with pytest.raises(EdgesubError, match=r"no space left on device \(\d+\.\d MB free\)") as c:
        atomic_write_bytes(full_disk / "student.safetensors", bytes(2_000_000))
    assert "\n" not in str(c.value) and list(full_disk.iterdir()) == []


def test_json_refuses_nan_and_infinity_naming_the_field(tmp_path):
    target = tmp_path / "profile.json"
    atomic_write_json(target, {"old": 1})
    with pytest.raises(EdgesubError, match=r"records\[1\]\.energy_mj is not a finite number"):
        atomic_write_json(target, {"records": [{"energy_mj": 1.0}, {"energy_mj": float("inf")}]})
    assert target.read_text().replace(" ", "").replace("\n", "") == '{"old":1}'
    assert os.listdir(tmp_path) == ["profile.json"]
