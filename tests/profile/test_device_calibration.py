"""`edgesub devices calibrate`: a device's own scales fitted to measurements, and the profile
written with them, which `--profiles` then uses.

The measurements are made by the estimator itself on a profile with known scales, so the fit
must find those scales again and predict held-out rows almost exactly.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib

import pytest
from click.testing import CliRunner
from test_graph_onnx import tiny_cnn

from edgesub.cli import cli
from edgesub.errors import ConfigError
from edgesub.profile.device_calibration import Measurement, calibrate, read_measurements
from edgesub.profile.devices import DeviceCalibration, get_device
from edgesub.profile.estimate import latency_parts
from edgesub.profile.formats import load_graph
from edgesub.profile.reference_suite import write_suite

DEVICE = "raspberry-pi-4b"
TRUE_SCALES = (1.8, 1.3, 0.6)  # compute, memory, overhead


@pytest.fixture(scope="module")
def measured(tmp_path_factory) -> list[Measurement]:
    """The reference suite (overhead-, compute- and memory-bound graphs) and two small CNNs,
    at 1 and 4 threads, "measured" on the device with the true scales."""
    folder = tmp_path_factory.mktemp("calibration")
    truth = dataclasses.replace(
        get_device(DEVICE), calibration=DeviceCalibration(*TRUE_SCALES, 0.0, 1, "2026-12-01")
    )
    cnns = [tiny_cnn(folder / "w4.onnx"), tiny_cnn(folder / "w32.onnx", width=32)]
    paths = [*write_suite(folder), *cnns]
    rows = []
    for path in paths:
        for threads in (1, 4):
            latency = latency_parts(load_graph(path), truth, threads).total_ms
            rows.append(Measurement(path, threads, round(latency, 6)))
    return rows


def write_csv(rows: list[Measurement], path) -> None:
    lines = ["file,threads,latency_ms"] + [
        f"{m.file.name},{m.threads},{m.latency_ms}" for m in rows
    ]
    path.write_text("\n".join(lines) + "\n")


def test_the_fit_finds_the_scales_and_predicts_held_out_rows(measured):
    result = calibrate(get_device(DEVICE), measured)
    found = (result.compute_scale, result.memory_scale, result.overhead_scale)
    assert found == pytest.approx(TRUE_SCALES, rel=0.01)
    assert result.error_pct < 1.0 and result.max_error_pct < 2.0
    for m, _, fitted, held_out in result.rows:
        assert fitted == pytest.approx(m.latency_ms, rel=0.01)
        assert held_out == pytest.approx(m.latency_ms, rel=0.02)
    # the published profile alone is off by more than a third on most rows
    off = [abs(before / m.latency_ms - 1) > 0.33 for m, before, _, _ in result.rows]
    assert sum(off) > len(off) / 2


def test_the_written_profile_is_used_with_profiles(measured, tmp_path):
    write_csv(measured, measured[0].file.parent / "pi4.csv")
    csv_file = measured[0].file.parent / "pi4.csv"
    out = tmp_path / "mine"
    runner = CliRunner()
    result = runner.invoke(
        cli, ["devices", "calibrate", DEVICE, "--measurements", str(csv_file), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "leave-one-out error: median" in result.output
    written = tomllib.loads((out / f"{DEVICE}.toml").read_text())
    assert written["id"] == DEVICE and len(written["calibration"]["measurements"]) == 32
    error_pct = written["calibration"]["error_pct"]
    show = runner.invoke(cli, ["devices", "--profiles", str(out), "show", DEVICE])
    assert show.exit_code == 0 and "[calibration]" in show.output
    model = measured[-1]
    profiled = runner.invoke(
        cli, ["profile", str(model.file), "--device", DEVICE, "--profiles", str(out),
              "--threads", str(model.threads), "--no-measure", "--json"],
    )  # fmt: skip
    assert profiled.exit_code == 0, profiled.output
    (record,) = json.loads(profiled.output)
    assert record["latency_ms"] == pytest.approx(model.latency_ms, rel=0.01)
    assert record["latency_error_pct"] == error_pct
    again = runner.invoke(
        cli, ["devices", "--profiles", str(out), "calibrate", DEVICE, "--measurements",
              str(csv_file), "--out", str(tmp_path / "again")],
    )  # fmt: skip
    assert again.exit_code == 1 and "already calibrated" in again.output


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("file,latency_ms\nw4.onnx,1.0\n", "missing threads"),
        ("file,threads,latency_ms\nw4.onnx,1,1.0\nw32.onnx,1,2.0\n", "needs at least 3"),
        ("file,threads,latency_ms\nnope.onnx,1,1.0\n", "no model file"),
        ("file,threads,latency_ms\nw4.onnx,one,1.0\n", "threads must be an integer"),
        ("file,threads,latency_ms\nw4.onnx,1,-1\n", "latency_ms > 0"),
    ],
)
def test_a_bad_measurements_file_is_one_clear_error(measured, text, message):
    path = measured[0].file.parent / "bad.csv"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        read_measurements(path)
