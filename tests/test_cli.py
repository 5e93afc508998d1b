"""CLI error handling: one clear line, non-zero exit, no traceback, nothing half-written."""

import json
import os

import pytest
from click.testing import CliRunner

from edgesub.cli import cli
from edgesub.cli.app import print_json
from edgesub.errors import EdgesubError


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def assert_one_line_error(result, *fragments: str, code: int = 1):
    assert result.exit_code == code, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert "Traceback" not in result.output
    assert len(lines) == 1, result.output
    for fragment in fragments:
        assert fragment in lines[0]


def test_help_lists_every_stage_command():
    result = invoke("--help")
    assert result.exit_code == 0
    commands = ["run", "compress", "distill", "convert", "profile", "report", "devices", "package"]
    for command in commands:
        assert command in result.output


def test_malformed_config(tmp_path):
    bad = tmp_path / "pipeline.toml"
    bad.write_text("[teacher\nepochs=1")
    assert_one_line_error(invoke("run", "--config", str(bad)), "malformed TOML")


def test_missing_config(tmp_path):
    result = invoke("run", "--config", str(tmp_path / "absent.toml"))
    assert_one_line_error(result, "config file not found")


def test_unknown_set_key(tmp_path):
    result = invoke("run", "--runs-dir", str(tmp_path), "--set", "teacher.depth=3")
    assert_one_line_error(result, "unknown option teacher.depth")


def test_non_empty_run_dir_is_refused(tmp_path):
    (tmp_path / "default").mkdir()
    (tmp_path / "default" / "notes.txt").write_text("mine")
    result = invoke("run", "--runs-dir", str(tmp_path))
    assert_one_line_error(result, "not empty", "--overwrite")
    assert (tmp_path / "default" / "notes.txt").read_text() == "mine"


def test_a_run_that_failed_before_any_stage_wrote_can_be_run_again(tmp_path):
    args = ("run", "--runs-dir", str(tmp_path), "--data", "csv:" + str(tmp_path / "absent.csv"))
    for attempt in (1, 2):  # the second gives the same error, not "is not empty"
        result = invoke(*args)
        assert result.exit_code == 1 and "Traceback" not in result.output, attempt
        assert "absent.csv does not exist" in result.output, result.output
    assert {p.name for p in (tmp_path / "default").iterdir()} == {"config.toml", ".edgesub-run"}


def test_overwrite_refuses_to_delete_a_folder_that_is_not_a_run(tmp_path):
    (tmp_path / "default").mkdir()
    (tmp_path / "default" / "notes.txt").write_text("mine")
    result = invoke("run", "--runs-dir", str(tmp_path), "--overwrite")
    assert_one_line_error(result, "not an edgesub run")
    assert (tmp_path / "default" / "notes.txt").exists()


def test_overwrite_and_resume_exclude_each_other(tmp_path):
    result = invoke("run", "--runs-dir", str(tmp_path), "--overwrite", "--resume")
    assert result.exit_code == 2


def test_stage_command_on_missing_run_dir(tmp_path):
    result = invoke("distill", str(tmp_path / "nope"))
    assert_one_line_error(result, "does not exist")


@pytest.mark.parametrize("shape", ["1,a", "0,3", ""])
def test_bad_input_shape(tmp_path, shape):
    model = tmp_path / "m.onnx"
    model.write_bytes(b"not a model")
    result = invoke("profile", str(model), "--input-shape", shape, "--no-measure")
    assert result.exit_code == 2


def test_devices_show_prints_the_profile_with_its_sources():
    result = invoke("devices", "show", "raspberry-pi-5")
    assert result.exit_code == 0, result.output
    assert 'id = "raspberry-pi-5"' in result.output and "[[sources]]" in result.output


def test_devices_list_json_has_every_builtin():
    import json

    result = invoke("devices", "--json", "list")
    ids = {d["id"] for d in json.loads(result.output)}
    assert {"raspberry-pi-4b", "raspberry-pi-zero-2w", "jetson-nano", "snapdragon-8-gen-2"} <= ids


