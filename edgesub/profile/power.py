"""Real power sensors read around the timed inference loop, so energy can be *measured*.

Each sensor class probes its own kernel or firmware interface under a root path ("/" on a real
machine, a fixture tree in tests) and is one of two kinds:

- counter sensors (Linux powercap/RAPL ``energy_uj``) report energy directly; we take deltas,
  undoing wrap-around with ``max_energy_range_uj``;
- sampled sensors (Jetson INA3221, Raspberry Pi 5 PMIC ADC, Android battery) report power in
  watts; a background thread samples them and integrates over time (trapezoid rule).

Whatever a sensor reports is whole-board or whole-package energy, not this process alone; the
figure is honest about what the hardware measures and names the sensor.
"""

from __future__ import annotations

import itertools
import re
import subprocess
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from edgesub.errors import EdgesubError
from edgesub.registry import Registry

CommandRunner = Callable[[Sequence[str]], str]


def run_command(argv: Sequence[str]) -> str:
    """Run a fixed argument list (never a shell) and return its stdout."""
    result = subprocess.run(list(argv), capture_output=True, text=True, timeout=5, check=True)
    return result.stdout


def _read_number(path: Path) -> float:
    return float(path.read_text(encoding="ascii").strip())


def _read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace").strip()


class SensorError(EdgesubError):
    """A power sensor stopped giving readings during a measurement."""


@dataclass(frozen=True)
class EnergyReading:
    """Energy over a window, and the window's length as the sensor saw it."""

    joules: float
    seconds: float

    @property
    def watts(self) -> float:
        return self.joules / self.seconds if self.seconds > 0 else 0.0


class PowerSensor(ABC):
    """Energy over a window: ``start()`` before the timed loop, ``stop()`` after it."""

    name: ClassVar[str]
    parts: tuple[str, ...] = ()  # domains or rails the reading covers
    # Shortest window worth measuring: counters tick in ~1 ms steps, sampled sensors need
    # enough samples for the integral to mean something.
    min_window_s: ClassVar[float]

    @classmethod
    @abstractmethod
    def probe(cls, root: Path, runner: CommandRunner) -> PowerSensor | None:
        """The sensor if its interface exists and reads under ``root``, else None (never raises)."""

    @property
    def label(self) -> str:
        """Name plus what it covers, e.g. ``rapl (package-0)``."""
        return f"{self.name} ({', '.join(self.parts)})" if self.parts else self.name

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def stop(self) -> EnergyReading:
        """Energy consumed since ``start()``."""


SENSORS: Registry[type[PowerSensor]] = Registry("power sensor")


def detect_sensor(
    root: Path = Path("/"), runner: CommandRunner = run_command
) -> PowerSensor | None:
    """The first sensor whose real interface is readable on this machine, or None."""
    for name in SENSORS:
        sensor = SENSORS.get(name).probe(Path(root), runner)
        if sensor is not None:
            return sensor
    return None


# --- sampling ------------------------------------------------------------------------------------


class PowerSampler:
    """Samples a power reading (W) on a background thread and integrates it to joules.

    A failed read (I2C sensors do return EIO now and then) skips that sample instead of killing
    the thread; a window left with fewer than two samples raises SensorError.
    """

    def __init__(self, read_power_w: Callable[[], float], interval_s: float) -> None:
        self._read = read_power_w
        self._interval_s = interval_s
        self._samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="edgesub-power", daemon=True)

    def start(self) -> PowerSampler:
        self._sample()
        self._thread.start()
        return self

    def stop(self) -> EnergyReading:
        self._stop.set()
        self._thread.join()
        self._sample()
        if len(self._samples) < 2:
            raise SensorError("the power sensor gave fewer than two readings in the window")
        seconds = self._samples[-1][0] - self._samples[0][0]
        return EnergyReading(integrate_power(self._samples), seconds)

    @property
    def samples(self) -> list[tuple[float, float]]:
        return list(self._samples)

    def _sample(self) -> None:
        now = time.perf_counter()
        try:
            watts = self._read()
        except (OSError, ValueError, subprocess.SubprocessError):
            return
        self._samples.append((now, watts))

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            self._sample()


def integrate_power(samples: Sequence[tuple[float, float]]) -> float:
    """Trapezoid integral of (time s, power W) samples in joules."""
    return sum((t1 - t0) * (p0 + p1) / 2.0 for (t0, p0), (t1, p1) in itertools.pairwise(samples))


class SampledSensor(PowerSensor):
    """A sensor that reports instantaneous power; energy comes from a sampler thread."""

    min_window_s = 1.0
    interval_s: ClassVar[float] = 0.01

    @abstractmethod
    def read_power_w(self) -> float: ...

    def start(self) -> None:
        self._sampler = PowerSampler(self.read_power_w, self.interval_s).start()

    def stop(self) -> EnergyReading:
        return self._sampler.stop()


