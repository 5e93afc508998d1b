"""Bundles of the default run's student, checked with clients edgesub did not write (slow).

- MediaPipe Tasks' ImageClassifier (mediapipe 0.10.21, in its own environment: it pins numpy<2)
  loads the android .tflite, classifies the digits test split as PNG files, and must agree with
  ``edgesub predict`` on the source artifact, naming classes from the metadata.
- A fresh environment holding only the raspberry-pi bundle's requirements.txt (no torch, no
  edgesub) unpacks the tarball, checks SHA256SUMS with ``sha256sum -c`` and runs run.py; it must
  predict like the PyTorch model. With ``edgesub[runtime]`` added, ``edgesub package`` there
  (still no torch) makes byte-identical bundles for both targets.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from venvs import cached_venv, fresh_venv

from edgesub.cli import cli
from edgesub.config import DataConfig
from edgesub.converters import load_manifest
from edgesub.converters.prediction import predict
from edgesub.package import PackageRequest, package
from edgesub.package.android import pixel_normalisation
from edgesub.package.metadata_reader import read_metadata

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
MEDIAPIPE = "mediapipe==0.10.21"
CLASSIFY = Path(__file__).with_name("mediapipe_classify.py")
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


@pytest.fixture(scope="module")
def default_run(tmp_path_factory) -> Path:
    """``edgesub run`` with no options: the default digits pipeline."""
    runs = tmp_path_factory.mktemp("runs")
    args = ["run", "--runs-dir", str(runs), "--name", "default", "--no-progress"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    from edgesub.pipeline import open_run

    _, cfg = open_run(runs / "default")
    assert cfg.data == DataConfig()  # the test split the `images` fixture wrote
    return runs / "default"


@pytest.fixture(scope="module")
def mediapipe_env():
    return cached_venv("mediapipe-0.10.21", MEDIAPIPE)


def classify(env, model: Path, images: list[Path], cwd: Path) -> list[list[dict]]:
    result = env.run("python", CLASSIFY, model, *images, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def predicted_top1(artifact: Path, image: Path) -> dict:
    """``edgesub predict``'s best class for one image (index, label, softmax score)."""
    return predict(artifact, str(image), top=1)["predictions"][0][0]


def test_mediapipe_classifies_like_predict(default_run, mediapipe_env, images, tmp_path):
    artifacts = default_run / "artifacts"
    manifest = load_manifest(artifacts / "manifest.json")
    labels = manifest["model"]["labels"]
    tflite = [e["file"] for e in manifest["artifacts"] if e["format"] == "tflite"]
    assert {"student_fp32.tflite", "student_int8.tflite"} <= set(tflite)
    for name in tflite:
        out = tmp_path / name
        summary = package(artifacts, "android", PackageRequest(out=out, artifacts=(name,)))
        got = classify(mediapipe_env, out / summary["model_file"], images, tmp_path)
        assert len(got) == len(images) == 360
        for image, categories in zip(images, got, strict=True):
            expected = predicted_top1(artifacts / name, image)
            best = categories[0]
            assert best["index"] == expected["index"], (name, image.name)
            assert best["category_name"] == labels[best["index"]]
            assert best["score"] == pytest.approx(expected["score"], abs=1e-5)


def test_mediapipe_names_classes_from_the_metadata_of_a_bare_file(
    default_run, mediapipe_env, images, tmp_path
):
    """A .tflite without manifest, packaged with --labels/--normalize: MediaPipe says "seven"."""
    artifacts = default_run / "artifacts"
    bare = tmp_path / "bare" / "digits.tflite"
    bare.parent.mkdir()
    shutil.copyfile(artifacts / "student_fp32.tflite", bare)
    (tmp_path / "words.txt").write_text("\n".join(WORDS) + "\n")
    mean, std = pixel_normalisation(
        load_manifest(artifacts / "manifest.json")["model"]["preprocessing"]
    )
    normalize = f"{mean[0]},{std[0]}"
    args = ["package", str(bare), "--target", "android", "--out", str(tmp_path / "a"),
            "--labels", str(tmp_path / "words.txt"), "--normalize", normalize]  # fmt: skip
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    got = classify(
        mediapipe_env, tmp_path / "a" / "assets" / "digits.tflite", images[:100], tmp_path
    )
    for image, categories in zip(images[:100], got, strict=True):
        expected = predicted_top1(artifacts / "student_fp32.tflite", image)
        assert categories[0]["category_name"] == WORDS[expected["index"]]


