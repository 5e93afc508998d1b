"""Energy per inference from a device's power model and the estimate's time split.

A core's power depends on what it does: FMA-bound convolution and matmul kernels (an HPL-type
load) draw more than integer work, memory stalls or the runtime's dispatch loop (a stress-ng-type
load). Device profiles publish the board's idle watts, its watts with every core under stress-ng
(``full_load_w``, split per core as ``active_w_per_core``) and, where measured, under HPL
(``gemm_load_w``). The compute-bound part of an inference is charged at the HPL level, the rest
at the stress level; idle power runs all the time.

Where a profile has no HPL figure, the ratio of HPL to stress-ng dynamic power comes from boards
with the same core class that were measured both ways (:data:`GEMM_OVER_STRESS`), and the
estimate says the ratio was borrowed.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from edgesub.profile.cores import device_class
from edgesub.profile.devices import DeviceProfile
from edgesub.profile.estimate import LatencyParts

# Dynamic power (above idle) under HPL over that under stress-ng, all cores busy, from Jeff
# Geerling's sbc-reviews web/data/results.yml (power_watts idle / stress / hpl, at the wall):
# (hpl - idle) / (stress - idle) per board of the class.
_MEASURED_RATIOS = {
    # Raspberry Pi CM0 (RP3A0, 4 × A53): 1.2 / 3.7 / 3.7
    "in-order": ((3.7 - 1.2) / (3.7 - 1.2),),
    # Pi 4 B 1.6 / 5.0 / 7.2; CM4 2.5 / 4.6 / 5.2; Pi 400 2.7 / 5.2 / 6.4 (4 × A72)
    "a57-a73": ((7.2 - 1.6) / (5.0 - 1.6), (5.2 - 2.5) / (4.6 - 2.5), (6.4 - 2.7) / (5.2 - 2.7)),
    # Pi 5 2.8 / 9.7 / 13.8; CM5 2.4 / 8.5 / 9.4; Pi 500 3.1 / 9 / 11; Pi 500+ 2.9 / 9.4 / 12.9
    # (4 × A76)
    "a75-x1": (
        (13.8 - 2.8) / (9.7 - 2.8),
        (9.4 - 2.4) / (8.5 - 2.4),
        (11 - 3.1) / (9 - 3.1),
        (12.9 - 2.9) / (9.4 - 2.9),
    ),
}
GEMM_OVER_STRESS = {cls: statistics.median(r) for cls, r in _MEASURED_RATIOS.items()}
# ARMv9 cores and unknown designs borrow the widest measured class's ratio.
GEMM_OVER_STRESS_DEFAULT = GEMM_OVER_STRESS["a75-x1"]


def gemm_factor(device: DeviceProfile) -> tuple[float, str]:
    """HPL-load over stress-load dynamic power, and where it comes from (``profile``: the
    device's own gemm_load_w; ``class CLS``: borrowed from boards of its core class)."""
    if device.gemm_load_w is not None:
        return (device.gemm_load_w - device.idle_w) / (device.full_load_w - device.idle_w), (
            "profile"
        )
    cls = device_class(device)
    return GEMM_OVER_STRESS.get(cls, GEMM_OVER_STRESS_DEFAULT), f"class {cls}"


@dataclass(frozen=True)
class EnergyEstimate:
    """Whole-device energy and the part above idle (what running the model adds)."""

    energy_mj: float
    energy_dynamic_mj: float
    power_w: float  # average over the inference, idle included
    gemm_factor: float
    gemm_factor_source: str
    energy_kind: str = "estimated"


def estimate_energy(device: DeviceProfile, threads: int, parts: LatencyParts) -> EnergyEstimate:
    """W × ms = mJ per part of the inference: compute-bound time at the HPL-type power,
    memory-bound and dispatch time at the stress-type power."""
    factor, source = gemm_factor(device)
    heavy = device.power_w(threads, factor)
    light = device.power_w(threads)
    total_mj = 1e3 * (heavy * parts.compute_s + light * (parts.memory_s + parts.overhead_s))
    latency_ms = parts.total_ms
    return EnergyEstimate(
        energy_mj=total_mj,
        energy_dynamic_mj=total_mj - device.idle_w * latency_ms,
        power_w=total_mj / latency_ms if latency_ms else light,
        gemm_factor=factor,
        gemm_factor_source=source,
    )
