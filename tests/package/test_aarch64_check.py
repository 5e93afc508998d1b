"""``edgesub package --target raspberry-pi --verify-aarch64``: the bundle on an emulated aarch64.

The fast tests cover the refusals (not root, tools missing), the comparison and the record; the
slow one builds (or reuses) the cached Debian bookworm userland and runs a real bundle there,
which needs root, debootstrap, qemu-user-static, proot and the package registry.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgesub.cli import cli
from edgesub.converters.manifest import read_manifest
from edgesub.converters.manifest_record import Aarch64Check, Manifest
from edgesub.package import PackageRequest, package
from edgesub.package import aarch64_root as arm
from edgesub.package.aarch64_check import compare, write_inputs
from edgesub.package.source import resolve_source

BUNDLE = "student-raspberry-pi"
NAMES = tuple(f"student_{p}.{f}" for f in ("onnx", "tflite") for p in ("fp32", "int8"))


def ranked(*scores: float) -> list[dict]:
    """run.py's ranking of one row of scores, best first."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    return [{"index": int(i), "label": str(i), "score": scores[i]} for i in order]


def test_not_root_is_one_line_and_leaves_nothing(artifacts, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv(arm.CACHE_ENV, str(tmp_path / "cache"))
    out = tmp_path / "pi"
    args = ["package", str(artifacts), "--target", "raspberry-pi", "--out", str(out)]
    result = CliRunner().invoke(cli, [*args, "--verify-aarch64"])
    assert result.exit_code != 0
    assert result.output.strip() == (
        "error: --verify-aarch64 needs root (it uses chroot and bind mounts)"
    )
    assert not out.exists() and not (tmp_path / "cache").exists()


def test_missing_tools_name_the_debian_packages(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(arm, "QEMU", str(tmp_path / "no-qemu"))
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(arm.Aarch64Error) as built:
        arm.check_host(build=True)
    assert str(built.value) == (
        "--verify-aarch64 needs qemu-user-static, debootstrap, proot: "
        "apt-get install qemu-user-static debootstrap proot"
    )
    with pytest.raises(arm.Aarch64Error, match=r"needs qemu-user-static: apt-get install qemu"):
        arm.check_host(build=False)  # a cached userland needs only qemu


def test_android_refuses_the_flag(artifacts, tmp_path) -> None:
    args = ["package", str(artifacts), "--target", "android", "--out", str(tmp_path / "a")]
    result = CliRunner().invoke(cli, [*args, "--verify-aarch64"])
    assert result.exit_code != 0
    assert result.output.strip().startswith("error: --verify-aarch64 checks raspberry-pi")


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(arm.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert arm.cache_dir() == tmp_path / "xdg" / "edgesub" / "aarch64-bookworm"
    monkeypatch.setenv(arm.CACHE_ENV, str(tmp_path / "mine"))
    assert arm.cache_dir() == tmp_path / "mine"


def test_a_tree_with_a_mount_inside_is_never_removed(tmp_path, monkeypatch) -> None:
    (tmp_path / "root" / "dev").mkdir(parents=True)
    monkeypatch.setattr(arm, "_mount_points", lambda: [Path("/"), tmp_path / "root" / "dev"])
    with pytest.raises(arm.Aarch64Error, match="still mounted"):
        arm.remove_tree(tmp_path / "root")
    assert (tmp_path / "root" / "dev").is_dir()


def test_the_userland_appears_only_when_complete(tmp_path, monkeypatch) -> None:
    """Built in a temporary folder and renamed; a failed build leaves nothing, and a killed
    one's leftovers go with the next build."""
    cache = tmp_path / "cache"
    (cache / ".root.killed.tmp").mkdir(parents=True)

    def failing(root: Path) -> None:
        (root / "usr").mkdir()
        raise arm.Aarch64Error("debootstrap --foreign failed: network unreachable")

    monkeypatch.setattr(arm, "_debootstrap", failing)
    with pytest.raises(arm.Aarch64Error, match="network unreachable"):
        arm.userland(cache)
    assert sorted(p.name for p in cache.iterdir()) == []
    monkeypatch.setattr(arm, "_debootstrap", lambda root: (root / "usr").mkdir())
    root = arm.userland(cache)
    assert root == cache / "root" and (root / "usr").is_dir()
    assert root.stat().st_mode & 0o777 == 0o755  # a system's /, not mkdtemp's 0700
    assert arm.userland(cache) == root and sorted(p.name for p in cache.iterdir()) == ["root"]


def test_compare_counts_top1_and_the_largest_score_gap() -> None:
    host = [{"predictions": [ranked(0.7, 0.2, 0.1)]}, {"predictions": [ranked(0.1, 0.5, 0.4)]}]
    emulated = [
        {"predictions": [ranked(0.69, 0.21, 0.1)]},
        {"predictions": [ranked(0.1, 0.44, 0.46)]},
    ]
    result = compare(host, emulated)
    assert result["top1_agreement"] == 50.0 and result["samples"] == 2
    assert result["max_abs_diff"] == pytest.approx(0.06)


def test_inputs_are_seeded_and_fit_the_model(artifacts, text_artifacts, tmp_path) -> None:
    image = resolve_source(artifacts).model
    paths, described = write_inputs(image, artifacts, tmp_path / "a")
    again, _ = write_inputs(image, artifacts, tmp_path / "b")
    assert len(paths) == 20 and "standard-normal" in described
    assert np.load(paths[3]).shape == tuple(image.input_shape)
    assert np.array_equal(np.load(paths[3]), np.load(again[3]))
    text = resolve_source(text_artifacts).model
    ids = np.stack([np.load(p) for p in write_inputs(text, text_artifacts, tmp_path / "t")[0]])
    assert ids.dtype == np.int64 and ids.min() >= 0 and ids.max() < 16  # the vocabulary's size


def test_the_check_is_a_typed_record_of_the_manifest(artifacts) -> None:
    check = Aarch64Check(
        top1_agreement=100.0,
        max_abs_diff=1e-6,
        samples=20,
        inputs="20 seeded standard-normal arrays of the model's input shape",
        qemu_cpu="cortex-a72",
        userland="Debian bookworm arm64 under qemu-aarch64-static 7.2.22 (user-mode emulation)",
        runtimes={"python": "3.11.2", "numpy": "2.4.6", "onnxruntime": "1.32.0"},
        host_runtimes={"python": "3.11.7", "numpy": "2.4.6", "onnxruntime": "1.32.0"},
    )
    manifest = read_manifest(artifacts / "manifest.json")
    entry = manifest.artifacts[0].replace(aarch64_check=check)
    data = manifest.replace(artifacts=(entry, *manifest.artifacts[1:])).to_dict()
    assert set(data["artifacts"][0]["aarch64_check"]) == {
        "top1_agreement", "max_abs_diff", "samples", "inputs", "qemu_cpu", "userland",
        "runtimes", "host_runtimes",
    }  # fmt: skip
    assert "aarch64_check" not in data["artifacts"][1]  # only where it ran
    assert Manifest.from_dict(data, "manifest.json").artifacts[0].aarch64_check == check
    keys = data["artifacts"][0]["aarch64_check"]
    assert not any("latency" in key or "seconds" in key for key in keys)  # never a timing


def _can_emulate() -> str | None:
    """Why the slow test cannot run here, or None."""
    try:
        arm.check_host(build=not (arm.cache_dir() / "root").is_dir())
    except arm.Aarch64Error as exc:
        return str(exc)
    return None


@pytest.mark.slow
def test_bundle_runs_on_emulated_aarch64_like_here(artifacts, tmp_path) -> None:
    """Every format and precision of the digits CNN, run by the bundle's own run.py on aarch64
    (minutes under qemu; the userland is built once, a few minutes more)."""
    reason = _can_emulate()
    if reason:
        pytest.skip(reason)
    out = tmp_path / "pi"
    request = PackageRequest(out=out, artifacts=NAMES, verify_aarch64=True)
    summary = package(artifacts, "raspberry-pi", request)
    manifest = read_manifest(out / BUNDLE / "manifest.json")
    with tarfile.open(out / f"{BUNDLE}.tar.gz") as archive:  # the tarball carries the record too
        packed = json.load(archive.extractfile(f"{BUNDLE}/manifest.json"))
    for entry, packed_entry in zip(manifest.artifacts, packed["artifacts"], strict=True):
        check = entry.aarch64_check
        assert check is not None and check.samples == 20, entry.file
        assert summary["aarch64_check"][entry.file] == check.to_dict()
        assert packed_entry["aarch64_check"] == check.to_dict()
        assert check.qemu_cpu == "cortex-a72" and check.runtimes["python"].startswith("3.11")
        runtime = "onnxruntime" if entry.format == "onnx" else "ai-edge-litert"
        assert check.runtimes[runtime] == check.host_runtimes[runtime]  # the bundle's pins
        if entry.precision == "fp32":
            assert check.top1_agreement == 100.0, entry.file
            assert check.max_abs_diff <= 1e-4, entry.file
        else:  # int8 kernels requantise differently there: within one step of the int8
            # logits (the TFLite file's output scale, 0.084 here; measured 0.053, 18/20 top-1)
            step = (entry.outputs[0].quantization or {}).get("scale", 0.05)
            assert check.max_abs_diff <= step, entry.file
    leftovers = list((arm.cache_dir() / "root" / "tmp").glob("edgesub-check.*"))
    assert leftovers == [] and not _mounted_under(arm.cache_dir())


def _mounted_under(folder: Path) -> bool:
    return any(folder.resolve() in m.parents for m in arm._mount_points())
