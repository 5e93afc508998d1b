import json
import os

import pytest
import torch
from safetensors.torch import load_file

from edgesub.config import DataConfig, TeacherConfig
from edgesub.data import load_dataset
from edgesub.errors import EdgesubError, ModelFileError, RunDirError
from edgesub.rundir import RunDir
from edgesub.teachers import TEACHERS, load_teacher, train_teacher

CFG = TeacherConfig(feature_dim=32, epochs=2, batch_size=128)


@pytest.fixture(scope="module")
def digits():
    return load_dataset(DataConfig())


def _interrupt_at(epoch, step):
    def hook(e, s):
        if (e, s) == (epoch, step):
            raise KeyboardInterrupt

    return hook


def test_teacher_trains_caches_and_loads(tmp_path, digits):
    run = RunDir(tmp_path)
    summary = train_teacher(run, digits, CFG, progress=False)
    assert summary["feature_dim"] == 32 and summary["epochs"] == 2
    assert summary["test_accuracy"] > 50
    assert json.loads(run.teacher_json.read_text())["params"] == summary["params"]
    mtime = run.teacher.stat().st_mtime_ns
    assert train_teacher(run, digits, CFG, progress=False) == summary
    assert run.teacher.stat().st_mtime_ns == mtime  # cached, not retrained
    teacher = load_teacher(run)
    assert teacher.features(torch.zeros(2, 1, 8, 8)).shape == (2, 32)
    assert not teacher.training


def test_interrupted_teacher_resumes_to_the_uninterrupted_result(tmp_path, digits):
    full = RunDir(tmp_path / "full")
    train_teacher(full, digits, CFG, progress=False)
    cut = RunDir(tmp_path / "cut")
    with pytest.raises(KeyboardInterrupt):
        train_teacher(cut, digits, CFG, progress=False, on_batch=_interrupt_at(1, 3))
    assert (cut.checkpoints / "teacher.pt").exists() and not cut.teacher.exists()
    state = torch.load(cut.checkpoints / "teacher.pt", weights_only=True)
    assert state["epoch"] == 1
    train_teacher(cut, digits, CFG, resume=True, progress=False)
    a, b = load_file(full.teacher), load_file(cut.teacher)
    assert all(torch.equal(a[n], b[n]) for n in a)


def test_resume_with_another_config_is_refused(tmp_path, digits):
    run = RunDir(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        train_teacher(run, digits, CFG, progress=False, on_batch=_interrupt_at(1, 0))
    other = TeacherConfig(feature_dim=32, epochs=2, batch_size=128, lr=1e-3)
    with pytest.raises(RunDirError, match="different configuration"):
        train_teacher(run, digits, other, resume=True, progress=False)


def test_missing_teacher_names_the_command(tmp_path):
    with pytest.raises(RunDirError, match="edgesub run"):
        load_teacher(RunDir(tmp_path))
    assert "wide_cnn" in TEACHERS


def test_a_full_disk_while_saving_the_checkpoint_is_one_line(full_disk, digits):
    run = RunDir(full_disk / "run")
    big = TeacherConfig(feature_dim=256, epochs=1, batch_size=128)
    with pytest.raises(EdgesubError) as caught:
        train_teacher(run, digits, big, progress=False)
    message = str(caught.value)
    assert message.startswith(f"cannot write {run.checkpoints / 'teacher.pt'}: no space left")
    assert "MB free" in message and "\n" not in message


class _Payload:
    def __reduce__(self):
        return (os.system, ("exit 0",))


def test_resuming_from_a_pickle_that_names_code_is_refused_in_one_line(tmp_path, digits):
    run = RunDir(tmp_path)
    run.checkpoints.mkdir(parents=True)
    torch.save({"epoch": 1, "payload": _Payload()}, run.checkpoints / "teacher.pt")
    with pytest.raises(ModelFileError) as caught:
        train_teacher(run, digits, CFG, resume=True, progress=False)
    message = str(caught.value)
    assert "would call posix.system" in message and "convert it to safetensors" in message
    assert "weights_only" not in message and "\n" not in message
