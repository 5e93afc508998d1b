"""Image folders the way users have them, read in bounded memory: given splits, mixed sizes and
formats, undecodable files, lazy views that equal the arrays, unlabeled inputs."""

import re

import numpy as np
import pytest
from image_folders import digit_images, write_digits
from PIL import Image

from edgesub.config import DataConfig
from edgesub.data import load_dataset
from edgesub.data.dataset import UNLABELED
from edgesub.data.images import ImageFiles, ImageView, PixelArray
from edgesub.data.preprocess import ImagePreprocess
from edgesub.data.tokenizer import WordTokenizer
from edgesub.errors import DataError
from edgesub.report.lines import teacher_line
from edgesub.teachers.given import data_notes


def folder(path, **fields):
    return DataConfig(name="image_folder", path=str(path), **fields)


def test_given_split_folders_are_used_as_given(tmp_path):
    write_digits(tmp_path / "train", 300)
    write_digits(tmp_path / "val", 60, start=300)
    write_digits(tmp_path / "test", 90, start=360)
    data = load_dataset(folder(tmp_path))
    assert [len(s) for s in data.splits().values()] == [300, 60, 90]
    assert data.labels == [str(c) for c in range(10)]
    _, test_labels = digit_images(90, start=360)
    assert np.array_equal(np.sort(data.test.y), np.sort(test_labels))
    assert all("/test/" in p for p in data.test.raw.paths)


def test_a_missing_split_folder_is_split_from_train_stratified(tmp_path):
    write_digits(tmp_path / "train", 400)
    write_digits(tmp_path / "test", 100, start=400)
    data = load_dataset(folder(tmp_path, val_fraction=0.2))
    assert (len(data.train), len(data.val), len(data.test)) == (320, 80, 100)
    assert set(data.val.raw.paths) <= {str(p) for p in (tmp_path / "train").rglob("*.png")}
    counts = np.bincount(data.val.y, minlength=10)
    assert counts.min() >= 6 and counts.max() <= 10  # stratified: ~8 of each class


def test_split_folders_must_hold_the_same_classes(tmp_path):
    write_digits(tmp_path / "train", 100)
    write_digits(tmp_path / "val", 40, start=100)
    for f in (tmp_path / "val" / "7").iterdir():
        f.unlink()
    (tmp_path / "val" / "7").rmdir()
    with pytest.raises(DataError, match=r"val holds other classes than .*train: lacks 7"):
        load_dataset(folder(tmp_path))
    write_digits(tmp_path / "val" / "7", 4, start=200, classes=False)
    (tmp_path / "cats").mkdir()
    (tmp_path / "cats" / "sub").mkdir()
    with pytest.raises(DataError, match=r"mixes split folders \(train, val\) with other .*cats"):
        load_dataset(folder(tmp_path))


def test_mixed_sizes_and_formats_are_resized_to_the_most_common_size(tmp_path):
    suffixes = (".png", ".jpg", ".bmp", ".gif", ".webp")
    write_digits(tmp_path, 200, sizes=(12, 12, 8, 20), suffixes=suffixes)
    data = load_dataset(folder(tmp_path))
    assert data.input_shape == (1, 12, 12) and data.pixel_mode == "L"
    assert isinstance(data.train.x, np.ndarray) and data.train.x.shape[1:] == (1, 12, 12)
    assert abs(float(data.train.x.mean())) < 1e-3  # standardised with train statistics
    assert data.preprocessing["size"] == [12, 12] and data.preprocessing["resize"] == "area"
    assert {p.rsplit(".", 1)[1] for p in data.train.raw.paths} == {s[1:] for s in suffixes}


def test_colour_modes_are_converted_sensibly(tmp_path):
    grey = np.full((6, 6), 200, np.uint8)
    write_digits(tmp_path, 100)
    Image.fromarray(np.full((6, 6, 4), (255, 0, 0, 10), np.uint8), "RGBA").save(
        tmp_path / "1" / "rgba.png"
    )
    Image.fromarray(grey).convert("P").save(tmp_path / "2" / "palette.gif")
    Image.new("CMYK", (6, 6), (0, 255, 255, 0)).save(tmp_path / "3" / "cmyk.jpg")
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "4" / "wide.png")
    data = load_dataset(folder(tmp_path), lazy=True)
    assert data.pixel_mode == "RGB"  # one colour picture makes every picture RGB
    raw = ImageFiles(
        [str(tmp_path / n) for n in ("1/rgba.png", "2/palette.gif", "3/cmyk.jpg", "4/wide.png")],
        np.zeros((4, 32), np.uint8).view("S32").reshape(-1),
        "RGB",
        (6, 6),
    )
    rgba, palette, cmyk, wide = (raw[i] for i in range(4))
    assert rgba.shape == (6, 6, 3) and rgba[0, 0].tolist() == [255, 0, 0]  # alpha dropped
    assert palette[0, 0].tolist() == [200, 200, 200]
    assert cmyk[0, 0, 0] > 200 and cmyk[0, 0, 1:].max() < 60  # red, not inverted
    assert wide[0, 0].tolist() == [200, 200, 200]  # 16-bit scaled to 8 bits, not clipped


