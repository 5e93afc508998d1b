import os
import re

import numpy as np
import pytest
from PIL import Image

from edgesub.config import DataConfig
from edgesub.data import load_dataset
from edgesub.errors import DataError


def test_mnist5000_has_5000_standardised_28x28_digits():
    data = load_dataset(DataConfig(name="mnist5000"))
    assert sum(len(s) for s in data.splits().values()) == 5000
    assert data.input_shape == (1, 28, 28) and data.num_classes == 10
    assert abs(float(data.train.x.mean())) < 1e-3 and float(data.train.x.std()) == pytest.approx(
        1, abs=1e-3
    )


def test_rotten_tomatoes_has_the_12808_labelled_snippets():
    data = load_dataset(DataConfig(name="rotten_tomatoes"))
    assert sum(len(s) for s in data.splits().values()) == 12808
    assert data.labels == ["fresh", "rotten"] and data.train.x.dtype.kind == "U"
    assert np.bincount(data.train.y).tolist() == pytest.approx(
        [0.578 * len(data.train), 0.422 * len(data.train)], rel=0.01
    )
    assert data.fingerprint() == load_dataset(DataConfig(name="rotten_tomatoes")).fingerprint()


def test_csv_text_reads_text_and_label_columns(tmp_path):
    rows = [f'"good film {i}",pos' if i % 2 else f'"bad film {i}",neg' for i in range(40)]
    (tmp_path / "r.csv").write_text("text,label\n" + "\n".join(rows) + "\n")
    data = load_dataset(DataConfig(name="csv_text", path=str(tmp_path / "r.csv")))
    assert data.labels == ["neg", "pos"] and data.num_classes == 2
    assert all(("good" in t) == (c == 1) for t, c in zip(data.test.x, data.test.y, strict=True))


def test_csv_text_names_the_row_without_label(tmp_path):
    (tmp_path / "r.csv").write_text("text,label\na,x\nb,\nc,y\n")
    with pytest.raises(DataError, match="row 3 has no label"):
        load_dataset(DataConfig(name="csv_text", path=str(tmp_path / "r.csv")))


def test_image_folder_tree_becomes_a_dataset(tmp_path):
    rng = np.random.default_rng(0)
    for c, level in (("cats", 40), ("dogs", 200)):
        (tmp_path / c).mkdir()
        for i in range(20):
            px = np.clip(level + rng.normal(0, 10, (12, 10)), 0, 255).astype(np.uint8)
            Image.fromarray(px).save(tmp_path / c / f"{i}.png")
    data = load_dataset(DataConfig(name="image_folder", path=str(tmp_path)))
    assert data.labels == ["cats", "dogs"] and data.input_shape == (1, 12, 10)
    assert (data.test.x.mean(axis=(1, 2, 3)) > 0).tolist() == (data.test.y == 1).tolist()
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(tmp_path / "dogs" / "odd.png")
    data = load_dataset(DataConfig(name="image_folder", path=str(tmp_path)))
    assert data.input_shape == (1, 12, 10)  # the odd one is resized to the common size


def test_npy_arrays_features_and_bad_labels(tmp_path):
    x = np.random.default_rng(0).standard_normal((60, 7)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", np.arange(60) % 3)
    data = load_dataset(DataConfig(name="npy", path=str(tmp_path)))
    assert data.input_shape == (7,) and data.num_classes == 3
    x[41, 2] = np.nan
    np.save(tmp_path / "x.npy", x)
    with pytest.raises(DataError, match=r"x\.npy sample 41 contains NaN or inf"):
        load_dataset(DataConfig(name="npy", path=str(tmp_path)))
    x[41, 2] = 0.0
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", np.zeros(60, np.int64))
    with pytest.raises(DataError, match="single class"):
        load_dataset(DataConfig(name="npy", path=str(tmp_path)))
    with pytest.raises(DataError, match=r"set data\.path"):
        load_dataset(DataConfig(name="npy"))


def test_a_class_folder_with_a_newline_is_refused_by_name(tmp_path):
    """A newline in a class name would shift every later label in labels.txt."""
    for c in ("ants", "bees\nwasps", "cats"):
        (tmp_path / c).mkdir()
        for i in range(4):
            Image.fromarray(np.full((4, 4), i * 60, np.uint8)).save(tmp_path / c / f"{i}.png")
    with pytest.raises(DataError, match=r"label 'bees\\nwasps' contains a newline") as caught:
        load_dataset(DataConfig(name="image_folder", path=str(tmp_path)))
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("label", "kind"), [("x\ny", "a newline"), ("x\ty", "a tab")])
def test_csv_text_refuses_a_label_with_a_control_character(tmp_path, label, kind):
    rows = "".join(f'"film {i}","{label if i == 3 else "pos" if i % 2 else "neg"}"\n'
                   for i in range(20))  # fmt: skip
    (tmp_path / "r.csv").write_text("text,label\n" + rows)
    with pytest.raises(DataError, match=f"row 5: label {re.escape(repr(label))} contains {kind}"):
        load_dataset(DataConfig(name="csv_text", path=str(tmp_path / "r.csv")))


def test_image_folder_refuses_a_decompression_bomb(tmp_path, bomb_png):
    for c in ("cats", "dogs"):
        (tmp_path / c).mkdir()
        for i in range(3):
            Image.fromarray(np.zeros((5, 5), np.uint8)).save(tmp_path / c / f"{i}.png")
    bomb_png(tmp_path / "dogs" / "bomb.png", 20_000, 10_000)
    with pytest.raises(DataError, match=r"bomb\.png claims more pixels than Pillow decodes"):
        load_dataset(DataConfig(name="image_folder", path=str(tmp_path)))


def test_user_data_fifos_are_refused_not_opened(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((4, 2), np.float32))
    os.mkfifo(tmp_path / "y.npy")  # np.load would block on it forever
    with pytest.raises(DataError, match=r"y\.npy is not a regular file"):
        load_dataset(DataConfig(name="npy", path=str(tmp_path)))
    os.mkfifo(tmp_path / "texts.csv")
    with pytest.raises(DataError, match=r"texts\.csv is not a regular file"):
        load_dataset(DataConfig(name="csv_text", path=str(tmp_path / "texts.csv")))
