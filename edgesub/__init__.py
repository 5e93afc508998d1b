"""edgesub: subspace-native distillation, edge conversion and device-aware profiling.

Importing this package is cheap: torch, onnxruntime, tensorflow and litert_torch are imported
only inside the stage that needs them.
"""

__version__ = "0.1.0"
