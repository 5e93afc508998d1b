import numpy as np
import pytest

from edgesub.errors import DataError
from edgesub.subspace.head import Standardiser, fit_head, fit_head_streaming
from edgesub.subspace.stream import NpyRows, column_moments, write_gaussian_mixture


@pytest.fixture(scope="module")
def mixture(tmp_path_factory):
    """A tiny float16 feature file (the real demo is 1,000,000 × 2048 in the benchmark)."""
    path = tmp_path_factory.mktemp("stream") / "train.npy"
    y = write_gaussian_mixture(path, 3000, 32, 4, seed=1, separation=2.3, chunk_rows=700)
    return path, y


def test_chunked_reads_match_the_file_and_moments_match_numpy(mixture):
    path, y = mixture
    full = np.load(path)
    assert full.dtype == np.float16 and full.shape == (3000, 32) and len(y) == 3000
    rows = NpyRows.open(path, chunk_rows=256)
    assert np.array_equal(np.vstack([c for _, c in rows.chunks()]), full.astype(np.float32))
    mean, std = column_moments(rows)
    assert np.allclose(mean, full.astype(np.float64).mean(axis=0), atol=1e-6)
    assert np.allclose(std, full.astype(np.float64).std(axis=0), atol=1e-6)


def test_streaming_fit_equals_in_memory_fit(mixture):
    """Gradient accumulation over chunks is the same objective, so the same head comes out."""
    path, y = mixture
    full = np.load(path).astype(np.float32)
    std = Standardiser.fit(full)
    z_val = std(full[:500])
    in_memory = fit_head(std(full), y, z_val, y[:500], 4)
    streamed = fit_head_streaming(
        NpyRows.open(path, chunk_rows=333), y, z_val, y[:500], 4, transform=std
    )
    assert streamed.l2 == in_memory.l2
    assert np.allclose(streamed.weight, in_memory.weight, atol=1e-4)
    assert in_memory.accuracy(z_val, y[:500]) > 60  # 4 overlapping classes: learnable, not trivial


def test_head_rejects_single_class_and_missing_labels():
    z = np.random.default_rng(0).standard_normal((50, 4)).astype(np.float32)
    with pytest.raises(DataError, match="at least two classes"):
        fit_head(z, np.zeros(50, np.int64), z, np.zeros(50, np.int64), 2)
    with pytest.raises(DataError, match="got 49 labels for 50 samples"):
        fit_head(z, np.zeros(49, np.int64), z, np.zeros(50, np.int64), 2)
    with pytest.raises(DataError, match="needs the train labels"):
        fit_head(z, None, z, np.zeros(50, np.int64), 2)


def test_non_2d_npy_is_rejected(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((2, 3, 4), np.float32))
    with pytest.raises(DataError, match="2-D"):
        NpyRows.open(tmp_path / "x.npy")
