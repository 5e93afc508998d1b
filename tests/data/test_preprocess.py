"""A teacher's image preprocessing: the same numbers in training, in ``predict`` and in the
standalone run.py, for every resize filter a teacher may have been trained with."""

import numpy as np
import pytest
from PIL import Image

from edgesub.config import PreprocessConfig
from edgesub.converters.preprocessing import image_input
from edgesub.data.preprocess import RESIZE_FILTERS, ImagePreprocess, resolve
from edgesub.errors import ConfigError
from edgesub.package import standalone_runner


@pytest.fixture
def picture(tmp_path):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (13, 9, 3), dtype=np.uint8)
    path = tmp_path / "photo.png"
    Image.fromarray(pixels).save(path)
    return path, pixels


@pytest.mark.parametrize("resize", sorted(RESIZE_FILTERS))
def test_training_predict_and_run_py_resize_a_picture_alike(picture, resize):
    path, pixels = picture
    pre = ImagePreprocess((24, 20), "RGB", mean=(0.5,), std=(0.25,), resize=resize)
    trained = pre.image(pixels)
    record = pre.record()
    assert ImagePreprocess.from_record(record) == pre
    np.testing.assert_allclose(image_input(path, record)[0], trained, atol=1e-5)
    np.testing.assert_allclose(standalone_runner.image(path, record, False)[0], trained, atol=1e-5)


def test_the_filters_differ_so_the_record_matters(picture):
    _, pixels = picture
    area, bilinear = (
        ImagePreprocess((24, 20), "RGB", resize=r).image(pixels) for r in ("area", "bilinear")
    )
    assert np.abs(area - bilinear).max() > 0.05


def test_user_keys_win_over_the_source_then_the_data_defaults():
    given = PreprocessConfig(mean=(0.1, 0.2, 0.3), resize="bicubic")
    source = {"size": [32, 32], "channels": "RGB", "mean": [0.5] * 3, "resize": "bilinear"}
    pre = resolve(given, source, (8, 8), "L")
    assert (pre.size, pre.channels, pre.mean, pre.std) == (
        (32, 32),
        "RGB",
        (0.1, 0.2, 0.3),
        (1.0,) * 3,
    )
    assert (pre.scale, pre.resize) == (pytest.approx(1 / 255), "bicubic")
    plain = resolve(PreprocessConfig(), None, (8, 8), "L")
    assert (plain.size, plain.channels, plain.mean, plain.resize) == ((8, 8), "L", (0.0,), "area")


def test_an_unknown_filter_or_channel_count_is_one_line():
    with pytest.raises(ConfigError, match="resize must be"):
        PreprocessConfig(resize="lanczos").validate()
    with pytest.raises(ConfigError, match="mean has 2 values for 3 channel"):
        ImagePreprocess((8, 8), "RGB", mean=(0.1, 0.2))
