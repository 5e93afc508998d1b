import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from edgesub.subspace.head import Standardiser, fit_head


def test_head_matches_sklearn_logistic_regression_on_digits_pixels():
    x, y = load_digits(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
    x_tr, x_va, y_tr, y_va = train_test_split(
        x_tr, y_tr, test_size=0.2, random_state=0, stratify=y_tr
    )
    std = Standardiser.fit(x_tr)
    head = fit_head(std(x_tr), y_tr, std(x_va), y_va, 10)
    ours = head.accuracy(std(x_te), y_te)
    reference = LogisticRegression(max_iter=2000).fit(std(x_tr), y_tr).score(std(x_te), y_te)
    assert ours >= 100 * reference - 1.0
    assert head.weight.shape == (10, 64) and head.params == 650


def test_head_fitting_is_deterministic_and_standardiser_handles_constant_columns():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((200, 5)).astype(np.float32)
    z[:, 4] = 3.0
    y = (z[:, 0] > 0).astype(np.int64)
    std = Standardiser.fit(z)
    assert std.std[4] == 1.0 and np.isfinite(std(z)).all()
    a = fit_head(std(z), y, std(z), y, 2)
    b = fit_head(std(z), y, std(z), y, 2)
    assert np.array_equal(a.weight, b.weight) and a.l2 == b.l2
    assert a.accuracy(std(z), y) == pytest.approx(100.0, abs=1.0)