def test_devices_show_unknown_lists_known():
    assert_one_line_error(invoke("devices", "show", "toaster"), "toaster", "raspberry-pi-4b")


HOSTILE_NAMES = ["..", ".", "a/b", "../x", "a\\b", "x\x00y", "tab\tname", "new\nline", "a" * 101]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=repr)
@pytest.mark.parametrize("mode", ["--overwrite", "--resume", None])
def test_a_run_name_is_one_plain_folder_name(tmp_path, name, mode):
    """`--name .. --overwrite` once deleted the folder above runs_dir, `--name .` its siblings."""
    outer = tmp_path / "outer"
    runs = outer / "runs"
    (runs / "sibling").mkdir(parents=True)
    (runs / "sibling" / "config.toml").write_text('name = "sibling"\n')
    (outer / "config.toml").write_text("# the user's own file\n")
    args = ["run", "--runs-dir", str(runs), "--name", name, *([mode] if mode else [])]
    assert_one_line_error(invoke(*args), "name must")
    assert (outer / "config.toml").read_text() == "# the user's own file\n"
    assert (runs / "sibling" / "config.toml").is_file()
    assert sorted(p.name for p in outer.iterdir()) == ["config.toml", "runs"]


def test_overwrite_needs_the_marker_edgesub_writes(tmp_path):
    """A folder with a config.toml is not enough: only a folder edgesub marked is deleted."""
    from edgesub.config import RunConfig
    from edgesub.pipeline import Mode, prepare_run_dir

    legacy = tmp_path / "default"
    legacy.mkdir()
    (legacy / "config.toml").write_text('name = "default"\n')
    (legacy / "thesis.tex").write_text("mine")
    result = invoke("run", "--runs-dir", str(tmp_path), "--overwrite")
    assert_one_line_error(result, "not an edgesub run", ".edgesub-run")
    assert (legacy / "thesis.tex").read_text() == "mine"

    cfg = RunConfig(name="made", runs_dir=str(tmp_path)).validate()
    run = prepare_run_dir(cfg, Mode.NEW)
    first_id = run.run_id()
    assert first_id and run.marker.is_file()
    (run.root / "teacher.json").write_text("{}")
    again = prepare_run_dir(cfg, Mode.OVERWRITE)
    assert not (again.root / "teacher.json").exists()
    assert again.run_id() and again.run_id() != first_id


def test_overwrite_refuses_a_symlinked_run_folder(tmp_path):
    from edgesub.config import RunConfig
    from edgesub.pipeline import Mode, prepare_run_dir

    elsewhere = tmp_path / "elsewhere"
    made = prepare_run_dir(RunConfig(name="x", runs_dir=str(elsewhere)).validate(), Mode.NEW)
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "x").symlink_to(made.root, target_is_directory=True)
    result = invoke("run", "--runs-dir", str(runs), "--name", "x", "--overwrite")
    assert_one_line_error(result, "not a folder directly inside")
    assert made.config.is_file() and made.marker.is_file()


def test_a_fifo_config_is_one_clear_error(tmp_path):
    os.mkfifo(tmp_path / "x.toml")
    result = invoke("run", "--config", str(tmp_path / "x.toml"), "--runs-dir", str(tmp_path))
    assert_one_line_error(result, "x.toml is not a regular file")


def test_json_output_never_prints_nan_or_infinity(capsys):
    print_json({"ok": 1.0})
    assert json.loads(capsys.readouterr().out) == {"ok": 1.0}
    with pytest.raises(EdgesubError, match=r"score is not a finite number"):
        print_json({"score": float("nan")})
    assert capsys.readouterr().out == ""


def test_float_flags_refuse_infinity(tmp_path):
    result = invoke("compare", str(tmp_path), "--budget-mj", "inf")
    assert result.exit_code == 2 and "'inf' is not a finite number" in result.output
