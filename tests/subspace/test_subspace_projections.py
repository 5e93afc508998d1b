import numpy as np
import pytest

from edgesub.errors import DataError
from edgesub.subspace import PROJECTIONS
from edgesub.teachers.features import check_finite


@pytest.fixture(scope="module")
def features():
    rng = np.random.default_rng(0)
    return rng.standard_normal((300, 64)).astype(np.float32) @ rng.standard_normal((64, 64)).astype(
        np.float32
    )


@pytest.mark.parametrize("method", ["gaussian", "sparse", "pca"])
def test_shape_dtype_and_seeding(features, method):
    fn = PROJECTIONS.get(method)
    p = fn(features, 8, 3)
    assert p.shape == (8, 64) and p.dtype == np.float32
    assert np.array_equal(p, fn(features, 8, 3))


@pytest.mark.parametrize("method", ["gaussian", "sparse"])
def test_random_projections_depend_on_seed_and_preserve_norms(method):
    h = np.random.default_rng(1).standard_normal((200, 1024))
    fn = PROJECTIONS.get(method)
    assert not np.array_equal(fn(h, 64, 0), fn(h, 64, 1))
    ratio = np.linalg.norm(h @ fn(h, 256, 0).T, axis=1) / np.linalg.norm(h, axis=1)
    assert ratio.mean() == pytest.approx(1.0, abs=0.05)


def test_gaussian_entries_have_variance_one_over_k():
    p = PROJECTIONS.get("gaussian")(np.zeros((1, 2000)), 50, 0)
    assert p.mean() == pytest.approx(0.0, abs=0.01)
    assert p.var() * 50 == pytest.approx(1.0, abs=0.02)


def test_sparse_projection_is_very_sparse():
    p = PROJECTIONS.get("sparse")(np.zeros((1, 1024)), 32, 0)
    assert (p != 0).mean() == pytest.approx(1 / 32, rel=0.2)  # 1/sqrt(d)


def test_pca_is_orthonormal_and_captures_most_variance(features):
    p = PROJECTIONS.get("pca")(features, 8, 0).astype(np.float64)
    assert np.allclose(p @ p.T, np.eye(8), atol=1e-5)
    centred = features - features.mean(axis=0)
    captured = np.linalg.norm(centred @ p.T) ** 2 / np.linalg.norm(centred) ** 2
    random = PROJECTIONS.get("gaussian")(features, 8, 0).astype(np.float64)
    q, _ = np.linalg.qr(random.T)
    assert captured > np.linalg.norm(centred @ q) ** 2 / np.linalg.norm(centred) ** 2


def test_non_finite_features_name_the_sample():
    h = np.ones((5, 3), np.float32)
    h[3, 1] = np.inf
    with pytest.raises(DataError, match="val sample 13"):
        check_finite(h, "val", offset=10)
