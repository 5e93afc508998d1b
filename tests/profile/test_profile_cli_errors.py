"""Bad input through `edgesub profile` / `devices`: one clear line, exit 1, never a traceback."""

from pathlib import Path

import pytest
from click.testing import CliRunner
from test_graph_onnx import tiny_cnn

from edgesub.cli import cli

PROFILE = ["profile", "--no-measure", "--device", "pixel-4"]


def one_error_line(*args: object) -> str:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error: ")
    return line


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return tiny_cnn(tmp_path / "tiny.onnx")


@pytest.fixture
def tflite(tmp_path_factory) -> Path:
    """A real .tflite made by litert-torch (the train extra)."""
    torch = pytest.importorskip("torch")
    litert_torch = pytest.importorskip("litert_torch")
    path = tmp_path_factory.mktemp("tfl") / "tiny.tflite"
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Flatten(), torch.nn.Linear(144, 3))
    litert_torch.convert(net.eval(), (torch.zeros(1, 1, 8, 8),)).export(str(path))
    return path


def test_unknown_device_lists_the_known_ones(model):
    line = one_error_line("profile", model, "--device", "toaster")
    assert "unknown device 'toaster'; known:" in line and "raspberry-pi-4b" in line
    line = one_error_line("devices", "show", "toaster")
    assert "known:" in line and "jetson-nano" in line


def test_malformed_profile_toml(model, tmp_path):
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "broken.toml").write_text('id = "x"\n[cpu\n')
    line = one_error_line(*PROFILE, model, "--profiles", folder)
    assert "broken.toml: malformed TOML" in line
    assert "malformed TOML" in one_error_line("devices", "--profiles", folder)


@pytest.mark.parametrize(
    ("fix", "field"),
    [
        (lambda t: t.replace("[memory]", "[memory_gone]"), "'memory' is missing"),
        (lambda t: t.replace("bandwidth_gbps", "bandwidth"), "'memory.bandwidth_gbps' is missing"),
        (lambda t: t.replace('display_name = "', "display_name = 3 #"), "'display_name' must be"),
    ],
)
def test_incomplete_profile_names_the_field(model, tmp_path, fix, field):
    from importlib import resources

    text = resources.files("edgesub.device_profiles").joinpath("pixel-4.toml").read_text()
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "mine.toml").write_text(fix(text))
    line = one_error_line("devices", "--profiles", folder)
    assert "mine.toml" in line and field in line


def test_corrupt_and_truncated_models(model, tmp_path):
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(model.read_bytes()[:100])
    assert "cut.onnx: not a readable ONNX model" in one_error_line(*PROFILE, cut)
    assert "cut.onnx" in one_error_line("profile", cut, "--device", "pixel-4")  # measuring too
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    assert "empty.onnx" in one_error_line(*PROFILE, empty)
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a model at all")
    assert "junk.tflite: not a TFLite flatbuffer" in one_error_line(*PROFILE, junk)
    other = tmp_path / "model.pt"
    other.write_bytes(b"x")
    assert "unsupported model format '.pt'" in one_error_line(*PROFILE, other)


def test_truncated_tflite(tflite, tmp_path):
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(tflite.read_bytes()[:400])
    assert "cut.tflite: corrupt or truncated" in one_error_line(*PROFILE, cut)


def test_uninferable_input_shape_asks_for_input_shape(tmp_path):
    dynamic = tiny_cnn(tmp_path / "dyn.onnx", side="H")
    line = one_error_line(*PROFILE, dynamic)
    assert "unknown dimensions [1, 1, ?, ?]; pass --input-shape" in line
    line = one_error_line(*PROFILE, dynamic, "--input-shape", "1,1,8")
    assert "does not fit input 'x' of rank 4" in line
    result = CliRunner().invoke(cli, [*PROFILE, str(dynamic), "--input-shape", "1,1,8,8"])
    assert result.exit_code == 0, result.output


def test_custom_ops_are_named(tmp_path):
    custom = tiny_cnn(tmp_path / "custom.onnx", custom=True)
    line = one_error_line(*PROFILE, custom)
    assert "custom.onnx: cannot estimate custom op(s) my.ops.FancyOp" in line
