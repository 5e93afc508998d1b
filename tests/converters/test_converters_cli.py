"""`edgesub convert` from weights and from any ONNX file, `edgesub predict`, and bad input.

One small_cnn deployable is trained briefly on real digits, saved as .safetensors + student.json
(what a run writes), and converted once through the CLI; the other tests reuse its artifacts.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")
Image = pytest.importorskip("PIL.Image")

from tiny_models import fit  # noqa: E402

from edgesub.cli import cli  # noqa: E402
from edgesub.config import DataConfig  # noqa: E402
from edgesub.converters import load_manifest, run_artifact  # noqa: E402
from edgesub.converters.manifest_record import ArtifactEntry  # noqa: E402
from edgesub.converters.preprocessing import image_input  # noqa: E402
from edgesub.converters.recommend import choose  # noqa: E402
from edgesub.converters.sources import load_weights_model  # noqa: E402
from edgesub.data import load_dataset  # noqa: E402

ARCH = {"arch": "small_cnn", "width": 8, "k": 16, "input_shape": [1, 8, 8], "num_classes": 10}


def invoke(*args: str):
    return CliRunner().invoke(cli, [*args], catch_exceptions=False)


@pytest.fixture(scope="module")
def digits():
    return load_dataset(DataConfig())


@pytest.fixture(scope="module")
def weights(digits, tmp_path_factory) -> Path:
    """student.safetensors + student.json of a small_cnn deployable trained 8 epochs (~95 %)."""
    from edgesub.distill.deployable import Deployable
    from edgesub.students import build_student

    torch.manual_seed(0)
    net = Deployable(build_student("small_cnn", 8, 16, (1, 8, 8)), torch.nn.Linear(16, 10))
    fit(net, digits, epochs=8, batch_size=64)
    folder = tmp_path_factory.mktemp("weights")
    path = folder / "student.safetensors"
    safetensors_torch.save_file(net.eval().state_dict(), str(path))
    (folder / "student.json").write_text(json.dumps(ARCH))
    return path


@pytest.fixture(scope="module")
def artifacts(weights, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("artifacts")
    result = invoke("convert", str(weights), "--out", str(out), "--no-progress")
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def model(weights):
    net, _ = load_weights_model(weights, weights.with_suffix(".json"))
    return net


def torch_logits(model, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def test_convert_from_weights_writes_a_complete_manifest(artifacts, digits):
    manifest = load_manifest(artifacts / "manifest.json")
    files = {(e["format"], e["precision"]) for e in manifest["artifacts"]}
    assert files == {("onnx", "fp32"), ("onnx", "int8"), ("tflite", "fp32"), ("tflite", "int8")}
    assert all(e["parity"]["passed"] and e["accuracy"] > 85 for e in manifest["artifacts"])
    model = manifest["model"]
    assert model["labels"] == [str(i) for i in range(10)]
    pre = model["preprocessing"]
    assert pre["layout"] == "NCHW" and pre["color"] == "grey" and pre["size"] == [8, 8]
    assert pre["value_range"] == [0.0, 16.0]  # sklearn digits pixels, recovered from the data
    assert pre["scale"] == 1 / 16 and len(pre["mean"]) == len(pre["std"]) == 1
    # One recommended artifact per format, chosen by measured host latency.
    for fmt in ("onnx", "tflite"):
        group = [e for e in manifest["artifacts"] if e["format"] == fmt]
        assert sum(e["recommended"] for e in group) == 1
        assert all(e["host_latency_ms"] > 0 and e["host_latency_kind"] == "measured" for e in group)
        typed = [ArtifactEntry.from_dict(e) for e in group]
        assert manifest["recommended"]["by_format"][fmt] == choose(typed).file


def test_the_default_student_converts_to_every_format_and_precision(weights, tmp_path):
    precisions = ("fp32", "fp16", "int8", "int8_dynamic")
    args = [a for p in precisions for a in ("--precision", p)]
    out = tmp_path / "all"
    result = invoke("convert", str(weights), *args, "--out", str(out), "--no-progress", "--json")
    assert result.exit_code == 0, result.output
    entries = json.loads(result.output)
    made = {(e["format"], e["precision"]) for e in entries}
    assert made == {(f, p) for f in ("onnx", "tflite") for p in precisions}
    assert all(e["parity"]["passed"] for e in entries)
    assert len(load_manifest(out / "manifest.json")["artifacts"]) == 8


def test_convert_console_has_no_native_log_lines(weights, tmp_path):
    """A fresh process, as a user runs it: the TFLite/absl/oneDNN C++ notices stay out of it."""
    out = tmp_path / "art"
    args = ["convert", str(weights), "--out", str(out), "--format", "tflite", "--no-progress"]
    args += ["--precision", "int8", "--precision", "fp16", "--precision", "int8_dynamic"]
    result = subprocess.run(
        [sys.executable, "-m", "edgesub", *args], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    console = result.stdout + result.stderr
    for notice in ("XNNPACK", "absl", "oneDNN", "INFO:", "I0000", "W0000"):
        assert notice not in console, console
    assert "student_int8_dynamic.tflite" in result.stdout


def test_predict_npy_matches_the_runtime_and_torch(artifacts, model, digits, tmp_path):
    sample = digits.test.x[:3]
    np.save(tmp_path / "x.npy", sample)
    expected = torch_logits(model, sample).argmax(1)
    for entry in load_manifest(artifacts / "manifest.json")["artifacts"]:
        path = artifacts / entry["file"]
        result = invoke("predict", str(path), str(tmp_path / "x.npy"), "--json", "--top", "3")
        assert result.exit_code == 0, result.output
        predictions = json.loads(result.output)["predictions"]
        top1 = [int(p[0]["label"]) for p in predictions]
        assert top1 == list(run_artifact(path, sample).argmax(1))
        if entry["precision"] == "fp32":
            assert top1 == list(expected)
        assert all(len(p) == 3 and p[0]["score"] >= p[1]["score"] for p in predictions)


def _digit_png(digits, index: int, path: Path, upscale: int = 1) -> Path:
    """A test digit as an 8-bit greyscale PNG (raw 0..16 pixels mapped to 0..255)."""
    pre = digits.preprocessing
    raw = (digits.test.x[index, 0] * pre["std"][0] + pre["mean"][0]) / pre["scale"]
    pixels = np.clip(np.round(raw * 255 / 16), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels, mode="L")
    image.resize((8 * upscale, 8 * upscale), Image.Resampling.NEAREST).save(path)
    return path


def test_predict_image_applies_the_manifest_preprocessing(artifacts, model, digits, tmp_path):
    manifest = load_manifest(artifacts / "manifest.json")
    png = _digit_png(digits, 5, tmp_path / "digit.png", upscale=4)
    x = image_input(png, manifest["model"]["preprocessing"])
    # 8-bit rounding moves a raw pixel by at most 16/510; in standardised units that is small.
    np.testing.assert_allclose(x[0], digits.test.x[5], atol=0.04 / digits.preprocessing["std"][0])
    result = invoke("predict", str(artifacts / "student_fp32.onnx"), str(png))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith(f"1. {torch_logits(model, x).argmax()} ")


def test_predict_text_on_an_image_model_says_it_takes_images(artifacts):
    result = invoke("predict", str(artifacts / "student_fp32.onnx"), "a lovely film")
    assert result.exit_code == 1
    assert "text input needs a text model" in result.output
    assert "image input" in result.output


def test_predict_runs_without_torch(artifacts, digits, tmp_path):
    """The runtime-only install: predict with torch unimportable, on both formats."""
    np.save(tmp_path / "x.npy", digits.test.x[:1])
    png = _digit_png(digits, 0, tmp_path / "digit.png")
    script = f"""
