"""Random (or data-aware) subspaces of teacher features and the compressed heads on them."""

from edgesub.subspace.build import build_subspace, load_subspace
from edgesub.subspace.projections import PROJECTIONS

__all__ = ["PROJECTIONS", "build_subspace", "load_subspace"]
