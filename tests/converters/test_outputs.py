"""Output kinds: a model that already gives probabilities is scored as it is, never softmaxed twice.

Real models: a seeded dense ONNX classifier with and without a final Softmax, converted through
the CLI, and a torch model ending in a softmax converted like a run's student.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from tiny_models import dense_onnx  # noqa: E402

from edgesub.cli import cli  # noqa: E402
from edgesub.config import OUTPUT_KINDS  # noqa: E402
from edgesub.converters.outputs import SCORERS, output_kind  # noqa: E402
from edgesub.converters.prediction import predict  # noqa: E402


def invoke(*args: str):
    return CliRunner().invoke(cli, [*args], catch_exceptions=False)


def source_outputs(model: Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def sample(tmp_path: Path, seed: int = 1) -> tuple[Path, np.ndarray]:
    x = np.random.default_rng(seed).standard_normal((1, 1, 8, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    return tmp_path / "x.npy", x


def converted(tmp_path: Path, *, softmax: bool, outputs: str | None = None) -> Path:
    """``edgesub convert model.onnx --precision fp32 --out …`` on the dense model."""
    model = dense_onnx(tmp_path / "model.onnx", softmax=softmax)
    out = tmp_path / "out"
    flags = ["--outputs", outputs] if outputs else []
    result = invoke("convert", str(model), "--precision", "fp32", "--out", str(out), *flags)
    assert result.exit_code == 0, result.output
    return out


def test_every_output_kind_has_a_scorer() -> None:
    assert set(SCORERS) == set(OUTPUT_KINDS)


def test_detection_reads_distributions_logits_and_other_outputs() -> None:
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((32, 10)).astype(np.float32)
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert output_kind("auto", probabilities) == "probabilities"
    assert output_kind("auto", logits) == "logits"
    assert output_kind("auto", np.abs(logits)) == "logits"  # non-negative, rows not summing to 1
    assert output_kind("auto", logits, ends_in_softmax=True) == "probabilities"
    assert output_kind("auto", logits[:, :1]) == "raw"  # one score per sample: no classes
    assert output_kind("raw", probabilities) == "raw"


def test_a_final_softmax_is_recorded_and_predict_shows_the_models_probabilities(tmp_path) -> None:
    """The model says 0.9999; predict must too, not the 0.73 a second softmax gives."""
    out = converted(tmp_path, softmax=True)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"]["output_kind"] == "probabilities"
    path, x = sample(tmp_path)
    expected = source_outputs(tmp_path / "model.onnx", x)[0]
    ranked = predict(out / "model_fp32.onnx", str(path), top=10)["predictions"][0]
    got = np.array([item["score"] for item in sorted(ranked, key=lambda r: r["index"])])
    assert np.abs(got - expected).max() <= 1e-6
    assert ranked[0]["index"] == int(expected.argmax())


def test_predict_on_the_cli_prints_the_models_own_top_probability(tmp_path) -> None:
    out = converted(tmp_path, softmax=True)
    path, x = sample(tmp_path)
    top = float(source_outputs(tmp_path / "model.onnx", x)[0].max())
    result = invoke("predict", str(out / "model_fp32.onnx"), str(path), "--top", "1")
    assert result.exit_code == 0 and result.output.strip().endswith(f"{top:.4f}"), result.output


def test_logits_are_detected_and_softmaxed(tmp_path) -> None:
    out = converted(tmp_path, softmax=False)
    assert json.loads((out / "manifest.json").read_text())["model"]["output_kind"] == "logits"
    path, x = sample(tmp_path)
    logits = source_outputs(tmp_path / "model.onnx", x)[0].astype(np.float64)
    expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    ranked = predict(out / "model_fp32.onnx", str(path), top=10)["predictions"][0]
    got = np.array([item["score"] for item in sorted(ranked, key=lambda r: r["index"])])
    assert np.abs(got - expected).max() <= 1e-6


def test_outputs_flag_overrides_detection(tmp_path) -> None:
    out = converted(tmp_path, softmax=False, outputs="raw")
    assert json.loads((out / "manifest.json").read_text())["model"]["output_kind"] == "raw"
    path, x = sample(tmp_path)
    expected = source_outputs(tmp_path / "model.onnx", x)[0]
    ranked = predict(out / "model_fp32.onnx", str(path), top=10)["predictions"][0]
    got = np.array([item["score"] for item in sorted(ranked, key=lambda r: r["index"])])
    assert np.abs(got - expected).max() <= 1e-5  # raw values, rounded to 6 decimals


def test_an_old_manifest_without_the_field_is_read_as_logits(tmp_path) -> None:
    out = converted(tmp_path, softmax=False)
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["model"]["output_kind"]
    (out / "manifest.json").write_text(json.dumps(manifest))
    path, _ = sample(tmp_path)
    ranked = predict(out / "model_fp32.onnx", str(path), top=10)["predictions"][0]
    assert abs(sum(item["score"] for item in ranked) - 1.0) <= 1e-5  # softmaxed, as before


def test_an_unknown_output_kind_in_a_manifest_is_one_line(tmp_path) -> None:
    out = converted(tmp_path, softmax=False)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["model"]["output_kind"] = "odds"
    (out / "manifest.json").write_text(json.dumps(manifest))
    path, _ = sample(tmp_path)
    result = CliRunner().invoke(cli, ["predict", str(out / "model_fp32.onnx"), str(path)])
    assert result.exit_code != 0 and "model.output_kind must be one of" in result.output


def test_a_torch_model_ending_in_softmax_keeps_its_probabilities(tmp_path) -> None:
    """An edgesub-style conversion (torch model + data) detects probabilities on its test split."""
    torch = pytest.importorskip("torch")
    from edgesub.config import ConvertConfig, DataConfig
    from edgesub.converters import convert
    from edgesub.data import load_dataset

    digits = load_dataset(DataConfig())
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(64, 10), torch.nn.Softmax(dim=1)
    ).eval()
    cfg = ConvertConfig(formats=("onnx",), precisions=("fp32",))
    convert(net, digits, tmp_path, cfg, progress=False, measure_latency=False)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["model"]["output_kind"] == "probabilities"
    x = digits.test.x[:1]
    np.save(tmp_path / "x.npy", x)
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()[0]
    ranked = predict(tmp_path / "student_fp32.onnx", str(tmp_path / "x.npy"), top=10)
    got = np.array([r["score"] for r in sorted(ranked["predictions"][0], key=lambda r: r["index"])])
    assert np.abs(got - expected).max() <= 1e-6