# --- Linux powercap / RAPL -----------------------------------------------------------------------


@dataclass(frozen=True)
class _RaplDomain:
    name: str
    energy: Path
    max_range_uj: int


@SENSORS.register("rapl")
class RaplSensor(PowerSensor):
    """Intel/AMD RAPL package energy counters via Linux powercap (often root-only to read)."""

    name = "rapl"
    min_window_s = 0.5

    def __init__(self, domains: list[_RaplDomain]) -> None:
        self.domains = domains
        self.parts = tuple(d.name for d in domains)
        self._start: list[int] = []
        self._started = 0.0

    @classmethod
    def probe(cls, root: Path, runner: CommandRunner) -> RaplSensor | None:
        base = root / "sys/class/powercap"
        domains = []
        # Top-level zones only (intel-rapl:0, not intel-rapl:0:0): subzones are inside them.
        for zone in sorted(base.glob("intel-rapl:*")):
            if not re.fullmatch(r"intel-rapl:\d+", zone.name):
                continue
            try:
                int(_read_number(zone / "energy_uj"))
                domains.append(
                    _RaplDomain(
                        name=_read_text(zone / "name"),
                        energy=zone / "energy_uj",
                        max_range_uj=int(_read_number(zone / "max_energy_range_uj")),
                    )
                )
            except (OSError, ValueError):
                continue
        # "psys" (platform) already contains the packages; count it only when it is all we have.
        packages = [d for d in domains if d.name.startswith("package")]
        chosen = packages or domains
        return cls(chosen) if chosen else None

    def read_counters(self) -> list[int]:
        return [int(_read_number(d.energy)) for d in self.domains]

    def start(self) -> None:
        self._start = self.read_counters()
        self._started = time.perf_counter()

    def stop(self) -> EnergyReading:
        try:
            end = self.read_counters()
        except (OSError, ValueError) as exc:
            raise SensorError(f"cannot read RAPL energy counters: {exc}") from exc
        seconds = time.perf_counter() - self._started
        total_uj = sum(
            counter_delta(before, after, d.max_range_uj)
            for before, after, d in zip(self._start, end, self.domains, strict=True)
        )
        return EnergyReading(total_uj / 1e6, seconds)


def counter_delta(before: int, after: int, max_range: int) -> int:
    """Increase of a counter that wraps to 0 after ``max_range``."""
    return after - before if after >= before else after + max_range - before


# --- Jetson INA3221 ------------------------------------------------------------------------------


def _total_rails(rails: dict[str, Callable[[], float]]) -> dict[str, Callable[[], float]]:
    """Board-input rails (POM_5V_IN on Nano, VDD_IN on Xavier/Orin) alone, when present.

    The input rail already includes CPU/GPU/SoC rails, so summing everything would double count.
    """
    inputs = {n: r for n, r in rails.items() if re.search(r"(^|_)IN($|_)", n)}
    return inputs or rails


class _RailSensor(SampledSensor):
    def __init__(self, rails: dict[str, Callable[[], float]]) -> None:
        self.rails = rails
        self.parts = tuple(rails)

    def read_power_w(self) -> float:
        return sum(read() for read in self.rails.values())


@SENSORS.register("ina3221-iio")
class Ina3221IioSensor(_RailSensor):
    """Jetson (L4T 32: Nano, TX2, Xavier) INA3221 through the ina3221x iio driver, mW per rail."""

    name = "ina3221-iio"

    @classmethod
    def probe(cls, root: Path, runner: CommandRunner) -> Ina3221IioSensor | None:
        rails: dict[str, Callable[[], float]] = {}
        pattern = "sys/bus/i2c/drivers/ina3221x/*/iio:device*/in_power*_input"
        for power_file in sorted(root.glob(pattern)):
            channel = re.fullmatch(r"in_power(\d+)_input", power_file.name)
            if channel is None:
                continue
            label_file = power_file.parent / f"rail_name_{channel.group(1)}"
            try:
                _read_number(power_file)
                label = _read_text(label_file) if label_file.exists() else power_file.name
            except (OSError, ValueError):
                continue
            rails[label] = _milliwatts_reader(power_file)
        return cls(_total_rails(rails)) if rails else None


def _milliwatts_reader(path: Path) -> Callable[[], float]:
    return lambda: _read_number(path) / 1000.0


