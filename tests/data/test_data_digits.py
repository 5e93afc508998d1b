import numpy as np
import pytest

from edgesub.config import DataConfig
from edgesub.data import DATASETS, Split, check_split, load_dataset
from edgesub.errors import ConfigError, DataError, UnknownNameError


@pytest.fixture(scope="module")
def digits():
    return load_dataset(DataConfig())


def test_split_sizes_cover_the_dataset_once(digits):
    sizes = [len(digits.train), len(digits.val), len(digits.test)]
    assert sum(sizes) == 1797
    assert sizes[2] == pytest.approx(0.2 * 1797, abs=1)
    assert sizes[1] == pytest.approx(0.15 * 1797, abs=1)
    assert digits.train.x.shape[1:] == digits.input_shape == (1, 8, 8)
    assert digits.train.x.dtype == np.float32 and digits.train.y.dtype == np.int64


def test_splits_are_stratified(digits):
    whole = np.bincount(np.concatenate([s.y for s in digits.splits().values()])) / 1797
    for split in digits.splits().values():
        share = np.bincount(split.y, minlength=10) / len(split)
        assert np.abs(share - whole).max() < 0.01


def test_same_seed_same_splits_other_seed_differs(digits):
    again = load_dataset(DataConfig())
    other = load_dataset(DataConfig(seed=1))
    assert np.array_equal(again.test.x, digits.test.x)
    assert again.fingerprint() == digits.fingerprint()
    assert not np.array_equal(other.test.y, digits.test.y)
    assert other.fingerprint() != digits.fingerprint()


def test_standardised_with_train_statistics(digits):
    assert abs(float(digits.train.x.mean())) < 1e-5
    assert float(digits.train.x.std()) == pytest.approx(1.0, abs=1e-4)
    pre = digits.preprocessing
    assert pre["scale"] == 1 / 16 and pre["layout"] == "NCHW" and len(pre["mean"]) == 1


def test_bad_splits_are_rejected_with_the_sample_index():
    x = np.zeros((4, 1, 2, 2), np.float32)
    x[2, 0, 1, 1] = np.nan
    with pytest.raises(DataError, match="sample 2"):
        check_split("train", Split(x, np.array([0, 1, 0, 1])), 2)
    with pytest.raises(DataError, match="single class"):
        check_split("val", Split(np.zeros((3, 1, 2, 2), np.float32), np.zeros(3, np.int64)), 2)
    with pytest.raises(DataError, match="empty"):
        check_split("test", Split(np.zeros((0, 1, 2, 2), np.float32), np.zeros(0, np.int64)), 2)


def test_unknown_dataset_and_bad_fractions():
    assert "digits" in DATASETS
    with pytest.raises(UnknownNameError, match="digits"):
        load_dataset(DataConfig(name="nope"))
    with pytest.raises(ConfigError):
        load_dataset(DataConfig(test_fraction=0.7))