import sys
sys.modules["torch"] = None  # any import of torch now raises ImportError
from click.testing import CliRunner
from edgesub.cli import cli
for name in ("student_int8.onnx", "student_int8.tflite"):
    for source in ({str(tmp_path / "x.npy")!r}, {str(png)!r}):
        args = ["predict", {str(artifacts)!r} + "/" + name, source, "--json"]
        result = CliRunner().invoke(cli, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        print(result.output.count('"label"'))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["5"] * 4


def test_convert_any_onnx_file_to_int8_verified_against_itself(artifacts, digits, tmp_path):
    calibration = tmp_path / "calib.npy"
    np.save(calibration, digits.train.x[:200])
    source = artifacts / "student_fp32.onnx"
    out = tmp_path / "q"
    args = ["--precision", "int8", "--calibration", str(calibration), "--out", str(out)]
    result = invoke("convert", str(source), *args, "--name", "third_party", "--json")
    assert result.exit_code == 0, result.output
    (entry,) = json.loads(result.output)
    assert entry["file"] == "third_party_int8.onnx" and entry["parity"]["passed"]
    assert entry["accuracy"] is None and entry["parity"]["criterion"] == "top1_agreement"
    assert entry["parity"]["top1_agreement"] >= 98.5
    manifest = load_manifest(out / "manifest.json")
    assert manifest["model"]["source"]["file"] == "student_fp32.onnx"
    assert "50 held-out samples" in manifest["model"]["verified_on"]
    quantised = run_artifact(out / entry["file"], digits.test.x)
    agreement = (quantised.argmax(1) == run_artifact(source, digits.test.x).argmax(1)).mean()
    assert agreement >= 0.97


def test_convert_onnx_without_calibration_uses_dynamic_int8(artifacts, tmp_path):
    out = tmp_path / "dyn"
    result = invoke("convert", str(artifacts / "student_fp32.onnx"), "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    precisions = [e["precision"] for e in json.loads(result.output)]
    assert precisions == ["fp32", "int8_dynamic"]
    assert "seeded standard-normal" in load_manifest(out / "manifest.json")["model"]["verified_on"]


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((20, 8, 8), np.float32), r"shape \(20, 8, 8\), the model takes N×1×8×8"),
        (np.zeros((20, 1, 8, 8), np.float64), "must be float32, got float64"),
        (np.full((20, 1, 8, 8), np.nan, np.float32), "sample 0 contains NaN"),
    ],
    ids=["shape", "dtype", "nan"],
)
@pytest.mark.parametrize("source", ["onnx", "weights"])
def test_bad_calibration_data_is_one_clear_error(
    artifacts, weights, tmp_path, array, message, source
):
    np.save(tmp_path / "calib.npy", array)
    out = tmp_path / "out"
    model = artifacts / "student_fp32.onnx" if source == "onnx" else weights
    result = invoke(
        "convert", str(model), "--calibration", str(tmp_path / "calib.npy"), "--out", str(out)
    )
    assert result.exit_code == 1
    assert len(result.output.splitlines()) == 1, result.output
    assert re.match(f"error: calibration .*{message}", result.output), result.output
    assert not out.exists()


