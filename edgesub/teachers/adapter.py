"""Any ``torch.nn.Module`` as a teacher: its features are the output of a named layer.

The layer is a module path (``"body.6"``, ``"_conv_head"``) resolved with ``get_submodule``
and read with a forward hook, or a callable ``fn(module, x) -> features``. Spatial maps
(N×C×H×W) are averaged over H, W and token sequences (N×T×D) over T, so features are N×d.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from edgesub._deps import require
from edgesub.errors import ConfigError

if TYPE_CHECKING:
    import torch
    from torch import nn

FeatureFn = Callable[["nn.Module", "torch.Tensor"], "torch.Tensor"]


def resolve_layer(module: nn.Module, path: str) -> nn.Module:
    """``module.get_submodule(path)``, or a ConfigError listing the closest layer names."""
    try:
        return module.get_submodule(path)
    except AttributeError:
        names = [n for n, _ in module.named_modules() if n]
        raise unknown_layer(path, type(module).__name__, names) from None


def unknown_layer(name: str, where: str, names: list[str], unit: str = "layers") -> ConfigError:
    """The error for a feature layer ``where`` lacks: the closest of ``names`` (else the last
    few, nearest the head) and how many there are, so the right one can be picked."""
    shown = difflib.get_close_matches(name, names, n=8, cutoff=0.3) or names[-8:]
    return ConfigError(
        f"feature layer '{name}' not found in {where}; candidates: "
        f"{', '.join(shown)} ({len(names)} {unit} in all)"
    )


class ModuleTeacher:
    """Wrap ``module`` so ``features(x)`` returns the pooled output of ``layer``."""

    def __init__(self, module: nn.Module, layer: str | FeatureFn) -> None:
        self.module = module.eval()
        self.layer = layer
        if isinstance(layer, str):
            resolve_layer(module, layer)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if callable(self.layer):
            return pool(self.layer(self.module, x))
        return pool(capture(self.module, resolve_layer(self.module, self.layer), x))


def capture(module: nn.Module, layer: nn.Module, x: torch.Tensor, *, inputs: bool = False) -> Any:
    """Run ``module`` on ``x`` and return what ``layer`` returned on its last call (its first
    input instead with ``inputs``: a classifier's input is the penultimate features)."""
    captured: list[Any] = []
    if inputs:
        hook = layer.register_forward_pre_hook(lambda _m, args: captured.append(args[0]))
    else:
        hook = layer.register_forward_hook(lambda _m, _i, output: captured.append(output))
    try:
        module(x)
    finally:
        hook.remove()
    if not captured:
        raise ConfigError(f"feature layer {type(layer).__name__} did not run in the forward pass")
    output = captured[-1]
    return output[0] if isinstance(output, tuple | list) else output


def pool(h: torch.Tensor) -> torch.Tensor:
    """N×C×H×W → mean over H, W; N×T×D → mean over T; N×d unchanged."""
    torch = require("torch")
    if h.dim() == 4:
        return h.mean(dim=(2, 3))
    if h.dim() == 3:
        return h.mean(dim=1)
    if h.dim() == 2:
        return h
    return torch.flatten(h, 1)
