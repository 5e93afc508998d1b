"""Measured DRAM bandwidth in device profiles: optional, cited, never above the bus's rate; and
the what-if of ``benchmarks/estimator_accuracy.py --bandwidth measured`` built from it."""

import sys
from importlib import resources
from pathlib import Path

import pytest

from edgesub.errors import ConfigError
from edgesub.profile.devices import get_device, load_devices

PI4 = "raspberry-pi-4b"
PI4_LINE = "measured_bandwidth_gbps = 5.11"


def _pi4_text() -> str:
    return resources.files("edgesub.device_profiles").joinpath(f"{PI4}.toml").read_text("utf-8")


def test_measured_bandwidth_is_read_where_published_and_none_elsewhere():
    assert get_device(PI4).measured_bandwidth_gbps == 5.11
    assert get_device("pixel-4").measured_bandwidth_gbps is None
    for name in load_devices().names():
        device = get_device(name)
        measured = device.measured_bandwidth_gbps
        assert measured is None or 0 < measured <= device.bandwidth_gbps


@pytest.mark.parametrize(
    ("replacement", "message"),
    [
        ("measured_bandwidth_gbps = 25.6", "cannot exceed the theoretical bandwidth_gbps 12.8"),
        ('measured_bandwidth_gbps = "fast"', "must be float"),
        ("measured_bandwidth_gbps = 0.0", "must be finite and > 0"),
    ],
)
def test_a_bad_measured_bandwidth_is_one_clear_line(tmp_path, replacement, message):
    text = _pi4_text()
    assert PI4_LINE in text
    (tmp_path / "board.toml").write_text(text.replace(PI4_LINE, replacement))
    with pytest.raises(ConfigError) as info:
        load_devices(tmp_path)
    line = str(info.value)
    assert "\n" not in line and "board.toml" in line
    assert "memory.measured_bandwidth_gbps" in line and message in line


def test_a_measured_bandwidth_without_its_source_is_refused(tmp_path):
    text = _pi4_text().replace(
        'field = "memory.measured_bandwidth_gbps"', 'field = "memory.elsewhere"'
    )
    (tmp_path / "board.toml").write_text(text)
    with pytest.raises(ConfigError, match=r"memory\.measured_bandwidth_gbps.*no \[\[sources\]\]"):
        load_devices(tmp_path)


def test_the_what_if_uses_the_measured_rate_else_the_median_share():
    pytest.importorskip("torch")  # estimator_fit builds the reference networks with it
    sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
    from estimator_fit import at_measured_bandwidth, measured_share

    devices = load_devices()
    shares = sorted(
        d.measured_bandwidth_gbps / d.bandwidth_gbps
        for d in map(devices.get, devices.names())
        if d.measured_bandwidth_gbps
    )
    share = measured_share(devices)
    assert shares[0] < share < shares[-1]
    what_if = at_measured_bandwidth(devices)
    assert what_if.get(PI4).bandwidth_gbps == 5.11
    pixel4 = devices.get("pixel-4")
    assert what_if.get("pixel-4").bandwidth_gbps == pytest.approx(pixel4.bandwidth_gbps * share)
    assert devices.get(PI4).bandwidth_gbps == 12.8  # the profiles themselves are unchanged


def test_the_devices_table_shows_the_measured_rate_or_a_dash():
    from rich.console import Console

    from edgesub.report.table import devices_table

    console = Console(width=200, record=True)
    console.print(devices_table([get_device(PI4), get_device("pixel-4")]))
    lines = [line.split() for line in console.export_text().splitlines()]
    rows = {words[0]: words for words in lines if words}
    assert rows[PI4][5:7] == ["12.8", "5.1"]
    assert rows["pixel-4"][7:9] == ["34.1", "—"]  # its CPU column is three words
