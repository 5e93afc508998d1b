"""Unlabeled inputs extend the distillation transfer set: the teacher's features give their
targets, head_ce skips them, the subspace stays fitted on the labelled train split; and a given
teacher reads image files through a lazy view while the student trains on arrays."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from image_folders import register_test_teacher, write_digits

from edgesub.cli import cli
from edgesub.config import RunConfig, apply_overrides, to_toml
from edgesub.data import load_dataset
from edgesub.data.dataset import UNLABELED
from edgesub.distill import LOSSES, StudentData
from edgesub.distill.losses import LossInputs
from edgesub.errors import DataError
from edgesub.pipeline import stage_data, stage_distill, stage_subspace, stage_teacher
from edgesub.rundir import RunDir
from edgesub.teachers.given import given_views
from edgesub.teachers.loaded import run_teacher

SMALL = {  # a quick teacher, subspace and student on digits
    "name": "semi",
    "teacher.feature_dim": 64,
    "teacher.epochs": 2,
    "teacher.batch_size": 128,
    "subspace.k": 8,
    "subspace.sweep": False,
    "student.width": 8,
    "distill.epochs": 2,
}


def _ce_inputs(logits: torch.Tensor, labels: torch.Tensor) -> LossInputs:
    return LossInputs(output=logits, logits=logits, labels=labels, temperature=1.0)


def test_head_ce_is_the_mean_over_labelled_rows_only():
    torch.manual_seed(0)
    logits = torch.randn(6, 4, requires_grad=True)
    labels = torch.tensor([2, UNLABELED, 0, UNLABELED, UNLABELED, 3])
    loss = LOSSES.get("head_ce")(_ce_inputs(logits, labels))
    known = labels != UNLABELED
    expected = torch.nn.functional.cross_entropy(logits[known], labels[known])
    assert loss.item() == pytest.approx(expected.item())
    loss.backward()
    assert torch.count_nonzero(logits.grad[~known]) == 0  # no gradient from unlabeled rows
    assert torch.count_nonzero(logits.grad[known]) > 0


def test_head_ce_of_a_batch_without_labels_is_zero_with_a_graph():
    logits = torch.randn(4, 3, requires_grad=True)
    loss = LOSSES.get("head_ce")(_ce_inputs(logits, torch.full((4,), UNLABELED)))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.count_nonzero(logits.grad) == 0


def test_student_data_allows_unlabeled_train_rows_but_not_only_those():
    x = np.zeros((4, 1, 8, 8), np.float32)
    y = np.array([0, 1, UNLABELED, UNLABELED])
    data = StudentData(x, y, x, np.array([0, 1, 0, 1]), 2)
    data.check()
    assert data.unlabeled == 2
    with pytest.raises(DataError, match="train split has no labelled samples"):
        StudentData(x, np.full(4, UNLABELED), x, y[:2].repeat(2), 2).check()
    with pytest.raises(DataError, match="val split has labels outside"):
        StudentData(x, y, x, y, 2).check()


def test_unlabeled_images_extend_the_transfer_set_from_the_cli(tmp_path):
    """`edgesub distill --config ... --unlabeled DIR --skip-bad-images` end to end on digits."""
    extra = tmp_path / "extra"
    write_digits(extra, 120, start=1000, sizes=(8, 12), classes=False)
    (extra / "broken.png").write_bytes(b"not a picture")
    config = tmp_path / "pipeline.toml"
    small = apply_overrides(RunConfig(), {**SMALL, "runs_dir": str(tmp_path / "runs")})
    config.write_text(to_toml(small))
    args = ["distill", "--config", str(config), "--no-progress", "--json"]
    refused = CliRunner().invoke(cli, [*args, "--unlabeled", str(extra), "--set", "name=no"])
    assert refused.exit_code == 1 and "broken.png" in refused.output
    assert "--skip-bad-images" in refused.output
    result = CliRunner().invoke(cli, [*args, "--unlabeled", str(extra), "--skip-bad-images"])
    assert result.exit_code == 0, result.output
    run = RunDir(tmp_path / "runs" / "semi")
    student = json.loads(run.student_json.read_text())
    assert student["unlabeled_samples"] == 120 and student["test_accuracy"] > 30
    assert "unlabeled" in student["fingerprint"]
    h = np.load(run.features / "unlabeled.npy")
    assert h.shape == (120, 64) and not (run.features / "unlabeled_labels.npy").exists()
    meta = json.loads((run.features / "meta.json").read_text())
    assert meta["unlabeled"] == student["fingerprint"]["unlabeled"]
    teacher = json.loads(run.teacher_json.read_text())
    assert teacher["skipped_images"]["count"] == 1
    subspace = json.loads(run.subspace_json.read_text())
    plain = load_dataset(RunConfig().data)
    assert subspace["data"] == plain.fingerprint()  # fitted on the labelled splits only

    features_before = (run.features / "train.npy").stat().st_mtime_ns
    subspace_before = run.subspace.read_bytes()
    again = CliRunner().invoke(cli, [*args, "--skip-bad-images"])  # without unlabeled inputs
    assert again.exit_code == 0, again.output
    assert "unlabeled_samples" not in json.loads(run.student_json.read_text())
    assert run.subspace.read_bytes() == subspace_before
    assert (run.features / "train.npy").stat().st_mtime_ns == features_before


def test_a_given_teacher_reads_files_lazily_and_the_student_arrays(tmp_path):
    """A folder of digit files of two sizes, a teacher reading 16×16 and a student 8×8: the
    teacher's view is lazy, its cached features are exactly those of the materialised view,
    the unlabeled inputs get theirs, and the student distils from them."""
    write_digits(tmp_path / "data", 400, sizes=(8, 10))
    write_digits(tmp_path / "extra", 100, start=1000, sizes=(12,), classes=False)
    cfg = apply_overrides(
        RunConfig(),
        {
            "runs_dir": str(tmp_path / "runs"),
            "data.name": "image_folder",
            "data.path": str(tmp_path / "data"),
            "data.unlabeled": str(tmp_path / "extra"),
            "teacher.source": register_test_teacher(),
            "subspace.k": 8,
            "subspace.sweep": False,
            "student.width": 8,
            "student.input_size": [8, 8],
            "distill.epochs": 8,
        },
    )
    run = RunDir(tmp_path / "runs" / "default")
    run.root.mkdir(parents=True)
    data = stage_data(cfg)
    assert data.lazy
    teacher = stage_teacher(run, data, cfg, resume=False, progress=False)
    assert teacher["input_shape"] == [1, 16, 16] and teacher["feature_dim"] == 32
    assert stage_subspace(run, data, cfg, progress=False)["compressed_head_accuracy"] > 50
    student = stage_distill(run, data, cfg, resume=False, progress=False)
    assert student["unlabeled_samples"] == 100 and student["input_shape"] == [1, 8, 8]
    assert student["test_accuracy"] > 50
    seen, small = given_views(run, data)
    assert all(s.lazy for s in seen.with_splits().values())
    assert not small.lazy and small.unlabeled.x.shape == (100, 1, 8, 8)
    features = run_teacher(run).features
    for name, split in seen.with_splits().items():
        cached = np.load(run.features / f"{name}.npy")
        assert np.array_equal(cached, features(np.asarray(split.x))), name
