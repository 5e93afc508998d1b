"""`edgesub compare` through the CLI: run dirs, profile.json, plain artifacts, plots, errors."""

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_graph_onnx import tiny_cnn

from edgesub.cli import cli
from edgesub.profile.devices import load_devices

FIXTURE = Path(__file__).parents[1] / "report" / "fixture_run"


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURE, tmp_path / "run"))


def invoke(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_compare_run_dir_writes_json_and_report_section(run_dir):
    result = invoke(
        "compare", run_dir, "--budget-mj", "0.5", "--rate", "10", "--battery-mah", "3000",
        "--battery-v", "3.7", "--max-latency-ms", "0.2", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    written = json.loads((run_dir / "compare.json").read_text())
    assert printed == written
    assert written["budget"]["battery_wh"] == pytest.approx(11.1)
    fits = {(f["artifact"], f["device"]) for f in written["fitting"]}
    # Pi 5 estimates are all under 0.2 ms and 0.5 mJ; the Pi 4's only int8 tflite is.
    assert fits == {
        ("deployable_fp32.onnx", "raspberry-pi-5"), ("deployable_int8.onnx", "raspberry-pi-5"),
        ("deployable_fp32.tflite", "raspberry-pi-5"), ("deployable_int8.tflite", "raspberry-pi-5"),
        ("deployable_int8.tflite", "raspberry-pi-4b"),
    }  # fmt: skip
    # the Pareto front is among the pairs within the budget: on the Pi 4 only one fits
    assert written["pareto"]["raspberry-pi-4b"] == ["deployable_int8.tflite"]
    # the host measured no energy, so nothing there can be checked against an energy budget
    assert written["nothing_fits"] == ["host"]
    estimated = [r for r in written["rows"] if r["device"] != "host"]
    assert all(r["rank"] is not None and r["keeps_rate"] for r in estimated)
    # ranked by average power at 10 Hz; without power the host's rows cannot be ranked
    assert all(r["rank"] is None for r in written["rows"] if r["device"] == "host")
    page = (run_dir / "report.html").read_text()
    assert 'id="budget"' in page and "0.5 mJ budget" in page
    assert (run_dir / "plots" / "pareto.png").stat().st_size > 10_000


def test_compare_table_and_device_filter(run_dir, tmp_path):
    plot = tmp_path / "out" / "pareto.png"
    result = invoke(
        "compare", run_dir / "profile.json", "--device", "raspberry-pi-4b", "--budget-mj", "0.5",
        "--plot", plot,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "1 of 4 artifact × device pairs fit the budget" in result.stdout
    assert "Pareto front on raspberry-pi-4b (within the budget): deployable_int8" in result.stdout
    assert "raspberry-pi-5" not in result.stdout
    assert plot.read_bytes().startswith(b"\x89PNG")
    assert not (run_dir / "compare.json").exists()  # a profile.json file is not a run


def test_compare_estimates_plain_artifacts(tmp_path):
    model = tiny_cnn(tmp_path / "tiny.onnx")
    result = invoke(
        "compare", model, "--device", "raspberry-pi-zero-2w", "--device", "pixel-4",
        "--rate", "30", "--battery-wh", "5", "--min-hours", "1", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["rows"]
    assert [r["device"] for r in rows] == ["raspberry-pi-zero-2w", "pixel-4"]
    for row in rows:
        assert row["fits_budget"] and row["pareto"] and row["accuracy"] is None
        # 90 % of the battery reaches the device unless --conversion-efficiency says otherwise
        hours = 5.0 * 0.9 / (row["average_power_mw"] / 1000)
        assert row["battery_hours"] == pytest.approx(hours, 1e-3)
        assert row["inferences_per_charge"] == pytest.approx(hours * 3600 * 30, rel=1e-3)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--battery-mah", "3000"], "--battery-mah and --battery-v go together"),
        (["--battery-wh", "10"], "need a rate: pass --rate HZ"),
        (["--budget-mj", "-1"], "energy_mj must be > 0"),
        (["--device", "jetson-nano"], "no records for device(s) jetson-nano"),
    ],
)
def test_compare_bad_budgets_are_one_line(run_dir, args, message):
    result = invoke("compare", run_dir, *args)
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error: ") and message in line


def test_compare_takes_device_all_too(tmp_path):
    model = tiny_cnn(tmp_path / "a.onnx")
    result = invoke("compare", model, "--device", "all", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["rows"]
    assert sorted(r["device"] for r in rows) == load_devices().names()
