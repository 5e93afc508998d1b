"""edgesub: subspace-native distillation, edge conversion and device-aware profiling.

Importing this package is cheap: torch, onnxruntime, tensorflow and litert_torch are imported
only inside the stage that needs them. The public API for notebooks is re-exported lazily here.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name → module that defines it (imported on first use)
_API = {
    "RunConfig": "edgesub.config",
    "load_config": "edgesub.config",
    "RunDir": "edgesub.rundir",
    "Mode": "edgesub.pipeline",
    "run_pipeline": "edgesub.pipeline",
    "open_run": "edgesub.pipeline",
    "stage_data": "edgesub.pipeline",
    "stage_teacher": "edgesub.pipeline",
    "stage_subspace": "edgesub.pipeline",
    "stage_distill": "edgesub.pipeline",
    "stage_convert": "edgesub.pipeline",
    "stage_profile": "edgesub.pipeline",
    "stage_report": "edgesub.pipeline",
}
_RENAMED = {"load_config": "load"}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'edgesub' has no attribute {name!r}")
    module = importlib.import_module(_API[name])
    return getattr(module, _RENAMED.get(name, name))
