"""The whole default pipeline in fast mode: every artifact exists, loads and matches PyTorch."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from edgesub.cli import cli

DEVICES = ["raspberry-pi-4b", "raspberry-pi-5", "pixel-4"]  # the fast_run fixture's (conftest)


def test_run_writes_the_run_directory_contract(fast_run):
    run, _ = fast_run
    for path in [
        run.marker,
        run.config,
        run.teacher,
        run.subspace,
        run.subspace_json,
        run.student,
        run.student_json,
        run.manifest,
        run.profile,
        run.report,
        run.timings,
    ]:
        assert path.is_file(), path
    assert list(run.features.glob("*.npy"))
    assert list(run.plots.glob("*.png"))
    assert not list(run.root.rglob("*.tmp")), "temp files left behind"


def test_artifacts_are_verified_and_match_pytorch(fast_run):
    from edgesub.converters import load_manifest, run_artifact
    from edgesub.data import load_dataset
    from edgesub.distill import load_deployable
    from edgesub.pipeline import open_run

    run, _ = fast_run
    manifest = load_manifest(run.manifest)
    entries = manifest["artifacts"]
    formats = [(e["format"], e["precision"]) for e in entries]
    for combo in [("onnx", "fp32"), ("onnx", "int8"), ("tflite", "fp32"), ("tflite", "int8")]:
        assert combo in formats
    _, cfg = open_run(run.root)
    test = load_dataset(cfg.data).test
    torch = pytest.importorskip("torch")
    with torch.no_grad():
        reference = load_deployable(run)(torch.from_numpy(test.x)).numpy()
    for entry in entries:
        assert entry["parity"]["passed"], entry
        logits = run_artifact(run.artifacts / entry["file"], test.x)
        if entry["precision"] == "fp32":
            assert np.max(np.abs(logits - reference)) <= 1e-4
        else:
            agreement = np.mean(logits.argmax(1) == reference.argmax(1))
            assert agreement >= 0.95, (entry["file"], agreement)


def test_profile_covers_every_artifact_on_every_device(fast_run):
    run, _ = fast_run
    records = json.loads(run.profile.read_text())["records"]
    artifacts = {r["artifact"] for r in records}
    assert len(artifacts) >= 4
    for artifact in artifacts:
        devices = {r["device"] for r in records if r["artifact"] == artifact}
        assert set(DEVICES) <= devices
        assert "host" in devices
    for r in records:
        assert r["latency_ms"] > 0 and r["peak_memory_mb"] > 0
        assert r["latency_kind"] == ("measured" if r["device"] == "host" else "estimated")
        assert r["energy_kind"] in {"measured", "estimated", "unavailable"}
        if r["device"] != "host":
            assert r["energy_mj"] > 0 and r["energy_kind"] == "estimated"


def test_run_prints_summary_and_stage_timings(fast_run):
    run, result = fast_run
    timings = json.loads(run.timings.read_text())
    assert set(timings["stages"]) == {
        "data",
        "teacher",
        "subspace",
        "distill",
        "convert",
        "profile",
        "report",
    }
    for stage in timings["stages"]:
        assert stage in result.output


def test_resume_of_a_finished_run_with_other_options_is_refused(fast_run):
    run, _ = fast_run
    args = [
        "run",
        "--fast",
        "--runs-dir",
        str(run.root.parent),
        "--name",
        "smoke",
        "--resume",
        "--set",
        "distill.epochs=99",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and "distill.epochs" in result.output


def test_profile_json_command_on_a_run_artifact(fast_run):
    run, _ = fast_run
    onnx_file = next(run.artifacts.glob("*.onnx"))
    result = CliRunner().invoke(
        cli,
        ["profile", str(onnx_file), "--device", "raspberry-pi-zero-2w", "--no-measure", "--json"],
    )
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    keys = {
        "artifact",
        "format",
        "precision",
        "device",
        "threads",
        "latency_ms",
        "latency_kind",
        "peak_memory_mb",
        "energy_mj",
        "energy_kind",
    }
    assert records and keys <= set(records[0])
    assert records[0]["device"] == "raspberry-pi-zero-2w"


def test_unknown_device_lists_known_ones(fast_run):
    run, _ = fast_run
    onnx_file = next(run.artifacts.glob("*.onnx"))
    result = CliRunner().invoke(cli, ["profile", str(onnx_file), "--device", "toaster"])
    assert result.exit_code == 1
    assert "toaster" in result.output and "raspberry-pi-4b" in result.output
    assert "Traceback" not in result.output


def test_resume_needs_only_the_run_directory_and_keeps_its_subspace(fast_run):
    """Issue 17 case 6: the printed hint resumes with the run's own config.toml (which has
    --fast and the devices); resuming used to refit the subspace, voiding the student's
    checkpoint ("written with a different configuration")."""
    run, _ = fast_run
    subspace = run.subspace.read_bytes()
    result = CliRunner().invoke(cli, ["run", "--resume", str(run.root), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert run.subspace.read_bytes() == subspace


def test_resume_compares_resolved_runs_dirs(fast_run, monkeypatch):
    run, _ = fast_run
    monkeypatch.chdir(run.root.parent.parent)
    args = ["run", "--fast", "--runs-dir", f"./{run.root.parent.name}", "--name", "smoke"]
    for device in DEVICES:
        args += ["--device", device]
    result = CliRunner().invoke(cli, [*args, "--resume", "--no-progress"])
    assert result.exit_code == 0, result.output


def test_run_dir_argument_goes_with_resume_alone(tmp_path):
    result = CliRunner().invoke(cli, ["run", str(tmp_path), "--name", "x"])
    assert result.exit_code == 2 and "RUN_DIR goes with --resume alone" in result.output


def test_the_interrupt_hint_is_the_run_directory_quoted_for_a_shell():
    from edgesub.config import RunConfig
    from edgesub.pipeline import interrupted_hint

    cfg = RunConfig(runs_dir="my runs", name="a")
    assert interrupted_hint(cfg) == "edgesub run --resume 'my runs/a'"


# The stage commands below rerun stages of the finished run with its own configuration, so the
# run directory keeps its content; they stay last in this module all the same.


def test_stage_commands_rerun_on_a_run_directory(fast_run):
    run, _ = fast_run
    result = CliRunner().invoke(cli, ["distill", str(run.root), "--resume", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "deployed parameters" in result.output

    before = json.loads(run.subspace_json.read_text())
    result = CliRunner().invoke(cli, ["compress", str(run.root), "--json", "--no-progress"])
    assert result.exit_code == 0, result.output
    again = json.loads(result.stdout)
    assert again["k"] == before["k"] == 32
    assert again["full_head_accuracy"] > 80

    (run.root / "report.html").unlink()
    result = CliRunner().invoke(cli, ["report", str(run.root)])
    assert result.exit_code == 0 and run.report.is_file()
