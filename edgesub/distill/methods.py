"""Distillation methods by name: the loss mix and head handling of subspace-native distillation
and of the standard baselines it is measured against.

Every method trains the same student (k-dim output) and ships the same head ∘ student, so the
deployed parameter count is identical; they differ only in the training signal:

- ``subspace_native``: regress the teacher's standardised k-dim subspace coordinates, plus KD and
  CE through the frozen compressed head fitted on that subspace.
- ``ce``: cross-entropy on the labels only; the head is trained from a random start.
- ``logit_kd``: Hinton KD (T = 4, 0.9·KD + 0.1·CE) to the teacher's own logits.
- ``fitnets``: a learned projector (training only) maps the student's output to the teacher's
  full d-dim standardised features (MSE) plus CE; the head is trained from a random start.
- ``dkd``: Decoupled KD (Zhao et al., CVPR 2022): CE + α·TCKD + β·NCKD at T = 4 with the
  paper's CIFAR-100 defaults α = 1, β = 8 (the ``dkd_tckd`` and ``dkd_nckd`` weights); the
  paper's 20-epoch linear warm-up of the KD terms is not applied.
- ``dist``: DIST (Huang et al., NeurIPS 2022): CE + β·inter-class + γ·intra-class Pearson
  losses on softmax(z/τ), the paper's CIFAR-100 setting β = γ = 2, τ = 4 (ImageNet: 1, 1, 1).
- ``simkd``: SimKD (Chen et al., CVPR 2022): a trainable projector (k → d, linear) maps the
  student's output to the teacher's raw d-dim penultimate features (L2 loss only, as in the
  paper), and the teacher's own classifier is reused frozen on it: our method without the
  subspace. The paper's projector is a 3-layer conv bottleneck on feature maps; our students
  end in a vector, so it is one Linear, and the deployed head — projector then teacher
  classifier, both linear — is folded into one k → classes Linear after training: the same
  function, and the same deployed size as every other method.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from edgesub.config import DistillConfig
from edgesub.registry import Registry

METHODS: Registry[dict[str, Any]] = Registry("distillation method")
METHODS.add(
    "subspace_native",
    {
        "losses": {"subspace_mse": 1.0, "head_kd": 1.0, "head_ce": 0.5},
        "train_head": False,
        "head_init": "subspace",
    },
)
METHODS.add("ce", {"losses": {"head_ce": 1.0}, "train_head": True, "head_init": "random"})
METHODS.add(
    "logit_kd",
    {
        "losses": {"logit_kd": 0.9, "head_ce": 0.1},
        "temperature": 4.0,
        "train_head": True,
        "head_init": "random",
    },
)
METHODS.add(
    "fitnets",
    {"losses": {"fitnets": 1.0, "head_ce": 1.0}, "train_head": True, "head_init": "random"},
)

METHODS.add(
    "dkd",
    {
        "losses": {"head_ce": 1.0, "dkd_tckd": 1.0, "dkd_nckd": 8.0},
        "temperature": 4.0,
        "train_head": True,
        "head_init": "random",
    },
)
METHODS.add(
    "dist",
    {
        "losses": {"head_ce": 1.0, "dist_inter": 2.0, "dist_intra": 2.0},
        "temperature": 4.0,
        "train_head": True,
        "head_init": "random",
    },
)
METHODS.add("simkd", {"losses": {"simkd": 1.0}, "train_head": False, "head_init": "teacher"})


def with_method(cfg: DistillConfig, name: str, **overrides: Any) -> DistillConfig:
    """``cfg`` with the losses and head settings of method ``name`` (then ``overrides``)."""
    return dataclasses.replace(cfg, **{**METHODS.get(name), **overrides})
