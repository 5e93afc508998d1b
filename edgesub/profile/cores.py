"""CPU core classes: groups of Arm microarchitectures whose kernels reach a similar share of peak.

The estimator's efficiency is a property of the core, not of the dataset: an in-order Cortex-A53
stalls on loads that an out-of-order Cortex-A76 hides, so one shared efficiency over-estimates
big cores and under-estimates little ones. Each class gets one fitted efficiency factor; a
device's cores are classed by the ``microarchitecture`` of their cluster in the device profile.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from edgesub.registry import Registry

if TYPE_CHECKING:
    from edgesub.profile.devices import DeviceProfile


@dataclass(frozen=True)
class CoreClass:
    """Microarchitectures with one pipeline design: issue width, out-of-order window, NEON pipes."""

    name: str
    description: str
    members: tuple[str, ...]  # Arm core names as written in device profiles ("Cortex-A76")


CORE_CLASSES: Registry[CoreClass] = Registry("core class")
for _cls in (
    CoreClass(
        "in-order",
        "in-order little cores, 64-bit NEON datapath, dual issue",
        ("Cortex-A53", "Cortex-A55", "Cortex-A510"),
    ),
    CoreClass(
        "a57-a73",
        "first ARMv8 out-of-order big cores: 2-3-wide decode, ARMv8.0 (no dot product, no fp16)",
        ("Cortex-A57", "Cortex-A72", "Cortex-A73"),
    ),
    CoreClass(
        "a75-x1",
        "wide ARMv8.2 out-of-order cores (3-wide A75 and up), dot product and fp16",
        ("Cortex-A75", "Cortex-A76", "Cortex-A77", "Cortex-A78", "Cortex-A78AE", "Cortex-X1"),
    ),
    CoreClass(
        "x2-x3",
        "ARMv9 cores (SVE2-capable, NEON-only in practice), four 128-bit pipes on X cores",
        ("Cortex-A710", "Cortex-A715", "Cortex-X2", "Cortex-X3"),
    ),
):
    CORE_CLASSES.add(_cls.name, _cls)

# The class a core of unknown design is estimated with: its factor stays at the fit's prior (1).
UNKNOWN_CLASS = "unknown"
_BY_MEMBER = {m.lower(): n for n in CORE_CLASSES for m in CORE_CLASSES.get(n).members}


def core_class(microarchitecture: str) -> str:
    """The class of one core, e.g. ``"Cortex-A76"`` → ``"a75-x1"``; unknown designs (custom
    cores, names not listed) give :data:`UNKNOWN_CLASS` rather than a guess."""
    name = re.sub(r"\s+", " ", microarchitecture.strip()).lower()
    if name.startswith("arm "):
        name = name[4:]
    return _BY_MEMBER.get(name, UNKNOWN_CLASS)


def device_class(device: DeviceProfile) -> str:
    """A device's class is its first (fastest) cluster's: the core a 1-thread run uses, and the
    class whose error band its estimates carry."""
    return core_class(device.clusters[0].microarchitecture)
