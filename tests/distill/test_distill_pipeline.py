"""A short real run of teacher → compress → distill on digits."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from edgesub.config import DataConfig, DistillConfig, StudentConfig, SubspaceConfig, TeacherConfig
from edgesub.data import load_dataset
from edgesub.distill import distill, load_deployable
from edgesub.errors import ConfigError, RunDirError
from edgesub.rundir import RunDir
from edgesub.subspace import compress
from edgesub.teachers import train_teacher

STUDENT = StudentConfig(width=8)
DISTILL = DistillConfig(epochs=2, batch_size=128)


@pytest.fixture(scope="module")
def digits():
    return load_dataset(DataConfig())


@pytest.fixture(scope="module")
def run(tmp_path_factory, digits):
    run = RunDir(tmp_path_factory.mktemp("run"))
    train_teacher(
        run, digits, TeacherConfig(feature_dim=64, epochs=2, batch_size=128), progress=False
    )
    compress(run, digits, SubspaceConfig(k=8), progress=False)
    return run


def test_compress_writes_projection_head_and_features(run, digits):
    summary = json.loads(run.subspace_json.read_text())
    assert (summary["d"], summary["k"], summary["compression"]) == (64, 8, 8.0)
    assert summary["compressed_head_params"] == 8 * 10 + 10
    assert summary["full_head_accuracy"] > 50 and summary["compressed_head_accuracy"] > 50
    assert [row["k"] for row in summary["sweep"]] == [32, 16, 8, 4, 2, 1]
    tensors = load_file(run.subspace)
    assert tensors["projection"].shape == (8, 64) and tensors["head_weight"].shape == (10, 8)
    h = np.load(run.features / "test.npy", mmap_mode="r")
    assert h.shape == (len(digits.test), 64)
    assert np.array_equal(np.load(run.features / "test_labels.npy"), digits.test.y)


def test_compress_rejects_bad_k_and_missing_teacher(run, digits, tmp_path):
    with pytest.raises(ConfigError, match="k=64"):
        compress(run, digits, SubspaceConfig(k=64, sweep=False), progress=False)
    with pytest.raises(RunDirError, match="edgesub run"):
        compress(RunDir(tmp_path), digits, SubspaceConfig(), progress=False)
    with pytest.raises(RunDirError, match="compress"):
        distill(RunDir(tmp_path), digits, STUDENT, DISTILL, progress=False)


def test_distill_interrupt_resume_matches_uninterrupted_and_deploys(run, digits, tmp_path):
    def stop(epoch, step):
        if (epoch, step) == (1, 2):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        distill(run, digits, STUDENT, DISTILL, progress=False, on_batch=stop)
    assert torch.load(run.checkpoints / "student.pt", weights_only=True)["epoch"] == 1
    with pytest.raises(RunDirError, match="different configuration"):
        distill(run, digits, StudentConfig(width=4), DISTILL, resume=True, progress=False)
    resumed = distill(run, digits, STUDENT, DISTILL, resume=True, progress=False)
    resumed_weights = load_file(run.student)
    fresh = distill(run, digits, STUDENT, DISTILL, progress=False)
    assert all(torch.equal(resumed_weights[n], t) for n, t in load_file(run.student).items())
    assert resumed["test_accuracy"] == fresh["test_accuracy"] > 30
    assert fresh["k"] == 8 and fresh["epochs_run"] == 2
    assert fresh["deployed_params"] == fresh["student_params"] + 8 * 10 + 10

    model = load_deployable(run)
    x = torch.from_numpy(digits.test.x[:16])
    with torch.no_grad():
        assert torch.equal(model(x), model.head(model.student(x)))
    assert model(x).shape == (16, 10) and not model.training
    head = load_file(run.subspace)
    assert torch.equal(model.head.weight, head["head_weight"])  # frozen head shipped as fitted
    allowed = (
        torch.nn.Conv2d,
        torch.nn.BatchNorm2d,
        torch.nn.ReLU,
        torch.nn.MaxPool2d,
        torch.nn.Flatten,
        torch.nn.Linear,
        torch.nn.Sequential,
    )
    leaves = [m for m in model.modules() if not list(m.children())]
    assert all(isinstance(m, allowed) for m in leaves)