@SENSORS.register("ina3221-hwmon")
class Ina3221HwmonSensor(_RailSensor):
    """Jetson (L4T 34+: Orin, Xavier) INA3221 via hwmon: ``in*_input`` mV × ``curr*_input`` mA."""

    name = "ina3221-hwmon"

    @classmethod
    def probe(cls, root: Path, runner: CommandRunner) -> Ina3221HwmonSensor | None:
        rails: dict[str, Callable[[], float]] = {}
        for hwmon in sorted(root.glob("sys/class/hwmon/hwmon*")):
            try:
                if _read_text(hwmon / "name") != "ina3221":
                    continue
            except OSError:
                continue
            for volt_file in sorted(hwmon.glob("in*_input")):
                channel = re.fullmatch(r"in(\d+)_input", volt_file.name)
                if channel is None:
                    continue
                n = channel.group(1)
                curr_file, label_file = hwmon / f"curr{n}_input", hwmon / f"in{n}_label"
                try:
                    _read_number(volt_file) * _read_number(curr_file)
                    label = _read_text(label_file) if label_file.exists() else f"in{n}"
                except (OSError, ValueError):  # disabled channels fail to read
                    continue
                rails[label] = _volt_amp_reader(volt_file, curr_file)
        return cls(_total_rails(rails)) if rails else None


def _volt_amp_reader(volt_mv: Path, curr_ma: Path) -> Callable[[], float]:
    return lambda: _read_number(volt_mv) * _read_number(curr_ma) / 1e6


# --- Raspberry Pi 5 PMIC ------------------------------------------------------------------------

_PMIC_LINE = re.compile(
    r"^\s*(?P<rail>\S+)_(?P<unit>[AV])\s+(?:current|volt)\(\d+\)=(?P<value>[-+0-9.eE]+)[AV]\s*$"
)


def parse_pmic_adc(text: str) -> dict[str, float]:
    """Watts per rail from ``vcgencmd pmic_read_adc`` output (rails with both _A and _V lines).

    Currents and voltages of one rail sit on different ADC channels, so rails are paired by name;
    voltage-only rails (EXT5V, BATT) carry no current reading and are left out.
    """
    amps: dict[str, float] = {}
    volts: dict[str, float] = {}
    for line in text.splitlines():
        match = _PMIC_LINE.match(line)
        if match:
            target = amps if match["unit"] == "A" else volts
            target[match["rail"]] = float(match["value"])
    return {rail: amps[rail] * volts[rail] for rail in amps if rail in volts}


@SENSORS.register("rpi5-pmic")
class RaspberryPi5PmicSensor(SampledSensor):
    """Raspberry Pi 5 PMIC ADC via ``vcgencmd pmic_read_adc``: Σ V×A over the SoC's rails.

    Covers the PMIC rails (SoC, DRAM, I/O), not USB peripherals or conversion losses.
    """

    name = "rpi5-pmic"
    interval_s = 0.05  # one vcgencmd call takes a few ms; don't let sampling load the CPU
    COMMAND: ClassVar[tuple[str, ...]] = ("vcgencmd", "pmic_read_adc")

    def __init__(self, runner: CommandRunner, rails: tuple[str, ...]) -> None:
        self._runner = runner
        self.parts = rails

    @classmethod
    def probe(cls, root: Path, runner: CommandRunner) -> RaspberryPi5PmicSensor | None:
        try:
            rails = parse_pmic_adc(runner(cls.COMMAND))
        except (OSError, subprocess.SubprocessError, ValueError):
            return None
        return cls(runner, tuple(rails)) if rails else None

    def read_power_w(self) -> float:
        return sum(parse_pmic_adc(self._runner(self.COMMAND)).values())


# --- Android battery ----------------------------------------------------------------------------


@SENSORS.register("android-battery")
class AndroidBatterySensor(SampledSensor):
    """Android battery fuel gauge: |current_now| µA × voltage_now µV while discharging.

    Sign conventions differ between vendors (discharge is negative on some, positive on
    others), so the magnitude is used; while charging the gauge sees the charger, not the load,
    so the sensor is only offered when the battery reports "Discharging".
    """

    name = "android-battery"
    interval_s = 0.05

    def __init__(self, base: Path) -> None:
        self.base = base

    @classmethod
    def probe(cls, root: Path, runner: CommandRunner) -> AndroidBatterySensor | None:
        base = root / "sys/class/power_supply/battery"
        try:
            status_file = base / "status"
            if status_file.exists() and _read_text(status_file) != "Discharging":
                return None
            sensor = cls(base)
            sensor.read_power_w()
        except (OSError, ValueError):
            return None
        return sensor

    def read_power_w(self) -> float:
        current_ua = _read_number(self.base / "current_now")
        voltage_uv = _read_number(self.base / "voltage_now")
        return abs(current_ua) * voltage_uv / 1e12
