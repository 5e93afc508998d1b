"""Generated hostile names (the class of test that found issue 17's data loss and label shift):
run names, labels, device ids and file names that a shell, a path join or a line-based file
would misread. Each is either used literally or refused in one line, never run or split."""

import json
import shlex
import shutil
import sys
import unicodedata
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgesub.cli import cli
from edgesub.config import RunConfig
from edgesub.errors import ConfigError, DataError
from edgesub.labels import check_label
from edgesub.pipeline import Mode, interrupted_hint, prepare_run_dir

sys.path.insert(0, str(Path(__file__).parent / "profile"))
from test_graph_onnx import tiny_cnn

# Strings a shell, a path join or a line split would act on: all must stay literal text.
SHELLISH = ["$(touch pwned)", "`touch pwned`", "a;touch pwned", "a b", "-rf", "'q'", '"q"', "*"]
UNICODE = ["ünïcødé", "模型", "emoji🙂", "ﬁ", "a\u200bb"]  # zero-width space is not a break
# Every character a line-based reader could split on or a terminal could act on.
BREAKING = [chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) in ("Cc", "Zl", "Zp")]


@pytest.mark.parametrize("name", SHELLISH + UNICODE, ids=repr)
def test_odd_but_valid_run_names_are_one_literal_folder(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    cfg = RunConfig(name=name, runs_dir=str(tmp_path / "runs")).validate()
    run = prepare_run_dir(cfg, Mode.NEW)
    assert [p.name for p in (tmp_path / "runs").iterdir() if not p.name.startswith(".")] == [name]
    assert run.root == tmp_path / "runs" / name
    assert shlex.split(interrupted_hint(cfg))[-1] == str(run.root)  # pastes back literally
    assert not list(tmp_path.glob("pwned"))


@pytest.mark.parametrize("char", BREAKING, ids=lambda c: f"U+{ord(c):04X}")
def test_a_run_name_or_label_with_any_breaking_character_is_refused(char):
    with pytest.raises(DataError, match="label"):
        check_label(f"cat{char}dog", "labels")
    if ord(char) < 32 or ord(char) == 127:
        with pytest.raises(ConfigError, match="name must"):
            RunConfig(name=f"run{char}x").validate()


@pytest.mark.parametrize("label", SHELLISH + UNICODE, ids=repr)
def test_odd_but_printable_labels_are_kept_as_they_are(label):
    assert check_label(label, "labels") == label


@pytest.mark.parametrize("device", [*SHELLISH, "../raspberry-pi-4b", "pixel-4\n", ""], ids=repr)
def test_a_hostile_device_id_is_one_line_listing_the_known_ones(tmp_path, monkeypatch, device):
    monkeypatch.chdir(tmp_path)
    model = tiny_cnn(tmp_path / "tiny.onnx")
    result = CliRunner().invoke(cli, ["profile", str(model), "--no-measure", "--device", device])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert "raspberry-pi-4b" in result.output
    assert not list(tmp_path.glob("pwned"))


@pytest.mark.parametrize("name", [*SHELLISH, *UNICODE, "new\nline", "tab\tname"], ids=repr)
def test_a_model_file_with_a_hostile_name_is_profiled_under_that_name(tmp_path, name):
    model = tiny_cnn(tmp_path / "tiny.onnx")
    odd = tmp_path / f"{name}.onnx"
    shutil.copy(model, odd)
    result = CliRunner().invoke(
        cli, ["profile", str(odd), "--no-measure", "--device", "pixel-4", "--json"]
    )
    assert result.exit_code == 0, result.output
    (record,) = json.loads(result.stdout)
    assert Path(record["artifact"]).name == f"{name}.onnx"
    assert not list(tmp_path.glob("pwned"))