def test_corrupt_onnx_file_is_one_clear_error(artifacts, tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes((artifacts / "student_fp32.onnx").read_bytes()[:700])
    out = tmp_path / "out"
    result = invoke("convert", str(broken), "--out", str(out))
    assert result.exit_code == 1
    assert result.output.startswith("error: ") and "cannot load ONNX model" in result.output
    assert len(result.output.splitlines()) == 1
    assert not out.exists()


def test_corrupt_weights_file_is_one_clear_error(weights, tmp_path):
    broken = tmp_path / "student.safetensors"
    broken.write_bytes(weights.read_bytes()[:100])
    (tmp_path / "student.json").write_text(json.dumps(ARCH))
    result = invoke("convert", str(broken), "--out", str(tmp_path / "out"))
    assert result.exit_code == 1 and "cannot read weights" in result.output
    assert not (tmp_path / "out").exists()


def test_weights_that_do_not_fit_the_architecture(weights, tmp_path):
    config = tmp_path / "wide.json"
    config.write_text(json.dumps({**ARCH, "width": 16}))
    result = invoke("convert", str(weights), "--arch-config", str(config), "--out", str(tmp_path))
    assert result.exit_code == 1
    assert "does not fit the architecture in wide.json" in result.output


def test_unwritable_output_path_is_one_clear_error(artifacts, weights, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    for source in (artifacts / "student_fp32.onnx", weights):
        result = invoke("convert", str(source), "--out", str(blocker / "out"))
        assert result.exit_code == 1
        assert result.output.startswith("error: cannot write artifacts to"), result.output
    assert blocker.read_text() == "not a folder"


def test_unknown_model_file_type_and_onnx_to_tflite(artifacts, tmp_path):
    other = tmp_path / "model.zip"
    other.write_bytes(b"x")
    result = invoke("convert", str(other))
    expected = (
        "expected a run directory, file.py:factory, hf:DIR, a SavedModel directory, or a .h5, "
        ".keras, .onnx, .pt2, .safetensors file"
    )
    assert result.exit_code == 1 and expected in result.output, result.output
    result = invoke("convert", str(artifacts / "student_fp32.onnx"), "--format", "tflite")
    assert result.exit_code == 1 and "ONNX artifacts only" in result.output


def test_static_int8_of_onnx_needs_calibration(artifacts, tmp_path):
    source = str(artifacts / "student_fp32.onnx")
    result = invoke("convert", source, "--precision", "int8", "--out", str(tmp_path / "o"))
    assert result.exit_code == 1 and "--calibration DATA.npy" in result.output


def _entry(latency: float, accuracy: float, size: int, passed: bool = True) -> ArtifactEntry:
    return ArtifactEntry.from_dict(
        {
            "file": f"m_{latency}_{size}.onnx", "format": "onnx", "precision": "fp32",
            "size_bytes": size, "sha256": "0" * 64, "inputs": [], "outputs": [],
            "host_latency_ms": latency, "accuracy": accuracy,
            "parity": {"passed": passed, "top1_agreement": 100.0, "max_abs_diff": 0.1,
                       "reference_accuracy": None, "accuracy_drop": None, "tolerance": 1.0},
        }
    )  # fmt: skip


def test_recommendation_prefers_fast_then_accurate_then_small():
    slow, fast = _entry(0.050, 98.0, 100), _entry(0.033, 98.0, 400)
    assert choose([slow, fast]) is fast
    # Within 5 % the more accurate wins, then the smaller.
    close = _entry(0.0340, 98.5, 400)
    assert choose([fast, close]) is close
    small = _entry(0.0335, 98.0, 100)
    assert choose([fast, small]) is small
    # Files that failed verification are never recommended.
    assert choose([_entry(0.01, 99.0, 10, passed=False), slow]) is slow
    assert choose([_entry(0.01, 99.0, 10, passed=False)]) is None


def test_a_quantised_file_slower_than_fp32_is_said_so():
    from edgesub.converters.recommend import slower_than_fp32
    from edgesub.report.lines import artifact_line

    base = _entry(0.05, 98.0, 10).replace(file="m_int8.onnx", precision="int8")
    slower = base.replace(host_latency_ms=0.05, host_latency_vs_fp32=1.65)
    noise = base.replace(host_latency_ms=0.031, host_latency_vs_fp32=1.04)
    assert slower_than_fp32(slower) and not slower_than_fp32(noise)
    assert "(1.65× fp32: slower here)" in artifact_line(slower)
    assert "slower" not in artifact_line(noise)


def _with_external_data(source: Path, folder: Path) -> Path:
    """``source`` re-saved with every weight in a side file ``model.onnx.data``."""
    import onnx

    folder.mkdir()
    target = folder / "model.onnx"
    onnx.save_model(
        onnx.load(str(source)),
        str(target),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="model.onnx.data",
        size_threshold=0,
    )
    assert (folder / "model.onnx.data").stat().st_size > 5_000  # the weights moved out
    return target


def test_onnx_with_external_data_converts_to_self_contained_files(artifacts, digits, tmp_path):
    source = _with_external_data(artifacts / "student_fp32.onnx", tmp_path / "ext")
    out = tmp_path / "q"
    result = invoke("convert", str(source), "--out", str(out), "--fixed-batch", "--json")
    assert result.exit_code == 0, result.output
    entries = json.loads(result.output)
    assert [e["precision"] for e in entries] == ["fp32", "int8_dynamic"]
    for entry in entries:
        assert entry["parity"]["passed"] and entry["inputs"][0]["shape"] == [1, 1, 8, 8]
    assert sorted(p.name for p in out.iterdir()) == [
        "manifest.json",
        "model_fp32.onnx",
        "model_int8_dynamic.onnx",
    ]
    np.testing.assert_allclose(
        run_artifact(out / "model_fp32.onnx", digits.test.x),
        run_artifact(artifacts / "student_fp32.onnx", digits.test.x),
        atol=1e-5,
    )


@pytest.mark.parametrize("damage", ["missing", "truncated"])
def test_onnx_external_data_missing_or_truncated_is_one_clear_error(artifacts, tmp_path, damage):
    source = _with_external_data(artifacts / "student_fp32.onnx", tmp_path / "ext")
    side = tmp_path / "ext" / "model.onnx.data"
    if damage == "missing":
        side.unlink()
    else:
        side.write_bytes(side.read_bytes()[:1000])
    expected = "which is missing" if damage == "missing" else "holds 1000 bytes"
    out = tmp_path / "out"
    for args in (["convert", str(source), "--out", str(out)], ["profile", str(source)]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 1, result.output
        (line,) = result.output.strip().splitlines()
        assert line.startswith("error: model.onnx") and expected in line, line
    assert not out.exists()


def test_the_manifest_records_the_weight_bits_this_host_chose(artifacts):
    """7-bit weights on an x86 host without VNNI, 8 elsewhere: the file depends on where it was
    converted, so the manifest must say which it got."""
    from edgesub.converters.onnx_export import int8_saturates_here

    bits = {
        (e["format"], e["precision"]): e.get("weight_bits")
        for e in load_manifest(artifacts / "manifest.json")["artifacts"]
    }
    assert bits[("onnx", "fp32")] is None and bits[("tflite", "fp32")] is None
    assert bits[("onnx", "int8")] == (7 if int8_saturates_here() else 8)
    assert bits[("tflite", "int8")] == 8
