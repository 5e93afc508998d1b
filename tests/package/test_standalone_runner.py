"""The Pi bundle's run.py on a model a user brought: an ONNX file ending in a Softmax, converted
and packaged through the CLI. Its manifest has no image preprocessing, and its output already is
a probability: run.py must show it as it is and refuse every bad input in one line, as predict does.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
Image = pytest.importorskip("PIL.Image")

from tiny_models import dense_onnx  # noqa: E402

from edgesub.cli import cli  # noqa: E402

BUNDLE = "model-raspberry-pi"


def invoke(*args: str) -> None:
    result = CliRunner().invoke(cli, [*args], catch_exceptions=False)
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """``edgesub convert model.onnx`` then ``edgesub package … --target raspberry-pi``."""
    root = tmp_path_factory.mktemp("softmax")
    model = dense_onnx(root / "model.onnx", softmax=True)
    invoke("convert", str(model), "--out", str(root / "out"), "--no-progress")
    files = ("--artifact", "model_fp32.onnx", "--artifact", "model_int8_dynamic.onnx")
    target = ("--target", "raspberry-pi", "--out", str(root / "pi"))
    invoke("package", str(root / "out"), *target, *files)
    return root / "pi" / BUNDLE


def run_py(folder: Path, *args: object) -> subprocess.CompletedProcess:
    command = [sys.executable, str(folder / "run.py"), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def assert_one_line(result: subprocess.CompletedProcess, fragment: str) -> None:
    assert result.returncode == 1 and result.stdout == "", result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert fragment in result.stderr, result.stderr


def test_runpy_shows_the_models_own_probabilities(bundle, tmp_path) -> None:
    x = np.random.default_rng(1).standard_normal((3, 1, 8, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    session = ort.InferenceSession(str(bundle.parents[1] / "model.onnx"))
    expected = session.run(None, {"x": x})[0]
    for model_file in ("model_fp32.onnx", "model_int8_dynamic.onnx"):
        result = run_py(bundle, tmp_path / "x.npy", "--top", "10", "--json", "--model", model_file)
        assert result.returncode == 0, result.stderr
        (record,) = json.loads(result.stdout)
        for row, ranked in zip(expected, record["predictions"], strict=True):
            got = np.array([r["score"] for r in sorted(ranked, key=lambda r: r["index"])])
            if model_file == "model_fp32.onnx":
                assert np.abs(got - row).max() <= 1e-6
            assert ranked[0]["index"] == int(row.argmax())
            assert got.sum() == pytest.approx(1.0, abs=0.05)  # not a second softmax's flat rows


def test_runpy_refuses_an_image_without_preprocessing_in_one_line(bundle, tmp_path) -> None:
    """The manifest of an ONNX file says nothing about pictures: no KeyError, one line."""
    Image.new("RGB", (8, 8)).save(tmp_path / "picture.png")
    assert_one_line(run_py(bundle, tmp_path / "picture.png"), "does not describe image")


def test_runpy_refuses_bad_inputs_in_one_line(bundle, tmp_path) -> None:
    np.save(tmp_path / "wrong.npy", np.zeros((2, 5), np.float32))
    np.save(tmp_path / "nan.npy", np.full((1, 8, 8), np.nan, np.float32))
    (tmp_path / "junk.png").write_text("not a picture")
    cases = {
        "wrong size": ((tmp_path / "wrong.npy",), "the model takes one 1x8x8 sample"),
        "NaN values": ((tmp_path / "nan.npy",), "contains NaN or inf values"),
        "undecodable image": ((tmp_path / "junk.png",), "does not describe image"),
        "absent input file": ((tmp_path / "absent.npy",), "no such file"),
        "unknown model": (
            (tmp_path / "wrong.npy", "--model", "model.tflite"),
            "no model model.tflite in this bundle",
        ),
    }
    for case, (args, fragment) in cases.items():
        result = run_py(bundle, *args)
        assert result.returncode == 1, case
        assert_one_line(result, fragment)


def test_runpy_refuses_a_broken_bundle_in_one_line(bundle, tmp_path) -> None:
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 8, 8), np.float32))
    missing = shutil.copytree(bundle, tmp_path / "missing")
    (missing / "model_fp32.onnx").unlink()
    assert_one_line(run_py(missing, x, "--model", "model_fp32.onnx"), "model_fp32.onnx is missing")
    junk = shutil.copytree(bundle, tmp_path / "junk")
    (junk / "manifest.json").write_text("{not json")
    assert_one_line(run_py(junk, x), "cannot read this bundle's manifest.json")
    absent = shutil.copytree(bundle, tmp_path / "absent")
    (absent / "manifest.json").unlink()
    assert_one_line(run_py(absent, x), "cannot read this bundle's manifest.json")
