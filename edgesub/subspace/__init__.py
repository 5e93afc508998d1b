"""Random (or data-aware) subspaces of teacher features and the compressed heads on them."""

from edgesub.subspace.compress import compress, load_subspace
from edgesub.subspace.projections import PROJECTIONS

__all__ = ["PROJECTIONS", "compress", "load_subspace"]
