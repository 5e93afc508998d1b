import numpy as np
import pytest
from sklearn.datasets import load_digits

from edgesub.errors import ConfigError, DataError
from edgesub.subspace import PROJECTIONS
from edgesub.subspace.head import Standardiser, fit_head
from edgesub.subspace.projections import project_matrix


@pytest.fixture(scope="module")
def generic_features():
    """Digits pixels buried in a 256-d space of large task-irrelevant variance: the situation
    of frozen generic features, where random projections keep mostly noise."""
    x, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(0)
    signal = x @ rng.standard_normal((64, 256))
    noise = rng.standard_normal((len(x), 8)) @ rng.standard_normal((8, 256)) * 400
    h = (signal + noise + 5 * rng.standard_normal((len(x), 256))).astype(np.float32)
    idx = rng.permutation(len(x))
    return {
        name: (h[i], y[i])
        for name, i in zip(("train", "val", "test"), np.split(idx, [1000, 1300]), strict=True)
    }


def _accuracy(feats, method, k, seed=0):
    (h, y), (hv, yv), (ht, yt) = feats["train"], feats["val"], feats["test"]
    p = project_matrix(method, h, k, seed, labels=y, val=(hv, yv))
    std = Standardiser.fit(h @ p.T)
    head = fit_head(std(h @ p.T), y, std(hv @ p.T), yv, 10)
    return head.accuracy(std(ht @ p.T), yt)


@pytest.mark.parametrize("method", ["lda", "learned"])
def test_class_aware_projections_are_seeded_float32_and_need_labels(generic_features, method):
    h, y = generic_features["train"]
    a = project_matrix(method, h, 12, 3, labels=y, val=generic_features["val"])
    b = project_matrix(method, h, 12, 3, labels=y, val=generic_features["val"])
    assert a.shape == (12, 256) and a.dtype == np.float32 and np.array_equal(a, b)
    with pytest.raises(DataError, match="needs the train labels"):
        project_matrix(method, h, 12, 0)
    with pytest.raises(DataError, match="at least two classes"):
        project_matrix(method, h, 12, 0, labels=np.zeros(len(h), np.int64))


def test_lda_directions_are_unit_norm_and_span_more_than_c_minus_1(generic_features):
    h, y = generic_features["train"]
    p = PROJECTIONS.get("lda")(h, 20, 0, labels=y).astype(np.float64)
    assert np.allclose(np.linalg.norm(p, axis=1), 1.0, atol=1e-5)
    assert np.linalg.matrix_rank(p) == 20  # 9 discriminants + 11 PCA top-up directions


def test_class_aware_methods_beat_random_projection_on_generic_features(generic_features):
    gaussian = _accuracy(generic_features, "gaussian", 16)
    assert _accuracy(generic_features, "lda", 16) > gaussian + 10
    assert _accuracy(generic_features, "learned", 16) > gaussian + 10


@pytest.mark.parametrize("k", [0, -1, 256, 300])
def test_k_outside_one_to_d_is_a_config_error(generic_features, k):
    with pytest.raises(ConfigError, match="1 <= k < d=256"):
        project_matrix("gaussian", generic_features["train"][0], k, 0)


@pytest.mark.parametrize("method", ["pca", "lda", "learned"])
def test_data_aware_methods_need_more_samples_than_k(method):
    h = np.random.default_rng(0).standard_normal((20, 64)).astype(np.float32)
    y = np.arange(20) % 2
    with pytest.raises(DataError, match="n=20 samples for k=32"):
        project_matrix(method, h, 32, 0, labels=y)
    assert project_matrix("gaussian", h, 32, 0).shape == (32, 64)  # random maps need no data
