"""Profiling: graph analysis, device estimates and measurement of .onnx/.tflite artifacts.

Names are resolved lazily so ``import edgesub.profile`` stays cheap (no onnx, no litert).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "profile_artifacts": "edgesub.profile.run",
    "write_profile": "edgesub.profile.run",
    "host_info": "edgesub.profile.run",
    "load_devices": "edgesub.profile.devices",
    "get_device": "edgesub.profile.devices",
    "DeviceProfile": "edgesub.profile.devices",
    "load_graph": "edgesub.profile.formats",
    "Graph": "edgesub.profile.graph",
    "OpCost": "edgesub.profile.graph",
    "estimate": "edgesub.profile.estimate",
    "estimate_energy": "edgesub.profile.energy",
    "Budget": "edgesub.profile.compare",
    "compare_records": "edgesub.profile.compare",
    "load_profile_records": "edgesub.profile.compare",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'edgesub.profile' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