def test_reader_reads_metadata_google_wrote(mediapipe_env):
    """The metadata reader, on a model shipped in the mediapipe wheel (written by Google)."""
    found = mediapipe_env.run(
        "python", "-c", "import mediapipe, pathlib; print(pathlib.Path(mediapipe.__file__).parent)",
        cwd=mediapipe_env.root,
    )  # fmt: skip
    (palm,) = Path(found.stdout.strip()).rglob("palm_detection_full.tflite")
    read = read_metadata(palm)
    assert read["name"] == "Multi Hand Detection" and read["min_parser_version"] == "1.0.0"
    (image,) = read["subgraphs"][0]["inputs"]
    assert image["content"]["color_space"] == 1  # RGB
    assert image["normalization"] == {"mean": [0.0], "std": [255.0]}
    assert "labels.txt" in read["files"] and read["files"]["labels.txt"].strip()


def test_raspberry_pi_bundle_in_a_runtime_only_environment(default_run, images, tmp_path):
    torch = pytest.importorskip("torch")
    from edgesub.distill import load_deployable
    from edgesub.rundir import RunDir

    summary = package(default_run, "raspberry-pi", PackageRequest(out=tmp_path / "pi"))
    device = tmp_path / "device"  # what the Pi receives: the tarball alone
    with tarfile.open(tmp_path / "pi" / summary["tarball"]) as archive:
        archive.extractall(device, filter="data")
    bundle = device / summary["bundle"]
    checked = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=bundle, capture_output=True)
    assert checked.returncode == 0, checked.stdout

    env = fresh_venv(tmp_path / "venv")
    env.pip_install("-r", bundle / "requirements.txt", cwd=bundle)
    for module in ("torch", "edgesub"):
        missing = env.run("python", "-c", f"import {module}", cwd=bundle)
        assert f"No module named '{module}'" in missing.stderr

    x = _test_split(default_run)
    np.save(tmp_path / "test.npy", x)
    with torch.no_grad():
        reference = load_deployable(RunDir(default_run))(torch.from_numpy(x)).numpy().argmax(1)
    entries = {e["file"]: e for e in load_manifest(bundle / "manifest.json")["artifacts"]}
    for name in summary["artifacts"]:
        ran = env.run("python", "run.py", tmp_path / "test.npy", "--model", name, "--top", "1",
                      "--json", cwd=bundle)  # fmt: skip
        assert ran.returncode == 0, ran.stderr
        (result,) = json.loads(ran.stdout)
        top1 = np.array([ranked[0]["index"] for ranked in result["predictions"]])
        agreement = float(np.mean(top1 == reference) * 100)
        # the same agreement with PyTorch that convert verified on this split (fp32: 100 %)
        assert agreement == pytest.approx(entries[name]["parity"]["top1_agreement"]), name
        ran = env.run("python", "run.py", *images[:30], "--model", name, "--json", cwd=bundle)
        for image, result in zip(images[:30], json.loads(ran.stdout), strict=True):
            assert result["predictions"] == predict(bundle / name, str(image))["predictions"]

    env.pip_install(f"{ROOT}[runtime]", cwd=tmp_path)  # now edgesub too, still no torch
    for target, made in (("raspberry-pi", summary), ("android", None)):
        again = env.run("edgesub", "package", default_run, "--target", target, "--out",
                        tmp_path / f"{target}-again", cwd=tmp_path)  # fmt: skip
        assert again.returncode == 0, again.stderr
        made = made or package(default_run, target, PackageRequest(out=tmp_path / target))
        file = made["tarball"] if target == "raspberry-pi" else made["model_file"]
        here = (Path(made["out"]) / file).read_bytes()
        assert (tmp_path / f"{target}-again" / file).read_bytes() == here, target
    default = next(a for a in summary["artifacts"] if a.endswith(".tflite"))
    predicted = env.run("edgesub", "predict", default, images[0], "--json", cwd=bundle)
    (via_runner,) = json.loads(env.run("python", "run.py", images[0], "--json", cwd=bundle).stdout)
    assert json.loads(predicted.stdout)["predictions"] == via_runner["predictions"]


def _test_split(run: Path) -> np.ndarray:
    from edgesub.data import load_dataset
    from edgesub.pipeline import open_run

    _, cfg = open_run(run)
    return load_dataset(cfg.data).test.x
