"""Every hint names a command that exists and whose arguments fit it.

The hints are collected from the real failures (a convert --out folder given where a run is
expected, a model folder that is neither, a run missing its stages, an ONNX-only bundle for
Android) and each backquoted ``edgesub …`` in them is parsed by the real click CLI, the way
a user's shell would hand it over.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from tiny_models import dense_onnx

from edgesub import config as config_mod
from edgesub.cli import cli
from edgesub.report.rundata import read_run_data
from edgesub.rundir import RunDir

ROOT = Path(__file__).resolve().parents[1]
COMMAND = re.compile(r"`(edgesub [^`]+)`")
# Every stage name the package hands RunDir.require, read from its source.
REQUIRE = re.compile(r"\.require\([^,()]+,\s*\"(\w+)\"\)")


def failure(*args: str) -> str:
    """The one line a failing command prints."""
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code != 0 and "Traceback" not in result.output, result.output
    assert "Usage:" not in result.output, result.output  # the command's own error, not click's
    return result.output


def commands(message: str) -> list[list[str]]:
    found = [shlex.split(command)[1:] for command in COMMAND.findall(message)]
    assert found, f"no command named in: {message}"
    return found


def is_run(path: Path) -> bool:
    return (path / "config.toml").is_file()


# What a folder given to each command must be for it to work (click only checks it exists).
FOLDERS = {
    "convert": lambda path: is_run(path) or (path / "saved_model.pb").is_file(),
    "package": lambda path: is_run(path) or (path / "manifest.json").is_file(),
    "profile": is_run,
    "compare": is_run,
    "subspace": is_run,
    "distill": is_run,
    "report": is_run,
    "run": is_run,
}


def assert_parses(argv: list[str]) -> None:
    """The command exists, its arguments fit (types, required ones, path checks), and each
    folder given as an argument is one it takes."""
    name, *rest = argv
    with click.Context(cli, info_name="edgesub") as parent:
        command = cli.get_command(parent, name)
        assert command is not None, f"edgesub {name} does not exist"
        ctx = command.make_context(name, rest, parent=parent)  # UsageError when they don't fit
    arguments = [p.name for p in command.params if isinstance(p, click.Argument)]
    for value in (ctx.params[argument] for argument in arguments):
        for item in value if isinstance(value, tuple) else (value,):
            if isinstance(item, str) and Path(item).is_dir() and name in FOLDERS:
                assert FOLDERS[name](Path(item)), f"edgesub {name} does not take {item}"
    if name == "run" and ctx.params.get("run_dir"):
        assert ctx.params["resume"], "edgesub run takes RUN_DIR only with --resume"


@pytest.fixture(scope="module")
def out_cls(tmp_path_factory) -> Path:
    """The --out folder of ``edgesub convert model.onnx``: artifacts and manifest, no run."""
    root = tmp_path_factory.mktemp("hints")
    model = dense_onnx(root / "model.onnx", softmax=False)
    result = CliRunner().invoke(
        cli, ["convert", str(model), "--precision", "fp32", "--out", str(root / "out_cls")]
    )
    assert result.exit_code == 0, result.output
    return root / "out_cls"


def make_run(runs: Path, name: str) -> Path:
    """A run that has only its config.toml (every stage still to do)."""
    overrides = {"runs_dir": str(runs), "name": name}
    cfg = config_mod.apply_overrides(config_mod.RunConfig(), overrides)
    run = RunDir(runs / name)
    run.root.mkdir()
    run.config.write_text(config_mod.to_toml(cfg))
    run.mark()
    return run.root


@pytest.fixture(scope="module")
def bare_run(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("runs"), "r")


@pytest.fixture(scope="module")
def onnx_run(tmp_path_factory) -> Path:
    """A run whose artifacts are ONNX only: an android bundle needs a .tflite."""
    torch = pytest.importorskip("torch")
    from edgesub.config import ConvertConfig, DataConfig
    from edgesub.converters import convert
    from edgesub.data import load_dataset

    run = make_run(tmp_path_factory.mktemp("runs"), "onnx_only")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)).eval()
    cfg = ConvertConfig(formats=("onnx",), precisions=("fp32",))
    data = load_dataset(DataConfig())
    convert(net, data, RunDir(run).artifacts, cfg, progress=False, measure_latency=False)
    return run


def hints(out_cls: Path, bare_run: Path, onnx_run: Path, tmp_path: Path) -> dict[str, str]:
    model_folder = tmp_path / "tiny_bert_hf"  # a model folder that is not a run
    model_folder.mkdir()
    (model_folder / "config.json").write_text("{}")
    empty = tmp_path / "empty_out"
    empty.mkdir()
    records = make_run(tmp_path, "records.json")  # a run named like a file, no profile.json
    profiled = make_run(tmp_path, "profiled")  # a profile.json holding one device's record
    record = {
        "artifact": "m.onnx", "path": "m.onnx", "format": "onnx", "precision": "fp32",
        "size_bytes": 1, "macs": 1, "accuracy": None, "device": "raspberry-pi-5",
        "device_name": "Pi 5", "threads": 1, "latency_ms": 1.0, "latency_kind": "estimated",
        "latency_error_pct": 45.0, "latency_p90_ms": None, "peak_memory_mb": 1.0,
        "memory_kind": "estimated", "fits_in_memory": True, "energy_mj": 1.0,
        "energy_dynamic_mj": 0.5, "energy_kind": "estimated",
    }  # fmt: skip
    profile = {"schema_version": 1, "host": None, "records": [record]}
    (profiled / "profile.json").write_text(json.dumps(profile))
    partial = make_run(tmp_path, "partial")  # a profile.json whose record lacks keys
    (partial / "profile.json").write_text(json.dumps({"records": [{"artifact": "m.onnx"}]}))
    pi = ("--target", "raspberry-pi", "--out", str(tmp_path / "pi"))
    android = ("--target", "android", "--out", str(tmp_path / "android"))
    return {
        "profile an --out folder": failure("profile", str(out_cls)),
        "convert an --out folder": failure("convert", str(out_cls)),
        "convert a model folder": failure("convert", str(model_folder)),
        "package a folder without manifest": failure("package", str(empty), *pi),
        "android from ONNX artifacts": failure("package", str(onnx_run), *android),
        "convert a run without student": failure("convert", str(bare_run)),
        "profile a run without artifacts": failure("profile", str(bare_run)),
        "package a run without artifacts": failure("package", str(bare_run), *pi),
        "compare a .json folder": failure("compare", str(records)),
        "compare, device not profiled": failure("compare", str(profiled), "--device", "pixel-4"),
        "compare, a record lacks keys": failure("compare", str(partial)),
    }


def assert_all_fit(collected: dict[str, str]) -> None:
    for case, message in collected.items():
        for argv in commands(message):
            try:
                assert_parses(argv)
            except (click.UsageError, AssertionError) as exc:
                pytest.fail(f"{case}: `edgesub {shlex.join(argv)}` does not fit: {exc}")


def test_every_hint_of_a_failing_command_fits(out_cls, bare_run, onnx_run, tmp_path) -> None:
    collected = hints(out_cls, bare_run, onnx_run, tmp_path)
    for missing in read_run_data(bare_run).missing + read_run_data(tmp_path).missing:
        collected[f"report: {missing.name}"] = f"`{missing.command}`"
    assert_all_fit(collected)


def test_every_stage_a_command_requires_is_hinted_with_a_command_that_fits(
    out_cls, bare_run, tmp_path
) -> None:
    """Each stage name handed to RunDir.require anywhere, in a run, an --out folder, a bare one."""
    files = [*(ROOT / "edgesub").rglob("*.py"), *(ROOT / "converters").rglob("*.py")]
    stages = set(REQUIRE.findall("\n".join(p.read_text() for p in files)))
    assert {"run", "subspace", "distill", "convert"} <= stages
    collected = {}
    for stage in stages:
        for where, folder in (("a run", bare_run), ("an --out folder", out_cls), ("", tmp_path)):
            collected[f"require {stage} in {where or 'a bare folder'}"] = RunDir(
                folder
            ).missing_hint(stage)
    assert_all_fit(collected)


def test_an_out_folder_is_named_as_artifacts_with_commands_that_work(out_cls, tmp_path) -> None:
    """The issue's `edgesub convert out_cls` hint for convert's own --out folder is gone; the
    package command it names really builds a bundle."""
    message = failure("profile", str(out_cls))
    assert "holds converted artifacts" in message
    assert f"edgesub convert {out_cls} first" not in message
    (package,) = [argv for argv in commands(message) if argv[0] == "package"]
    bundle = [str(tmp_path / "bundle") if arg == "BUNDLE_DIR" else arg for arg in package]
    result = CliRunner().invoke(cli, bundle)
    assert result.exit_code == 0, result.output


def test_a_run_missing_a_stage_names_that_stage_on_the_run(bare_run) -> None:
    message = failure("convert", str(bare_run))
    assert f"`edgesub distill {bare_run}`" in message
    assert f"`edgesub run --resume {bare_run}`" in message
