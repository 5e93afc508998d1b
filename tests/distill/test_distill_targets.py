"""Teacher signals: the same numbers from the cache and online, and clear errors when missing."""

import numpy as np
import pytest
import torch

from edgesub.distill.targets import CachedTargets, OnlineTargets, SignalMaps
from edgesub.errors import ConfigError, DataError
from edgesub.subspace.build import fit_subspace
from edgesub.subspace.head import Standardiser
from edgesub.teachers.features import Features

ALL = frozenset({"target", "head_logits", "teacher_logits", "features"})


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(0)
    y = np.arange(90) % 3
    h = (rng.standard_normal((90, 12)) + y[:, None]).astype(np.float32)
    feats = {n: Features(h, y) for n in ("train", "val", "test")}
    subspace = fit_subspace(feats, "gaussian", 4, 0, 3)
    head = torch.nn.Linear(12, 3)
    maps = SignalMaps(ALL, subspace, head, Standardiser.fit(h))
    return h, subspace, head, maps


def test_signals_are_the_subspace_coordinates_head_logits_and_standardised_features(setup):
    h, subspace, head, maps = setup
    signals = maps(torch.from_numpy(h))
    np.testing.assert_allclose(signals["target"].numpy(), subspace.coordinates(h), atol=1e-5)
    np.testing.assert_allclose(
        signals["head_logits"].numpy(), subspace.head.logits(subspace.coordinates(h)), atol=1e-4
    )
    with torch.no_grad():
        torch.testing.assert_close(signals["teacher_logits"], head(torch.from_numpy(h)))
    np.testing.assert_allclose(signals["features"].numpy(), Standardiser.fit(h)(h), atol=1e-5)


def test_online_targets_equal_cached_ones_on_the_same_inputs(setup):
    h, _, _, maps = setup
    idx = torch.tensor([3, 0, 7])
    x = torch.from_numpy(h[idx.numpy()])  # the "teacher" here is the identity on its features
    cached = CachedTargets(maps, h, len(h))(idx, x)
    online = OnlineTargets(maps, lambda inputs: inputs)(idx, x)
    for name in ALL:
        torch.testing.assert_close(cached[name], online[name])


def test_only_the_needed_signals_are_computed_and_missing_ones_are_errors(setup):
    h, subspace, _, _ = setup
    only = SignalMaps(frozenset({"target"}), subspace)
    assert set(only(torch.from_numpy(h))) == {"target"}
    with pytest.raises(ConfigError, match="teacher's own classifier head"):
        SignalMaps(frozenset({"teacher_logits"}), subspace)
    with pytest.raises(DataError, match="different data"):
        CachedTargets(only, h, len(h) + 1)
