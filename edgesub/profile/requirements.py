"""The pinned packages a device needs to run artifacts: numpy and each format's runtime.

One source for the Raspberry Pi bundle's requirements.txt and the venv ``edgesub profile
--remote`` builds on a device, both at the versions edgesub's own ``runtime`` extra pins.
"""

from __future__ import annotations

import re
from importlib import metadata

from edgesub.errors import MissingDependencyError

# The distribution that runs each artifact format on a device.
RUNTIME_PACKAGES = {"tflite": "ai-edge-litert", "onnx": "onnxruntime"}
PILLOW = "pillow>=10"  # reads image files; not needed for .npy or text inputs
_NAME = re.compile(r"^[A-Za-z0-9._-]+")


def runtime_requirements(formats: set[str], images: bool) -> list[str]:
    """numpy and each format's runtime at the versions edgesub's ``runtime`` extra pins."""
    pins = _edgesub_pins()
    names = ["numpy", *(RUNTIME_PACKAGES[f] for f in sorted(formats))]
    return [pins[n] for n in names] + ([PILLOW] if images else [])


def _edgesub_pins() -> dict[str, str]:
    """edgesub's own requirements (base and the runtime extra), by distribution name."""
    try:
        requires = metadata.requires("edgesub") or []
    except metadata.PackageNotFoundError:
        raise MissingDependencyError(
            "edgesub is not installed (its runtime pins are read from its metadata)"
        ) from None
    pins = {}
    for line in requires:
        requirement, _, marker = line.partition(";")
        if marker.strip() and 'extra == "runtime"' not in marker:
            continue
        match = _NAME.match(requirement.strip())
        if match:
            pins[match.group(0).lower().replace("_", "-")] = requirement.strip()
    return pins
