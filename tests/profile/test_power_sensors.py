"""Power sensors on fixture trees that reproduce the real sysfs / vcgencmd formats."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from edgesub.profile._child import measure_energy
from edgesub.profile.power import (
    SENSORS,
    AndroidBatterySensor,
    Ina3221HwmonSensor,
    Ina3221IioSensor,
    PowerSampler,
    RaplSensor,
    RaspberryPi5PmicSensor,
    SensorError,
    counter_delta,
    detect_sensor,
    integrate_power,
    parse_pmic_adc,
)

FIXTURES = Path(__file__).parent / "fixtures"
PMIC_TEXT = (FIXTURES / "rpi5/vcgencmd_pmic_read_adc.txt").read_text()
RAPL_ZONES = "sys/class/powercap"


def no_command(argv: Sequence[str]) -> str:
    raise FileNotFoundError(argv[0])


def recorded_vcgencmd(argv: Sequence[str]) -> str:
    assert tuple(argv) == ("vcgencmd", "pmic_read_adc")
    return PMIC_TEXT


@pytest.fixture
def rapl_root(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURES / "rapl", tmp_path / "rapl")
    return tmp_path / "rapl"


def test_every_sensor_is_registered() -> None:
    assert set(SENSORS.names()) == {
        "android-battery",
        "ina3221-hwmon",
        "ina3221-iio",
        "rapl",
        "rpi5-pmic",
    }


def test_no_sensor_on_an_empty_root(tmp_path: Path) -> None:
    assert detect_sensor(tmp_path, runner=no_command) is None


def test_rapl_uses_package_zones_only(rapl_root: Path) -> None:
    sensor = RaplSensor.probe(rapl_root, no_command)
    assert sensor is not None
    # intel-rapl:0:0 (core) lies inside package-0; intel-rapl:1 (psys) contains it
    assert sensor.parts == ("package-0",)
    assert sensor.label == "rapl (package-0)"
    assert isinstance(detect_sensor(rapl_root, runner=no_command), RaplSensor)


def test_rapl_energy_delta(rapl_root: Path) -> None:
    energy = rapl_root / RAPL_ZONES / "intel-rapl:0/energy_uj"
    sensor = RaplSensor.probe(rapl_root, no_command)
    sensor.start()
    energy.write_text("84131138491\n")  # +1.5 J
    assert sensor.stop().joules == pytest.approx(1.5)


def test_rapl_counter_wraps_around(rapl_root: Path) -> None:
    zone = rapl_root / RAPL_ZONES / "intel-rapl:0"
    max_range = int((zone / "max_energy_range_uj").read_text())
    (zone / "energy_uj").write_text(f"{max_range - 250_000}\n")
    sensor = RaplSensor.probe(rapl_root, no_command)
    sensor.start()
    (zone / "energy_uj").write_text("750000\n")  # wrapped: 0.25 J before, 0.75 J after
    assert sensor.stop().joules == pytest.approx(1.0)
    assert counter_delta(10, 25, 100) == 15
    assert counter_delta(90, 5, 100) == 15


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_rapl_is_not_offered(rapl_root: Path) -> None:
    for zone in (rapl_root / RAPL_ZONES).glob("intel-rapl:*"):
        (zone / "energy_uj").chmod(0o000)  # what kernels since 5.10 do for non-root users
    assert RaplSensor.probe(rapl_root, no_command) is None


def test_unparsable_rapl_is_not_offered(rapl_root: Path) -> None:
    for zone in (rapl_root / RAPL_ZONES).glob("intel-rapl:*"):
        (zone / "energy_uj").write_text("\n")
    assert RaplSensor.probe(rapl_root, no_command) is None


def test_jetson_iio_reads_the_board_input_rail() -> None:
    sensor = Ina3221IioSensor.probe(FIXTURES / "jetson_iio", no_command)
    assert sensor is not None
    assert sensor.parts == ("POM_5V_IN",)  # GPU and CPU rails are inside POM_5V_IN
    assert sensor.read_power_w() == pytest.approx(2.744)


def test_jetson_hwmon_reads_volts_times_amps() -> None:
    sensor = Ina3221HwmonSensor.probe(FIXTURES / "jetson_hwmon", no_command)
    assert sensor is not None
    assert sensor.parts == ("VDD_IN",)
    assert sensor.read_power_w() == pytest.approx(5.048 * 1.144)


def test_jetson_hwmon_without_an_input_rail_sums_all(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "jetson_hwmon", tmp_path, dirs_exist_ok=True)
    hwmon = tmp_path / "sys/class/hwmon/hwmon3"
    for name in ("in1_label", "in1_input", "curr1_input"):
        (hwmon / name).unlink()
    sensor = Ina3221HwmonSensor.probe(tmp_path, no_command)
    assert sensor.parts == ("VDD_CPU_GPU_CV", "VDD_SOC")
    assert sensor.read_power_w() == pytest.approx(5.040 * 0.320 + 5.048 * 0.424)


def test_pmic_parser_pairs_rails_by_name() -> None:
    rails = parse_pmic_adc(PMIC_TEXT)
    assert len(rails) == 12
    assert "EXT5V" not in rails and "BATT" not in rails  # voltage-only
    assert rails["VDD_CORE"] == pytest.approx(2.03652000 * 0.81369880)
    assert rails["3V7_WL_SW"] == pytest.approx(0.05855580 * 3.61069200)


def test_rpi5_sensor_through_the_recorded_vcgencmd_output(tmp_path: Path) -> None:
    sensor = RaspberryPi5PmicSensor.probe(tmp_path, recorded_vcgencmd)
    assert sensor is not None
    assert sensor.read_power_w() == pytest.approx(sum(parse_pmic_adc(PMIC_TEXT).values()))
    assert 2.0 < sensor.read_power_w() < 5.0


def test_rpi5_sensor_absent_without_vcgencmd_or_pmic(tmp_path: Path) -> None:
    assert RaspberryPi5PmicSensor.probe(tmp_path, no_command) is None
    pi4 = (FIXTURES / "rpi5/vcgencmd_pmic_read_adc_pi4.txt").read_text()
    assert RaspberryPi5PmicSensor.probe(tmp_path, lambda argv: pi4) is None


def test_android_battery_uses_current_magnitude(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "android", tmp_path, dirs_exist_ok=True)
    battery = tmp_path / "sys/class/power_supply/battery"
    sensor = AndroidBatterySensor.probe(tmp_path, no_command)
    assert sensor.read_power_w() == pytest.approx(412345 * 3987000 / 1e12)
    (battery / "current_now").write_text("412345\n")  # the other vendors' sign convention
    assert sensor.read_power_w() == pytest.approx(412345 * 3987000 / 1e12)
    (battery / "status").write_text("Charging\n")
    assert AndroidBatterySensor.probe(tmp_path, no_command) is None


def test_trapezoid_integration() -> None:
    assert integrate_power([(0.0, 2.0), (1.0, 2.0), (3.0, 4.0)]) == pytest.approx(2.0 + 6.0)
    assert integrate_power([(0.0, 5.0)]) == 0.0


def test_sampler_integrates_a_constant_power_fixture() -> None:
    sensor = Ina3221HwmonSensor.probe(FIXTURES / "jetson_hwmon", no_command)
    started = time.perf_counter()
    sensor.start()
    time.sleep(0.3)
    reading = sensor.stop()
    elapsed = time.perf_counter() - started
    assert reading.seconds == pytest.approx(elapsed, rel=0.05)
    assert reading.joules == pytest.approx(5.048 * 1.144 * elapsed, rel=0.05)
    assert reading.watts == pytest.approx(5.048 * 1.144)


def test_sampler_follows_a_changing_reading() -> None:
    """Power rising linearly at 10 W/s: the integral over t is 5 t² (trapezoid is exact)."""
    origin = time.perf_counter()
    sampler = PowerSampler(lambda: 10.0 * (time.perf_counter() - origin), 0.005).start()
    time.sleep(0.2)
    joules = sampler.stop().joules
    first, last = sampler.samples[0][0] - origin, sampler.samples[-1][0] - origin
    assert len(sampler.samples) > 10
    assert joules == pytest.approx(5 * (last**2 - first**2), rel=0.02)


def test_sampler_skips_failed_reads_and_needs_two_samples() -> None:
    calls = []

    def every_other_read_fails() -> float:  # I2C sensors return EIO now and then
        calls.append(1)
        if len(calls) % 2 == 0:
            raise OSError("EIO")
        return 1.0

    sampler = PowerSampler(every_other_read_fails, 0.001).start()
    deadline = time.perf_counter() + 10
    while len(calls) < 7 and time.perf_counter() < deadline:
        time.sleep(0.005)
    sampler.stop()
    assert len(calls) >= 7  # the thread kept sampling after the failures
    assert len(sampler.samples) >= 3 and {w for _, w in sampler.samples} == {1.0}

    def gone() -> float:
        raise ValueError("sensor gone")

    with pytest.raises(SensorError):
        PowerSampler(gone, 0.01).start().stop()


def test_energy_above_idle_on_a_battery_fixture(tmp_path: Path) -> None:
    """Idle 0.412 A, 1 A while inferring (at 3.987 V): the dynamic share is (3.987-1.644)/3.987."""
    shutil.copytree(FIXTURES / "android", tmp_path, dirs_exist_ok=True)
    current = tmp_path / "sys/class/power_supply/battery/current_now"
    sensor = AndroidBatterySensor.probe(tmp_path, no_command)

    def run() -> None:  # sysfs values change atomically; so does this fixture file
        staged = current.with_suffix(".new")
        staged.write_text("-1000000\n")
        staged.replace(current)
        time.sleep(0.001)

    energy = measure_energy(sensor, run, runs=10)
    assert energy["idle_power_w"] == pytest.approx(0.412345 * 3.987)
    assert energy["energy_dynamic_mj"] / energy["energy_mj"] == pytest.approx(
        (3.987 - 0.412345 * 3.987) / 3.987, rel=0.05
    )
