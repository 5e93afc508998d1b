"""Unbounded and non-finite input to profiling is refused up front (README, Limits): no hang,
no crash, no gigabytes read before the refusal, no ``Infinity`` in ``--json``."""

import os
from importlib import resources
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_graph_onnx import tiny_cnn

from edgesub.cli import cli
from edgesub.errors import ConfigError, ModelFileError
from edgesub.profile.devices import load_devices
from edgesub.profile.formats import load_graph
from edgesub.profile.measure import measure_artifact

GiB = 1024**3


def _pi4_with(tmp_path: Path, *edits: tuple[str, str]) -> Path:
    """A profiles folder holding the built-in Raspberry Pi 4 profile with ``edits`` made."""
    text = resources.files("edgesub.device_profiles").joinpath("raspberry-pi-4b.toml").read_text()
    for old, new in edits:
        assert old in text
        text = text.replace(old, new)
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "mine.toml").write_text(text)
    return folder


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("full_load_w = 5.0", "full_load_w = inf", "power.full_load_w"),
        ("bandwidth_gbps = 12.8", "bandwidth_gbps = inf", "memory.bandwidth_gbps"),
        ("active_w_per_core = 0.85", "active_w_per_core = inf", "active_w_per_core"),
        ("active_w_per_core = 0.85", "active_w_per_core = nan", "active_w_per_core"),
    ],
)
def test_non_finite_profile_numbers_are_refused(tmp_path, old, new, field):
    folder = _pi4_with(tmp_path, (old, new))
    with pytest.raises(ConfigError, match="finite") as info:
        load_devices(folder)
    assert "mine.toml" in str(info.value) and field in str(info.value)


def test_json_of_devices_never_prints_infinity(tmp_path):
    folder = _pi4_with(tmp_path, ("full_load_w = 5.0", "full_load_w = inf"))
    result = CliRunner().invoke(cli, ["devices", "--profiles", str(folder), "--json"])
    assert result.exit_code == 1 and "Infinity" not in result.output
    assert result.output.startswith("error: ") and "power.full_load_w" in result.output


def test_a_billion_cores_is_refused_before_anything_is_placed(tmp_path):
    folder = _pi4_with(
        tmp_path,
        ("[cpu]\ncores = 4", "[cpu]\ncores = 1000000000"),
        ('name = "main"\ncores = 4', 'name = "main"\ncores = 1000000000'),
    )
    with pytest.raises(ConfigError, match=r"cpu\.cores.*at most 1024"):
        load_devices(folder)


def test_a_fifo_in_the_profiles_folder_is_refused_not_opened(tmp_path):
    folder = tmp_path / "profiles"
    folder.mkdir()
    os.mkfifo(folder / "x.toml")  # opening it for reading would block forever
    with pytest.raises(ConfigError, match=r"x\.toml is not a regular file"):
        load_devices(folder)


@pytest.mark.parametrize(
    ("name", "head", "size"),
    [
        ("huge.tflite", b"\x1c\x00\x00\x00TFL3", 40 * GiB),
        ("huge.onnx", b"\x08\x08", 3 * GiB),
    ],
)
def test_model_files_past_2_gib_are_refused_unread(tmp_path, name, head, size):
    path = tmp_path / name
    with open(path, "wb") as fh:  # sparse: takes no disk, and must never be read into memory
        fh.write(head)
        fh.truncate(size)
    with pytest.raises(ModelFileError, match=r"the limit is 2,147,483,648 bytes"):
        load_graph(path)
    with pytest.raises(ModelFileError, match=r"the limit is 2,147,483,648 bytes"):
        measure_artifact(path)


def test_a_tflite_file_is_judged_by_its_header_first(tmp_path):
    path = tmp_path / "fake.tflite"
    path.write_bytes(b"not a flatbuffer at all" * 100)
    with pytest.raises(ModelFileError, match="missing TFL3 identifier"):
        load_graph(path)


def test_a_fifo_model_file_is_refused_not_opened(tmp_path):
    path = tmp_path / "model.onnx"
    os.mkfifo(path)
    with pytest.raises(ModelFileError, match="not a regular file"):
        load_graph(path)
    with pytest.raises(ModelFileError, match="not a regular file"):
        measure_artifact(path)


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--runs", "1000000000"), ("--threads", "100000"), ("--warmup", "1000000000")],
)
def test_runs_threads_and_warmup_are_bounded_at_the_cli(tmp_path, flag, value):
    model = tiny_cnn(tmp_path / "tiny.onnx")
    result = CliRunner().invoke(cli, ["profile", str(model), flag, value])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"Invalid value for '{flag}'" in result.output and value in result.output


@pytest.mark.parametrize(
    ("option", "message"),
    [({"runs": 10**9}, r"runs must be in 1\.\.10,000"), ({"threads": 10**5}, r"threads must be")],
)
def test_runs_and_threads_are_bounded_in_the_api(tmp_path, option, message):
    model = tiny_cnn(tmp_path / "tiny.onnx")
    with pytest.raises(ConfigError, match=message):
        measure_artifact(model, **option)


def test_an_input_shape_past_the_value_limit_is_refused(tmp_path):
    model = tiny_cnn(tmp_path / "tiny.onnx", batch="N")
    result = CliRunner().invoke(
        cli, ["profile", str(model), "--input-shape", "2000000,1,8,8", "--no-measure"]
    )
    assert result.exit_code == 2 and "the limit is" in result.output