def test_an_undecodable_image_is_named_or_skipped_and_counted(tmp_path):
    paths = write_digits(tmp_path, 100, sizes=(20,))
    (tmp_path / "3" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a picture")
    whole = paths[50].read_bytes()
    (paths[50].parent / "cut.png").write_bytes(whole[: len(whole) // 2])  # header intact
    with pytest.raises(DataError) as caught:
        load_dataset(folder(tmp_path))
    message = str(caught.value)
    assert re.search(r"broken\.png", message) and "--skip-bad-images" in message
    assert "\n" not in message
    data = load_dataset(folder(tmp_path, skip_bad_images=True))
    assert sum(len(s) for s in data.splits().values()) == 100
    assert sorted(p.rsplit("/", 1)[1] for p in data.skipped) == ["broken.png", "cut.png"]
    notes = data_notes(data)
    assert notes == {"skipped_images": {"count": 2, "first": list(data.skipped)}}
    line = teacher_line({"arch": "wide_cnn", "test_accuracy": 90.0, **notes})
    names = ", ".join(p.rsplit("/", 1)[1] for p in data.skipped)
    assert line.endswith(f"; 2 undecodable image(s) skipped ({names})")
    (tmp_path / "3" / "broken.png").unlink()
    with pytest.raises(DataError, match=r"cannot decode image .*cut\.png: .*--skip-bad-images"):
        load_dataset(folder(tmp_path))


def test_a_lazy_view_equals_the_materialized_view(tmp_path):
    write_digits(tmp_path, 120, sizes=(8, 11))
    data = load_dataset(folder(tmp_path), lazy=True)
    assert data.lazy and isinstance(data.train.x, ImageView)
    pre = ImagePreprocess(size=(16, 16), channels="RGB", mean=(0.5,), std=(0.25,))
    lazy, eager = data.preprocessed(pre, lazy=True), data.preprocessed(pre)
    x = lazy.test.x
    assert (len(x), x.shape, x.dtype) == (len(data.test), (len(data.test), 3, 16, 16), np.float32)
    full = eager.test.x
    assert np.array_equal(np.asarray(x), full)
    assert np.array_equal(x[3:9], full[3:9]) and np.array_equal(x[-1], full[-1])
    assert np.array_equal(x[np.array([5, 0, 5])], full[[5, 0, 5]])
    assert np.array_equal(lazy.materialized().train.x, eager.train.x)
    assert lazy.fingerprint() == eager.fingerprint() == data.fingerprint()
    assert np.array_equal(load_dataset(folder(tmp_path)).val.x, np.asarray(data.val.x))


def test_in_memory_pixels_give_the_same_inputs_vectorised_or_one_by_one():
    data = load_dataset(DataConfig())
    pre = data.input_preprocess
    raw = data.test.raw
    assert isinstance(raw, PixelArray) and pre.size == (8, 8)
    one_by_one = np.stack([pre.image(p) for p in raw])
    assert np.array_equal(pre.apply(raw.array), one_by_one)
    assert np.array_equal(ImageView(raw, pre)[:], one_by_one)


def test_unlabeled_images_join_as_their_own_transfer_set(tmp_path):
    extra = tmp_path / "extra"
    write_digits(extra, 50, start=1000, sizes=(8, 16), classes=False)
    write_digits(extra / "nested", 5, start=1100, classes=False)
    plain = load_dataset(DataConfig())
    data = load_dataset(DataConfig(unlabeled=str(extra)))
    assert len(data.unlabeled) == 55 and set(data.unlabeled.y) == {UNLABELED}
    assert data.unlabeled.x.shape == (55, 1, 8, 8) and isinstance(data.unlabeled.x, np.ndarray)
    assert data.fingerprint() == plain.fingerprint() and data.unlabeled_fingerprint()
    assert data.splits().keys() == plain.splits().keys()
    view = data.preprocessed(ImagePreprocess(size=(16, 16), channels="L"))
    assert view.unlabeled.x.shape == (55, 1, 16, 16)
    texts = DataConfig(name="csv_text", path=str(_reviews(tmp_path)), unlabeled=str(extra))
    with pytest.raises(DataError, match="holds no images"):
        load_dataset(texts)


def test_unlabeled_sentences_join_text_data(tmp_path):
    more = tmp_path / "more.txt"
    more.write_text("a fine film\n\nan awful one\nthird line\n")
    data = load_dataset(
        DataConfig(name="csv_text", path=str(_reviews(tmp_path)), unlabeled=str(more))
    )
    assert data.unlabeled.x.tolist() == ["a fine film", "an awful one", "third line"]
    words = WordTokenizer.build(data.train.x.tolist(), size=64, max_length=8)
    ids = data.tokenized(words)
    assert ids.unlabeled.x.shape == (3, 8) and ids.unlabeled.x.dtype == np.int64
    assert ids.unlabeled_fingerprint() == data.unlabeled_fingerprint()  # of the texts
    with pytest.raises(DataError, match="need text data"):
        load_dataset(DataConfig(unlabeled=str(more)))


def _reviews(tmp_path):
    rows = [f'"good film {i}",pos' if i % 2 else f'"bad film {i}",neg' for i in range(40)]
    (tmp_path / "r.csv").write_text("text,label\n" + "\n".join(rows) + "\n")
    return tmp_path / "r.csv"
