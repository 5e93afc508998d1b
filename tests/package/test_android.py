"""``edgesub package --target android``: the .tflite a phone app loads with MediaPipe Tasks.

MediaPipe itself runs in a slow test (it needs numpy<2); here the packaged file is fed the way
MediaPipe's ImageClassifier feeds it (RGB pixels normalised by the metadata's mean/std, NHWC)
and must rank classes like ``edgesub predict`` on the source artifact.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from edgesub.cli import cli
from edgesub.converters import load_manifest, run_artifact
from edgesub.converters.prediction import predict
from edgesub.package import PackageRequest, package
from edgesub.package.android import pixel_normalisation
from edgesub.package.metadata_reader import read_metadata

LABELS = [str(i) for i in range(10)]


def mediapipe_input(image: Path, normalization: dict) -> np.ndarray:
    """What MediaPipe's ImageClassifier gives the model: (RGB pixel - mean) / std, 1×H×W×3."""
    with Image.open(image) as picture:
        rgb = np.asarray(picture.convert("RGB"), dtype=np.float32)
    mean = np.float32(normalization["mean"])
    std = np.float32(normalization["std"])
    return ((rgb - mean) / std)[None]


@pytest.fixture(scope="module")
def bundles(artifacts, tmp_path_factory) -> dict[str, tuple[Path, dict]]:
    """One android bundle per TFLite precision, through the CLI."""
    out = {}
    for precision in ("fp32", "int8"):
        folder = tmp_path_factory.mktemp("android") / precision
        result = CliRunner().invoke(
            cli,
            [
                "package", str(artifacts), "--target", "android", "--out", str(folder),
                "--artifact", f"student_{precision}.tflite", "--json",
            ],
            catch_exceptions=False,
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        out[precision] = folder, json.loads(result.output)
    return out


def test_bundle_layout_and_metadata(bundles, artifacts, digits) -> None:
    folder, summary = bundles["int8"]
    assert summary["files"] == [
        "README.md",
        "SHA256SUMS",
        "assets/student_int8.tflite",
        "labels.txt",
    ]
    manifest = load_manifest(artifacts / "manifest.json")
    entry = next(e for e in manifest["artifacts"] if e["file"] == "student_int8.tflite")
    read = read_metadata(folder / "assets" / "student_int8.tflite")
    assert read["name"] == "student" and read["version"] == entry["sha256"][:12]
    assert read["author"].startswith("edgesub ")
    (image,) = read["subgraphs"][0]["inputs"]
    # digits: raw pixels 0..16, normalised by the train split's mean/std after scaling by 1/16;
    # on 0..255 pixels that is mean = 255 * m, std = 255 * s.
    mean, std = digits.preprocessing["mean"][0], digits.preprocessing["std"][0]
    assert image["normalization"]["mean"] == pytest.approx([255 * mean], rel=1e-6)
    assert image["normalization"]["std"] == pytest.approx([255 * std], rel=1e-6)
    assert image["content"]["size"] == [8, 8] and image["content"]["color_space"] == 1
    assert read["files"]["labels.txt"].decode().splitlines() == LABELS
    assert (folder / "labels.txt").read_text().splitlines() == LABELS
    assert summary["operators_added"] == [
        "CONV_2D", "TRANSPOSE", "QUANTIZE", "DEQUANTIZE", "SOFTMAX",
    ]  # fmt: skip
    readme = (folder / "README.md").read_text()
    assert 'setModelAssetPath("student_int8.tflite")' in readme
    assert not re.search(r"\$[a-z_]", readme)  # every placeholder was filled


def test_packaged_model_ranks_like_predict_when_fed_as_mediapipe_does(
    bundles, artifacts, images
) -> None:
    for precision, (folder, _) in bundles.items():
        packaged = folder / "assets" / f"student_{precision}.tflite"
        normalization = read_metadata(packaged)["subgraphs"][0]["inputs"][0]["normalization"]
        for image in images[:60]:
            scores = run_artifact(packaged, mediapipe_input(image, normalization))[0]
            expected = predict(artifacts / f"student_{precision}.tflite", str(image), top=10)
            ranked = expected["predictions"][0]
            assert int(scores.argmax()) == ranked[0]["index"], (precision, image.name)
            by_index = {item["index"]: item["score"] for item in ranked}
            assert scores == pytest.approx([by_index[i] for i in range(10)], abs=2e-5)


def test_pixel_normalisation_maps_8_bit_pixels_like_the_manifest() -> None:
    pre = {"value_range": [0.0, 16.0], "scale": 0.0625, "mean": [0.3], "std": [0.4]}
    mean, std = pixel_normalisation(pre)
    pixels = np.array([0.0, 51.0, 255.0])
    edgesub = ((0.0 + pixels / 255 * 16.0) * 0.0625 - 0.3) / 0.4
    assert (pixels - mean[0]) / std[0] == pytest.approx(edgesub)


def test_model_version_option_and_the_recommended_file_by_default(artifacts, tmp_path) -> None:
    summary = package(
        artifacts, "android", PackageRequest(out=tmp_path / "a", model_version="2024.1")
    )
    recommended = load_manifest(artifacts / "manifest.json")["recommended"]["by_format"]
    assert summary["artifact"] == recommended["tflite"]
    assert read_metadata(tmp_path / "a" / summary["model_file"])["version"] == "2024.1"


def test_an_rgb_nhwc_file_without_manifest_only_gains_a_softmax(tmp_path) -> None:
    """Someone else's RGB classifier taking 1×H×W×3: per-channel --normalize, nothing prepended."""
    torch = pytest.importorskip("torch")
    litert_torch = pytest.importorskip("litert_torch")

    class Nhwc(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3)
            self.fc = torch.nn.Linear(4 * 4 * 4, 5)

        def forward(self, x):
            return self.fc(self.conv(x.permute(0, 3, 1, 2)).flatten(1))

    torch.manual_seed(0)
    bare = tmp_path / "rgb.tflite"
    litert_torch.convert(Nhwc().eval(), (torch.zeros(1, 6, 6, 3),)).export(str(bare))
    (tmp_path / "labels.txt").write_text("a\nb\nc\nd\ne\n")
    request = PackageRequest(
        out=tmp_path / "out", labels=tmp_path / "labels.txt", normalize=(120, 110, 100, 60, 55, 50)
    )
    summary = package(bare, "android", request)
    assert summary["operators_added"] == ["SOFTMAX"]
    packaged = tmp_path / "out" / "assets" / "rgb.tflite"
    image = read_metadata(packaged)["subgraphs"][0]["inputs"][0]
    assert image["normalization"] == {"mean": [120, 110, 100], "std": [60, 55, 50]}
    assert image["content"]["size"] == [6, 6]
    x = np.random.default_rng(1).standard_normal((4, 6, 6, 3)).astype(np.float32)
    logits = run_artifact(bare, x)
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert run_artifact(packaged, x) == pytest.approx(expected, abs=1e-6)


def test_a_model_giving_probabilities_gets_no_second_softmax(digits, tmp_path) -> None:
    """Softmax then a clamp: the file ends in no SOFTMAX op, but the manifest records
    probabilities (rows sum to 1 on the test split), so none is added on top of the model's."""
    torch = pytest.importorskip("torch")
    from edgesub.config import ConvertConfig
    from edgesub.converters import convert

    class Clamped(torch.nn.Module):
        def forward(self, x):
            return torch.softmax(x, dim=1).clamp(0.0, 1.0)

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10), Clamped()).eval()
    cfg = ConvertConfig(formats=("tflite",), precisions=("fp32",))
    convert(net, digits, tmp_path / "artifacts", cfg, progress=False, measure_latency=False)
    assert load_manifest(tmp_path / "artifacts" / "manifest.json")["model"]["output_kind"] == (
        "probabilities"
    )
    summary = package(tmp_path / "artifacts", "android", PackageRequest(out=tmp_path / "out"))
    assert "SOFTMAX" not in summary["operators_added"]
    packaged = tmp_path / "out" / "assets" / "student_fp32.tflite"
    (output,) = read_metadata(packaged)["subgraphs"][0]["outputs"]
    assert "the model's own" in output["description"]
    x = digits.test.x[:8]
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()
    rgb = np.repeat(x.transpose(0, 2, 3, 1), 3, axis=3)
    assert run_artifact(packaged, rgb) == pytest.approx(expected, abs=1e-5)
