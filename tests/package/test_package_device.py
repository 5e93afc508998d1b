"""``edgesub package --device``: the bundle holds the file chosen for that device.

Two ONNX files of one model, a narrow one and a wide one; the converting host measured the wide
one faster (its manifest recommends it), while on a Raspberry Pi 4 the estimator puts the narrow
one far ahead. The expectations are computed with the estimator's public functions.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from tiny_models import mlp_onnx

from edgesub.cli import cli
from edgesub.converters.manifest import read_manifest, write_manifest
from edgesub.converters.manifest_record import (
    ArtifactEntry,
    Manifest,
    ModelInfo,
    Parity,
    Recommendation,
    TensorSpec,
)
from edgesub.digest import file_sha256
from edgesub.errors import UnknownNameError
from edgesub.package import PackageRequest, package
from edgesub.package.selection import select
from edgesub.package.source import resolve_source
from edgesub.profile.devices import load_devices
from edgesub.profile.estimate import estimate
from edgesub.profile.formats import load_graph
from edgesub.profile.profile_record import ProfileEntry, ProfileRecord

DEVICE = "raspberry-pi-4b"
BUNDLE = "mlp-raspberry-pi"


def _entry(path: Path, accuracy: float, host_ms: float) -> ArtifactEntry:
    spec = {"dtype": "float32", "quantization": None}
    return ArtifactEntry(
        file=path.name, format="onnx", precision="fp32", size_bytes=path.stat().st_size,
        sha256=file_sha256(path), input_layout="NC",
        inputs=(TensorSpec(name="x", shape=(1, 64), **spec),),
        outputs=(TensorSpec(name="logits", shape=(1, 10), **spec),),
        accuracy=accuracy,
        parity=Parity(max_abs_diff=0.0, top1_agreement=100.0, reference_accuracy=accuracy,
                      accuracy_drop=0.0, tolerance=1e-4, passed=True),
        host_latency_ms=host_ms, host_latency_p90_ms=host_ms, host_latency_kind="measured",
        host_threads=1,
    )  # fmt: skip


@pytest.fixture
def run(tmp_path: Path) -> Path:
    """A run folder whose artifacts/ hold the two files and the manifest convert would write."""
    folder = tmp_path / "run"
    (folder / "artifacts").mkdir(parents=True)
    (folder / "config.toml").write_text('name = "run"\n')
    narrow = mlp_onnx(folder / "artifacts" / "mlp_narrow.onnx", hidden=8)
    wide = mlp_onnx(folder / "artifacts" / "mlp_wide.onnx", hidden=2048)
    entries = [_entry(narrow, 97.0, 0.020), _entry(wide, 99.0, 0.010)]  # host: wide is faster
    model = ModelInfo(
        name="mlp", num_classes=10, labels=None, input_shape=(64,), preprocessing={},
        output_kind="logits",
    )  # fmt: skip
    host = Recommendation(by_format={"onnx": wide.name}, basis="measured", host={"machine": "x"})
    manifest = Manifest(model=model, artifacts=tuple(entries), recommended=host)
    write_manifest(folder / "artifacts", manifest)
    return folder


def estimated_ms(path: Path, device: str) -> tuple[float, float]:
    est = estimate(load_graph(path), load_devices().get(device), 1)
    return est.latency_ms, est.latency_error_pct / 100


def test_the_device_bundle_holds_the_devices_choice_not_the_hosts(run, tmp_path):
    narrow, band = estimated_ms(run / "artifacts" / "mlp_narrow.onnx", DEVICE)
    wide, _ = estimated_ms(run / "artifacts" / "mlp_wide.onnx", DEVICE)
    assert wide > narrow * (1 + band)  # on the Pi the narrow file is clearly faster
    host = read_manifest(run / "artifacts" / "manifest.json").recommended.by_format["onnx"]
    assert host == "mlp_wide.onnx"

    plain = package(run, "raspberry-pi", PackageRequest(out=tmp_path / "plain"))
    assert plain["artifacts"] == ["mlp_wide.onnx"]  # no --device: the host's choice, as before
    bundled = read_manifest(tmp_path / "plain" / BUNDLE / "manifest.json").recommended
    assert (bundled.device, bundled.latency_kind) == ("host", "measured")
    readme = (tmp_path / "plain" / BUNDLE / "README.md").read_text()
    assert "latency measured on the machine that converted them" in readme

    pi = package(run, "raspberry-pi", PackageRequest(out=tmp_path / "pi", device=DEVICE))
    assert pi["artifacts"] == ["mlp_narrow.onnx"] and pi["chosen_for"] == DEVICE
    folder = tmp_path / "pi" / BUNDLE
    assert sorted(p.name for p in folder.glob("*.onnx")) == ["mlp_narrow.onnx"]
    bundled = read_manifest(folder / "manifest.json").recommended
    assert bundled.by_format == {"onnx": "mlp_narrow.onnx"}
    assert (bundled.device, bundled.latency_kind) == (DEVICE, "estimated")
    readme = (folder / "README.md").read_text()
    name = load_devices().get(DEVICE).display_name
    assert f"chosen for the {name} (`{DEVICE}`, 1 thread(s)) by latency estimated" in readme
    assert "uses `mlp_narrow.onnx` unless told otherwise" in readme


def test_a_measurement_on_the_device_decides_over_its_estimate(run, tmp_path):
    """profile.json entries measured on the device (every file) are the choice's basis."""
    measured = []
    for name, latency in (("mlp_narrow.onnx", 3.0), ("mlp_wide.onnx", 1.0)):
        path = run / "artifacts" / name
        measured.append(
            ProfileEntry(
                artifact=name, path=str(path), format="onnx", precision="fp32",
                size_bytes=path.stat().st_size, macs=1, accuracy=None, device=DEVICE,
                device_name="Pi 4", threads=1, latency_ms=latency, latency_kind="measured",
                latency_error_pct=None, latency_p90_ms=None, peak_memory_mb=10.0,
                memory_kind="measured", fits_in_memory=True, energy_mj=None,
                energy_dynamic_mj=None, energy_kind="unavailable",
            )
        )  # fmt: skip
    ProfileRecord(host=None, records=tuple(measured)).write(run / "profile.json")
    pi = package(run, "raspberry-pi", PackageRequest(out=tmp_path / "pi", device=DEVICE))
    assert pi["artifacts"] == ["mlp_wide.onnx"]
    bundled = read_manifest(tmp_path / "pi" / BUNDLE / "manifest.json").recommended
    assert bundled.latency_kind == "measured"
    assert "latency measured on it" in (tmp_path / "pi" / BUNDLE / "README.md").read_text()


def test_an_unknown_device_lists_the_known_ones(run, tmp_path):
    with pytest.raises(
        UnknownNameError, match=r"unknown device 'toaster'; known: .*raspberry-pi-4b"
    ):
        select(resolve_source(run), (), device="toaster")
    out = tmp_path / "pi"
    result = CliRunner().invoke(
        cli,
        ["package", str(run), "--target", "raspberry-pi", "--device", "toaster", "--out", str(out)],
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "unknown device 'toaster'; known:" in result.output and DEVICE in result.output
    assert not out.exists()


def test_the_cli_packages_for_a_device(run, tmp_path):
    out = tmp_path / "pi"
    result = CliRunner().invoke(
        cli,
        [
            "package",
            str(run),
            "--target",
            "raspberry-pi",
            "--device",
            DEVICE,
            "--out",
            str(out),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["artifacts"] == ["mlp_narrow.onnx"]
