"""``edgesub package --target raspberry-pi``: a folder and .tar.gz that run without edgesub.

The bundled run.py is run with this interpreter here; the slow test runs it in a fresh
environment holding only the bundle's requirements.txt.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import struct
import subprocess
import sys
import tarfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from edgesub.converters import load_manifest, run_artifact
from edgesub.converters.prediction import predict
from edgesub.digest import file_sha256
from edgesub.package import PackageRequest, package
from edgesub.package.bundle import CHECKSUMS, bundle_files

BUNDLE = "student-raspberry-pi"


def verify_checksums(folder: Path) -> list[str]:
    """What ``sha256sum -c SHA256SUMS`` would flag: changed or missing files, and unlisted ones."""
    listed = dict(
        reversed(line.split("  ", 1)) for line in (folder / CHECKSUMS).read_text().splitlines()
    )
    bad = [name for name, digest in listed.items()
           if not (folder / name).is_file() or file_sha256(folder / name) != digest]  # fmt: skip
    present = {p.as_posix() for p in bundle_files(folder)} - {CHECKSUMS}
    return bad + sorted(present - set(listed))


def run_bundle(folder: Path, *args: object) -> list[dict]:
    """The bundle's run.py with --json, as a user would run it (no shell)."""
    command = [sys.executable, str(folder / "run.py"), *map(str, args), "--json"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=folder, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def bundle(artifacts, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("pi") / "bundle"
    return out, package(artifacts, "raspberry-pi", PackageRequest(out=out))


def test_bundle_holds_the_recommended_files_checksums_and_a_tarball(bundle, artifacts) -> None:
    out, summary = bundle
    folder = out / BUNDLE
    recommended = load_manifest(artifacts / "manifest.json")["recommended"]["by_format"]
    assert sorted(summary["artifacts"]) == sorted(recommended.values())
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(
        [*recommended.values(), "README.md", "SHA256SUMS", "labels.txt", "manifest.json",
         "requirements.txt", "run.py"]
    )  # fmt: skip
    manifest = load_manifest(folder / "manifest.json")  # checks every file's sha256
    assert [e["file"] for e in manifest["artifacts"]] == summary["artifacts"]
    assert manifest["recommended"]["by_format"] == recommended
    assert verify_checksums(folder) == [] and verify_checksums(out) == []
    lines = (folder / "SHA256SUMS").read_text().splitlines()
    digest = hashlib.sha256((folder / "run.py").read_bytes()).hexdigest()
    assert f"{digest}  run.py" in lines and len(lines) == len(names) - 1
    requirements = (folder / "requirements.txt").read_text().splitlines()
    assert requirements == [
        "numpy<2.5,>=2.0", "onnxruntime==1.32.0", "ai-edge-litert==2.3.0", "pillow>=10",
    ]  # fmt: skip
    with tarfile.open(out / f"{BUNDLE}.tar.gz") as archive:
        members = {m.name: m for m in archive.getmembers()}
    assert set(members) == {BUNDLE, *(f"{BUNDLE}/{n}" for n in names)}
    assert members[f"{BUNDLE}/run.py"].mode == 0o755
    assert members[f"{BUNDLE}/README.md"].mode == 0o644


def test_tarball_is_reproducible(bundle, artifacts, tmp_path) -> None:
    out, _ = bundle
    package(artifacts, "raspberry-pi", PackageRequest(out=tmp_path / "again"))
    tarball = f"{BUNDLE}.tar.gz"
    assert (tmp_path / "again" / tarball).read_bytes() == (out / tarball).read_bytes()


def test_a_changed_file_fails_the_checksums(bundle, tmp_path) -> None:
    out, _ = bundle
    copy = tmp_path / "copy"
    with tarfile.open(out / f"{BUNDLE}.tar.gz") as archive:
        archive.extractall(copy, filter="data")
    (copy / BUNDLE / "labels.txt").write_text("tampered\n")
    assert verify_checksums(copy / BUNDLE) == ["labels.txt"]


def test_runner_predicts_like_edgesub_and_pytorch(bundle, images, model, digits) -> None:
    out, summary = bundle
    folder = out / BUNDLE
    for artifact in summary["artifacts"]:
        results = run_bundle(folder, *images[:20], "--model", artifact, "--top", "3")
        for image, result in zip(images[:20], results, strict=True):
            expected = predict(folder / artifact, str(image), top=3)["predictions"]
            assert result["predictions"] == expected, (artifact, image.name)
    (default,) = run_bundle(folder, images[0])
    assert default["artifact"] == next(a for a in summary["artifacts"] if a.endswith(".tflite"))


def test_every_artifact_runs_from_the_bundle_like_pytorch(artifacts, model, digits, tmp_path):
    names = [f"student_{p}.{f}" for f in ("onnx", "tflite") for p in ("fp32", "int8")]
    torch = pytest.importorskip("torch")
    request = PackageRequest(out=tmp_path / "all", artifacts=tuple(names))
    folder = tmp_path / "all" / BUNDLE
    assert package(artifacts, "raspberry-pi", request)["artifacts"] == names
    x = digits.test.x[:50]
    np.save(tmp_path / "batch.npy", x)
    with torch.no_grad():
        reference = model(torch.from_numpy(x)).numpy().argmax(axis=1)
    for name in names:
        (result,) = run_bundle(folder, tmp_path / "batch.npy", "--model", name, "--top", "1")
        top1 = np.array([ranked[0]["index"] for ranked in result["predictions"]])
        assert np.array_equal(top1, run_artifact(folder / name, x).argmax(axis=1)), name
        if "fp32" in name:  # within 1e-4 of the logits: the same decisions as PyTorch
            assert np.array_equal(top1, reference), name


def test_text_model_travels_with_its_vocabulary(text_artifacts, tmp_path) -> None:
    summary = package(text_artifacts, "raspberry-pi", PackageRequest(out=tmp_path / "t"))
    folder = tmp_path / "t" / "review-raspberry-pi"
    assert (folder / "vocab.txt").read_bytes() == (text_artifacts / "vocab.txt").read_bytes()
    tokenizer = load_manifest(folder / "manifest.json")["model"]["preprocessing"]["tokenizer"]
    assert tokenizer == {"kind": "word", "vocab": "vocab.txt", "max_length": 6, "lowercase": True}
    assert "pillow>=10" not in summary["requirements"]  # no images to read
    for text in ("a good film", "dull and slow, unseen words"):
        (result,) = run_bundle(folder, text)
        expected = predict(folder / "review_fp32.onnx", text)["predictions"]
        assert result["predictions"] == expected
        assert {item["label"] for item in expected[0]} == {"negative", "positive"}


def png_header(width: int, height: int) -> bytes:
    """A PNG that only claims its size (greyscale, no pixel data): all a decompression bomb
    check needs to see, in a few bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def _bad_inputs(folder: Path) -> dict[str, tuple[Path, str]]:
    """Each bad input run.py may be handed, and what its one line must say."""
    text_png = folder / "notes.png"
    text_png.write_text("not a picture")
    shapes = folder / "wrong.npy"
    np.save(shapes, np.zeros((3, 4), np.float32))
    objects = folder / "objects.npy"
    np.save(objects, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    raw = folder / "raw.npy"
    raw.write_bytes(pickle.dumps({"a": 1}))
    huge, large = folder / "bomb.png", folder / "large.png"
    huge.write_bytes(png_header(100_000, 100_000))  # Pillow raises
    large.write_bytes(png_header(10_000, 10_000))  # Pillow only warns, then decodes 100 MP
    return {
        "non-image png": (text_png, "is not an image run.py can read"),
        "wrong shape": (shapes, "shape 3x4; the model takes one 1x8x8 sample"),
        "object array": (objects, "holds pickled data, which run.py never loads"),
        "pickle file": (raw, "holds pickled data, which run.py never loads"),
        "bomb": (huge, "is too large to decode safely"),
        "large": (large, "is too large to decode safely"),
    }


def test_runner_refuses_bad_inputs_in_one_line(bundle, tmp_path) -> None:
    """No tracebacks on a Pi: one line on stderr and exit status 1 for each bad input."""
    folder = bundle[0] / BUNDLE
    for case, (path, fragment) in _bad_inputs(tmp_path).items():
        command = [sys.executable, str(folder / "run.py"), str(path)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert result.returncode == 1 and result.stdout == "", (case, result.stderr)
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, case
        assert fragment in result.stderr, (case, result.stderr)
