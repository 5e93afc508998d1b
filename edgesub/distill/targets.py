"""Teacher signals for each minibatch: read from the feature cache, or computed online.

Every signal is a function of the teacher's penultimate features h: the standardised subspace
coordinates (P·h − μ)/σ, the compressed head's logits on them, the teacher's own logits, the
standardised full features (FitNets) and h itself (SimKD). Without augmentation they are
computed once from the cached train features and indexed; with augmentation the teacher runs
on each augmented batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from edgesub._deps import require
from edgesub.errors import ConfigError, DataError

if TYPE_CHECKING:
    import torch

    from edgesub.subspace.build import Subspace
    from edgesub.subspace.head import Standardiser

Signals = dict[str, "torch.Tensor"]
FeatureFn = Callable[["torch.Tensor"], "torch.Tensor"]

WHAT = {
    "target": "the subspace (run `edgesub subspace`)",
    "head_logits": "the subspace's compressed head (run `edgesub subspace`)",
    "teacher_logits": "the teacher's own classifier head",
    "features": "the teacher's full features and their standardisation",
    "teacher_features": "the teacher's features",
}


@dataclass(frozen=True)
class SignalMaps:
    """How teacher features h (B×d) become the signals the losses read; ``needs`` names those
    to compute. ``teacher_head`` maps h to the teacher's own logits."""

    needs: frozenset[str]
    subspace: Subspace | None = None
    teacher_head: FeatureFn | None = None
    feature_std: Standardiser | None = None
    _tensors: dict[str, torch.Tensor] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        have = {
            "target": self.subspace is not None,
            "head_logits": self.subspace is not None,
            "teacher_logits": self.teacher_head is not None,
            "features": self.feature_std is not None,
            "teacher_features": True,
        }
        missing = sorted(n for n in self.needs if not have[n])
        if missing:
            raise ConfigError(
                "the chosen losses need " + "; ".join(WHAT[n] for n in missing) + ", not given"
            )
        torch = require("torch")
        t = self._tensors
        if self.subspace is not None:
            t["projection"] = torch.from_numpy(np.asarray(self.subspace.projection).T.copy())
            t["mean"] = torch.from_numpy(self.subspace.standardiser.mean)
            t["std"] = torch.from_numpy(self.subspace.standardiser.std)
            t["head_weight"] = torch.from_numpy(self.subspace.head.weight.T.copy())
            t["head_bias"] = torch.from_numpy(self.subspace.head.bias)
        if self.feature_std is not None:
            t["feature_mean"] = torch.from_numpy(self.feature_std.mean)
            t["feature_std"] = torch.from_numpy(self.feature_std.std)

    def __call__(self, h: torch.Tensor) -> Signals:
        torch = require("torch")
        t, out = self._tensors, {}
        with torch.no_grad():
            if self.needs & {"target", "head_logits"}:
                target = (h @ t["projection"] - t["mean"]) / t["std"]
                out["target"] = target
                out["head_logits"] = target @ t["head_weight"] + t["head_bias"]
            if "teacher_logits" in self.needs:
                out["teacher_logits"] = self.teacher_head(h)
            if "features" in self.needs:
                out["features"] = (h - t["feature_mean"]) / t["feature_std"]
            if "teacher_features" in self.needs:
                out["teacher_features"] = h
        return {name: out[name] for name in self.needs}


class CachedTargets:
    """Signals of every train sample, computed once from the cached train features."""

    def __init__(self, maps: SignalMaps, h_train: np.ndarray, n_train: int) -> None:
        torch = require("torch")
        if len(h_train) != n_train:
            raise DataError(
                f"teacher features have {len(h_train)} train rows but the student's train split "
                f"has {n_train} samples: they come from different data"
            )
        h = torch.from_numpy(np.array(h_train, dtype=np.float32))  # a writable copy of the cache
        self.signals = maps(h)

    def __call__(self, idx: torch.Tensor, x: torch.Tensor) -> Signals:
        return {name: value[idx] for name, value in self.signals.items()}


class OnlineTargets:
    """Signals of the (augmented) batch the student sees, from the teacher run on it."""

    def __init__(self, maps: SignalMaps, features: FeatureFn) -> None:
        self.maps = maps
        self.features = features

    def __call__(self, idx: torch.Tensor, x: torch.Tensor) -> Signals:
        torch = require("torch")
        with torch.no_grad():
            return self.maps(self.features(x))
