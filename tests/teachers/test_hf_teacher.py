"""Hugging Face folders as teachers: real tiny BERT and ViT classifiers, trained here on small
real tasks and saved with save_pretrained, then read back through ``hf:DIR``."""

import json
import os

import numpy as np
import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from hf_models import (  # noqa: E402
    FILLER,
    NEGATIVE,
    POSITIVE,
    SPECIALS,
    digit_pictures,
    save_bert,
    save_vit,
    sentences,
)

from edgesub.config import PreprocessConfig, TeacherConfig  # noqa: E402
from edgesub.data.preprocess import resolve  # noqa: E402
from edgesub.digest import folder_sha256  # noqa: E402
from edgesub.errors import ConfigError, ModelFileError  # noqa: E402
from edgesub.teachers import load_source  # noqa: E402


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    return save_bert(tmp_path_factory.mktemp("bert"))


@pytest.fixture(scope="module")
def vit_dir(tmp_path_factory):
    return save_vit(tmp_path_factory.mktemp("vit"))


def test_bert_teacher_features_head_logits_and_classes(bert_dir):
    teacher = load_source(TeacherConfig(source=f"hf:{bert_dir}"))
    texts, labels = sentences(200, seed=1)  # held out: another draw
    model = transformers.BertForSequenceClassification.from_pretrained(bert_dir).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(bert_dir)
    with torch.no_grad():
        tokens = tokenizer(list(texts), padding=True, return_tensors="pt")
        expected = model(**tokens).logits.numpy()
    features, logits = teacher.features(texts), teacher.logits(texts)
    weight, bias = teacher.head
    assert teacher.input_kind == "text" and teacher.kind == "hf"
    assert features.shape == (200, 32) and features.dtype == np.float32
    np.testing.assert_allclose(features @ weight.T + bias, logits, atol=1e-5)
    np.testing.assert_allclose(logits, expected, atol=1e-5)
    assert teacher.classes == ["neg", "pos"]
    assert teacher.preprocess == {"input": "text", "tokenizer": str(bert_dir), "max_length": 64}
    assert teacher.params == sum(p.numel() for p in model.parameters())
    accuracy = float((expected.argmax(1) == labels).mean())
    assert accuracy > 0.8  # the fine-tuning learnt the task
    assert float((logits.argmax(1) == labels).mean()) == accuracy


def test_vit_teacher_reads_its_processor_and_the_classifiers_input(vit_dir):
    teacher = load_source(TeacherConfig(source=str(vit_dir)))  # a bare folder routes to hf
    assert teacher.preprocess == {
        "layout": "NCHW",
        "channels": "RGB",
        "size": [32, 32],
        "scale": pytest.approx(1 / 255),
        "mean": [0.5] * 3,
        "std": [0.5] * 3,
        "resize": "bilinear",  # ViTImageProcessor's resample
    }
    assert teacher.input_kind == "image" and teacher.classes is None  # generic LABEL_i
    pixels, labels = digit_pictures(3)
    x = resolve(PreprocessConfig(), teacher.preprocess, (32, 32), "RGB").apply(pixels[400:])
    np.testing.assert_allclose(x, (pixels[400:] / 255 - 0.5) / 0.5, atol=1e-5)
    model = teacher.module
    with torch.no_grad():
        out = model(pixel_values=torch.from_numpy(x), output_hidden_states=True)
        cls = model.vit.layernorm(out.hidden_states[-1])[:, 0].numpy()
    features, logits = teacher.features(x), teacher.logits(x)
    weight, bias = teacher.head
    np.testing.assert_allclose(features, cls, atol=1e-5)
    np.testing.assert_allclose(features @ weight.T + bias, logits, atol=1e-5)
    np.testing.assert_allclose(logits, out.logits.numpy(), atol=1e-5)
    assert float((logits.argmax(1) == labels[400:]).mean()) > 0.6  # chance is 1/3


def test_named_feature_layer_is_pooled_over_real_tokens_only(bert_dir):
    teacher = load_source(
        TeacherConfig(source=f"hf:{bert_dir}", feature_layer="bert.encoder.layer.0")
    )
    texts = np.array(["good", "the movie was really quite dull and the plot awful"])
    together = teacher.features(texts)
    alone = teacher.features(texts[:1])  # no padding at all
    assert together.shape == (2, 32) and teacher.head is None
    np.testing.assert_allclose(together[:1], alone, atol=1e-5)


def test_a_per_token_score_layer_gives_features_but_no_head(tmp_path, bert_dir):
    """GPT-2 scores every token and keeps the last real one's: the score layer's input pooled
    over tokens is not what the logits are a linear map of, so no head is claimed."""
    copy_files(bert_dir, tmp_path, "tokenizer.json", "tokenizer_config.json")
    config = transformers.GPT2Config(
        vocab_size=len(POSITIVE + NEGATIVE + FILLER + SPECIALS),
        n_embd=32,
        n_layer=1,
        n_head=2,
        n_positions=64,
        num_labels=2,
        pad_token_id=0,
    )
    torch.manual_seed(0)
    transformers.GPT2ForSequenceClassification(config).save_pretrained(tmp_path)
    teacher = load_source(TeacherConfig(source=f"hf:{tmp_path}"))
    texts = np.array(["good film", "the plot was awful and dull"])
    assert teacher.features(texts).shape == (2, 32) and teacher.logits(texts).shape == (2, 2)
    assert teacher.head is None
    assert teacher.features(texts[:0]).shape == (0, 32)  # an empty batch needs no tokenizer


