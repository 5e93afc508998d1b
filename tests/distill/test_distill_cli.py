"""`edgesub distill` from a config, with a method preset, and in 2 processes (torchrun + DDP on
CPU/gloo) against 1 process on the same run."""

import json
import shutil
import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from edgesub.cli import cli
from edgesub.config import DataConfig
from edgesub.config import load as load_config
from edgesub.data import load_dataset
from edgesub.distill import load_deployable
from edgesub.rundir import RunDir

CONFIG = """
name = "one"
runs_dir = "{runs}"
[teacher]
feature_dim = 64
epochs = 2
batch_size = 128
[subspace]
k = 8
sweep = false
[student]
width = 8
[distill]
epochs = 3
batch_size = 64
"""


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    folder = tmp_path_factory.mktemp("distill")
    path = folder / "pipeline.toml"
    path.write_text(CONFIG.format(runs=folder / "runs"))
    result = invoke("distill", "--config", str(path), "--no-progress")
    assert result.exit_code == 0, result.output
    return path, RunDir(folder / "runs" / "one")


def test_config_creates_the_run_with_teacher_subspace_and_student(config):
    _, run = config
    assert all(p.exists() for p in (run.config, run.teacher, run.subspace, run.student))
    assert json.loads(run.student_json.read_text())["epochs_run"] == 3


def test_config_with_other_teacher_settings_is_refused_and_nothing_overwritten(config):
    path, run = config
    before = run.student.read_bytes()
    result = invoke("distill", "--config", str(path), "--set", "teacher.epochs=3")
    assert result.exit_code == 1 and "teacher.epochs" in result.output
    assert "Traceback" not in result.output and run.student.read_bytes() == before
    assert invoke("distill", str(run.root), "--config", str(path)).exit_code == 2


def test_config_with_other_distill_settings_reuses_teacher_and_subspace(config, tmp_path):
    path, run = config
    shutil.copytree(run.root, tmp_path / "runs" / "one")
    copy = RunDir(tmp_path / "runs" / "one")
    moved = tmp_path / "pipeline.toml"
    moved.write_text(path.read_text().replace(str(run.root.parent), str(tmp_path / "runs")))
    kept = {p: p.read_bytes() for p in (copy.teacher, copy.subspace)}
    result = invoke("distill", "--config", str(moved), "--epochs", "1", "--no-progress")
    assert result.exit_code == 0, result.output
    assert all(p.read_bytes() == b for p, b in kept.items())
    assert json.loads(copy.student_json.read_text())["epochs_run"] == 1
    assert load_config(copy.config).distill.epochs == 1


def _copy(config, tmp_path) -> RunDir:
    copy = RunDir(tmp_path / "copy")
    shutil.copytree(config[1].root, copy.root)
    return copy


def test_method_preset_on_a_run_dir(config, tmp_path):
    copy = _copy(config, tmp_path)
    result = invoke("distill", str(copy.root), "--method", "fitnets", "--no-progress", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["losses"] == {"fitnets": 1.0, "head_ce": 1.0}


def test_new_method_presets_and_unknown_names_on_a_run_dir(config, tmp_path):
    copy = _copy(config, tmp_path)
    result = invoke("distill", str(copy.root), "--method", "simkd", "--no-progress", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["losses"] == {"simkd": 1.0} and summary["head_init"] == "teacher"
    assert load_deployable(copy).head.in_features == 8
    result = invoke("distill", str(copy.root), "--method", "decoupled", "--no-progress")
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "dist, dkd, fitnets, logit_kd, simkd, subspace_native" in result.output


def test_two_processes_train_what_one_process_trains(config, tmp_path):
    """Same global batches, gradients averaged over ranks, batch norm over the global batch: the
    weights agree up to float summation order. Conv biases before batch norm are left out of the
    comparison: their exact gradient is 0, and Adam turns its rounding noise into lr-sized steps
    that differ between any two summation orders (the model's function does not depend on
    them), so they — and the running means that track them — are compared through the outputs.
    """
    run, two = RunDir(tmp_path / "one"), RunDir(tmp_path / "two")
    for copy, nproc in ((run, "1"), (two, "2")):
        shutil.copytree(config[1].root, copy.root)
        for path in (copy.student, copy.student_json, copy.checkpoints / "student.pt"):
            path.unlink()
        # One epoch: the deployed weights are that epoch's in both, where with more epochs a
        # one-sample tie in validation accuracy could pick different best epochs.
        command = [sys.executable, "-m", "edgesub", "distill", str(copy.root), "--epochs", "1"]
        result = subprocess.run(
            [*command, "--nproc", nproc, "--no-progress"], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr
    one_meta, two_meta = (json.loads(r.student_json.read_text()) for r in (run, two))
    assert (two_meta["processes"], one_meta["processes"]) == (2, 1)
    a, b = load_file(run.student), load_file(two.student)
    for name in (n for n in a if n.endswith(".weight")):
        torch.testing.assert_close(a[name], b[name], atol=1e-5, rtol=1e-4)
    x = torch.from_numpy(load_dataset(DataConfig()).test.x)
    with torch.no_grad():
        la, lb = load_deployable(run)(x), load_deployable(two)(x)
    assert (la - lb).abs().max() < 0.02 * la.abs().max()
    assert abs(two_meta["test_accuracy"] - one_meta["test_accuracy"]) < 0.6  # ≤ 2 of 360
