"""Energy per inference from a device's power model: power at the busy thread count × time."""

from __future__ import annotations

from dataclasses import dataclass

from edgesub.profile.devices import DeviceProfile


@dataclass(frozen=True)
class EnergyEstimate:
    """Whole-device energy and the part above idle (what running the model adds)."""

    energy_mj: float
    energy_dynamic_mj: float
    power_w: float
    energy_kind: str = "estimated"


def estimate_energy(device: DeviceProfile, threads: int, latency_ms: float) -> EnergyEstimate:
    """W × ms = mJ; the dynamic part excludes the idle power the device draws anyway."""
    power = device.power_w(threads)
    return EnergyEstimate(
        energy_mj=power * latency_ms,
        energy_dynamic_mj=(power - device.idle_w) * latency_ms,
        power_w=power,
    )
