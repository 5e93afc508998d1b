"""Bad input to ``edgesub package``: one clear line, a non-zero exit, nothing half-written."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgesub.cli import cli
from edgesub.errors import EdgesubError
from edgesub.package import TARGETS, PackageRequest, package
from edgesub.package.metadata_reader import read_metadata
from edgesub.package.source import resolve_source


def invoke(*args: object):
    return CliRunner().invoke(cli, ["package", *map(str, args)])


def one_line_error(result, *fragments: str) -> str:
    assert result.exit_code != 0
    message = result.output.strip()
    assert message.startswith("error: ") and "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


@pytest.fixture
def bare_tflite(artifacts, tmp_path) -> Path:
    """A model file alone, as someone else's converter would leave it (no manifest)."""
    path = tmp_path / "bare" / "digits.tflite"
    path.parent.mkdir()
    shutil.copyfile(artifacts / "student_fp32.tflite", path)
    return path


def test_a_file_without_manifest_asks_for_labels_and_normalisation(bare_tflite, tmp_path):
    for target in ("android", "raspberry-pi"):
        result = invoke(bare_tflite, "--target", target, "--out", tmp_path / target)
        one_line_error(result, "no manifest.json", "--labels", "--normalize")
        assert not (tmp_path / target).exists()


def test_labels_and_normalisation_make_a_bundle_of_a_bare_file(bare_tflite, tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(f"digit {i}" for i in range(10)) + "\n")
    common = ["--labels", labels, "--normalize", "77.76,95.84"]
    result = invoke(bare_tflite, "--target", "android", "--out", tmp_path / "a", *common)
    assert result.exit_code == 0, result.output
    read = read_metadata(tmp_path / "a" / "assets" / "digits.tflite")
    assert read["subgraphs"][0]["inputs"][0]["normalization"] == {
        "mean": [pytest.approx(77.76)],
        "std": [pytest.approx(95.84)],
    }
    assert read["files"]["labels.txt"].decode().splitlines()[3] == "digit 3"
    result = invoke(bare_tflite, "--target", "raspberry-pi", "--out", tmp_path / "p", *common)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "p" / "digits-raspberry-pi" / "manifest.json").is_file()
    wrong = tmp_path / "three.txt"
    wrong.write_text("a\nb\nc\n")
    result = invoke(bare_tflite, "--target", "android", "--out", tmp_path / "w",
                    "--labels", wrong, "--normalize", "0,1")  # fmt: skip
    one_line_error(result, "3 labels given", "outputs 10 scores")
    result = invoke(bare_tflite, "--target", "android", "--out", tmp_path / "w",
                    "--labels", labels, "--normalize", "0,1,2")  # fmt: skip
    one_line_error(result, "--normalize takes MEAN,STD")
    assert not (tmp_path / "w").exists()


def test_manifest_sources_refuse_labels_and_normalisation(artifacts, tmp_path):
    result = invoke(artifacts, "--target", "android", "--out", tmp_path / "x",
                    "--normalize", "0,1")  # fmt: skip
    one_line_error(result, "already gives its labels and preprocessing")


def test_android_says_what_it_supports(text_artifacts, artifacts, tmp_path):
    result = invoke(text_artifacts, "--target", "android", "--out", tmp_path / "t")
    one_line_error(result, "image classifiers", "takes text input", "--target raspberry-pi")
    result = invoke(artifacts / "student_fp32.onnx", "--target", "android", "--out", tmp_path / "o")
    one_line_error(result, "android runs .tflite models")
    result = invoke(artifacts, "--target", "android", "--out", tmp_path / "t",
                    "--artifact", "missing.tflite")  # fmt: skip
    one_line_error(result, "no artifact named missing.tflite", "student_int8.tflite")
    assert not any((tmp_path / name).exists() for name in ("t", "o"))


def test_unknown_target_lists_the_known_ones(artifacts, tmp_path):
    result = invoke(artifacts, "--target", "ios", "--out", tmp_path / "x")
    one_line_error(result, "unknown package target 'ios'", "android, raspberry-pi")
    assert TARGETS.names() == ["android", "raspberry-pi"]