def test_missing_feature_layer_lists_candidates(vit_dir):
    with pytest.raises(ConfigError, match=r"feature layer 'vit\.encoder\.layer\.7'.*candidates"):
        load_source(TeacherConfig(source=f"hf:{vit_dir}", feature_layer="vit.encoder.layer.7"))


def test_folder_hash_covers_every_file(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    before = folder_sha256(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "extra.txt").write_text("")
    assert folder_sha256(tmp_path) != before


def copy_files(source, target, *names: str) -> None:
    for name in names:
        (target / name).write_bytes((source / name).read_bytes())


def one_line_error(spec: str, error=ModelFileError) -> str:
    with pytest.raises(error) as caught:
        load_source(TeacherConfig(source=spec))
    assert "\n" not in str(caught.value)
    return str(caught.value)


def test_folder_without_weights_is_refused(tmp_path):
    transformers.BertConfig(hidden_size=32).save_pretrained(tmp_path)
    assert "has no weights (model.safetensors)" in one_line_error(f"hf:{tmp_path}")


def test_pickled_weights_are_refused_before_any_read(tmp_path, monkeypatch):
    transformers.BertConfig(hidden_size=32).save_pretrained(tmp_path)
    (tmp_path / "pytorch_model.bin").write_bytes(b"\x80\x04 not even a real pickle")

    def no_unpickling(*args, **kwargs):
        raise AssertionError("torch.load was called")

    monkeypatch.setattr(torch, "load", no_unpickling)
    message = one_line_error(f"hf:{tmp_path}")
    assert "only pickled weights (pytorch_model.bin)" in message
    assert "model.save_pretrained(dir)" in message


def test_config_that_is_not_json_is_refused(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    assert "config.json is not valid JSON" in one_line_error(f"hf:{tmp_path}")


def test_missing_folder_is_refused(tmp_path):
    assert "does not exist" in one_line_error(f"hf:{tmp_path / 'nope'}")


def test_weights_of_another_shape_are_refused(tmp_path, vit_dir):
    """A config the weights do not fit would leave parameters at random values."""
    copy_files(vit_dir, tmp_path, "model.safetensors", "preprocessor_config.json")
    config = json.loads((vit_dir / "config.json").read_text())
    config["hidden_size"] = 48
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert "weights' shapes do not match" in one_line_error(f"hf:{tmp_path}")


def test_weights_without_the_classifier_are_refused(tmp_path):
    """A bare encoder's weights under a classifier's config: the head would be random."""
    config = transformers.BertConfig(
        vocab_size=30,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
    )
    transformers.BertModel(config).save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    saved["architectures"] = ["BertForSequenceClassification"]
    (tmp_path / "config.json").write_text(json.dumps(saved))
    assert "weights lack" in one_line_error(f"hf:{tmp_path}")


@pytest.mark.parametrize(
    ("saved", "channels", "expected"),
    [
        (  # raw 0..255 values into the model: scale 1, no normalisation
            {
                "size": {"shortest_edge": 64},
                "do_rescale": False,
                "do_normalize": False,
                "resample": 3,
            },
            3,
            {
                "size": [64, 64],
                "scale": 1.0,
                "mean": [0.0] * 3,
                "std": [1.0] * 3,
                "resize": "bicubic",
            },
        ),
        (  # a centre crop fixes the input size
            {
                "size": {"shortest_edge": 224},
                "do_center_crop": True,
                "crop_size": {"height": 200, "width": 200},
                "rescale_factor": 0.5,
                "image_mean": 0.25,
                "image_std": 2,
            },
            1,
            {"size": [200, 200], "scale": 0.5, "mean": [0.25], "std": [2.0]},
        ),
        (  # what the JSON leaves out comes from the processor class
            {"image_processor_type": "ViTImageProcessor", "do_resize": False},
            3,
            {
                "scale": pytest.approx(1 / 255),
                "mean": [0.5] * 3,
                "std": [0.5] * 3,
                "resize": "bilinear",
            },
        ),
    ],
)
def test_image_processor_settings_become_edgesub_preprocessing(tmp_path, saved, channels, expected):
    from types import SimpleNamespace

    from edgesub.teachers.hf_teacher import image_preprocess

    (tmp_path / "preprocessor_config.json").write_text(json.dumps(saved))
    layout = {"layout": "NCHW", "channels": "L" if channels == 1 else "RGB"}
    got = image_preprocess(tmp_path, SimpleNamespace(num_channels=channels))
    assert got == {**layout, **expected}
    (tmp_path / "preprocessor_config.json").unlink()
    assert image_preprocess(tmp_path, SimpleNamespace(num_channels=channels)) == layout