def test_an_existing_output_folder_is_left_alone(artifacts, tmp_path):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    result = invoke(artifacts, "--target", "raspberry-pi", "--out", out)
    one_line_error(result, "already exists")
    assert [p.name for p in out.iterdir()] == ["mine.txt"]


@pytest.mark.parametrize("failure", [KeyboardInterrupt, OSError])
def test_a_failure_part_way_leaves_nothing(artifacts, tmp_path, monkeypatch, failure):
    """Ctrl-C or a full disk while the tarball is written: no bundle, no staging folder."""

    def interrupted(*args, **kwargs):
        raise failure()

    monkeypatch.setattr("edgesub.package.raspberry_pi.write_tarball", interrupted)
    with pytest.raises((KeyboardInterrupt, Exception)):
        package(artifacts, "raspberry-pi", PackageRequest(out=tmp_path / "pi"))
    assert list(tmp_path.iterdir()) == []


def test_a_changed_artifact_is_refused(artifacts, tmp_path):
    copy = tmp_path / "artifacts"
    shutil.copytree(artifacts, copy)
    with open(copy / "student_fp32.tflite", "ab") as fh:
        fh.write(b"\0")
    result = invoke(copy, "--target", "raspberry-pi", "--out", tmp_path / "pi")
    one_line_error(result, "sha256 differs")
    assert not (tmp_path / "pi").exists()


def test_a_manifest_naming_files_outside_its_folder_is_refused(artifacts, tmp_path):
    copy = tmp_path / "artifacts"
    shutil.copytree(artifacts, copy)
    shutil.copyfile(artifacts / "student_fp32.onnx", tmp_path / "outside.onnx")
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["artifacts"][0]["file"] = "../outside.onnx"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    result = invoke(copy, "--target", "raspberry-pi", "--out", tmp_path / "pi")
    one_line_error(result, "'../outside.onnx' is not a plain file name")


def test_a_manifest_label_with_a_newline_is_refused_by_name(artifacts, tmp_path):
    copy = tmp_path / "artifacts"
    shutil.copytree(artifacts, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["model"]["labels"][2] = "two\nthree"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    for target in ("android", "raspberry-pi"):
        result = invoke(copy, "--target", target, "--out", tmp_path / target)
        one_line_error(result, "manifest.json: label 'two\\nthree' contains a newline")
        assert not (tmp_path / target).exists()


def test_a_labels_file_line_with_a_control_character_is_refused(bare_tflite, tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"digit {i}\n" for i in range(9)) + "nine\x0cten\n")
    result = invoke(bare_tflite, "--target", "android", "--out", tmp_path / "a",
                    "--labels", labels, "--normalize", "0,1")  # fmt: skip
    one_line_error(result, "line 10: label 'nine\\x0cten' contains the control character")


@pytest.mark.parametrize("target", ["android", "raspberry-pi"])
def test_verification_compares_label_names_not_just_bytes(artifacts, tmp_path, target):
    """A label list that shifts when read back fails the bundle's check (past the boundary)."""
    source = resolve_source(artifacts)
    shifted = ["zero", "one\ntwo", *map(str, range(3, 11))]
    source = dataclasses.replace(source, model=source.model.replace(labels=tuple(shifted)))
    with pytest.raises(EdgesubError, match="label") as caught:
        TARGETS.get(target)(source, PackageRequest(out=tmp_path / "out"), tmp_path)
    assert "\n" not in str(caught.value)
    if target == "android":
        assert "class 1 reads as 'one', the manifest names it 'one\\ntwo'" in str(caught.value)


@pytest.mark.parametrize("normalize", ["1,inf", "nan,1", "0,1e999"])
def test_non_finite_normalisation_is_refused(tmp_path, normalize):
    """An infinite std would ship a bundle that zeroes every input."""
    labels = tmp_path / "labels.txt"
    labels.write_text("a\nb\n")
    result = invoke(tmp_path / "m.tflite", "--target", "android", "--out", tmp_path / "a",
                    "--labels", labels, "--normalize", normalize)  # fmt: skip
    assert result.exit_code == 2 and "expected finite numbers" in result.output, result.output
    assert not (tmp_path / "a").exists()
