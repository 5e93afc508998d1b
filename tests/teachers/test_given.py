"""The user's own teacher end to end from the CLI: used as it is (never trained), measured with
its own head on edgesub's test split, its preprocessing carried into the deployed student."""

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from hf_models import save_bert, save_vit, sentences  # noqa: E402

from edgesub.cli import cli  # noqa: E402
from edgesub.config import DataConfig  # noqa: E402
from edgesub.data import load_dataset  # noqa: E402
from edgesub.rundir import RunDir  # noqa: E402

FAST = ("--fast", "--no-progress", "--device", "raspberry-pi-5", "--set", "convert.formats=onnx")
FP32 = (
    "--set",
    "convert.precisions=fp32",
)  # int8 is verified on 80 test texts: 1 text = 1.25 points


def run_cli(runs, name: str, *args: str):
    result = CliRunner().invoke(cli, ["run", *FAST, "--runs-dir", str(runs), "--name", name, *args])
    return RunDir(runs / name), result


def read(path) -> dict:
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    return save_bert(tmp_path_factory.mktemp("bert"))


@pytest.fixture(scope="module")
def vit_dir(tmp_path_factory):
    return save_vit(tmp_path_factory.mktemp("vit10"), classes=10, steps=150, named=True)


@pytest.fixture(scope="module")
def reviews_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("reviews") / "reviews.csv"
    texts, labels = sentences(400, seed=1)
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        writer.writerows((t, ("neg", "pos")[y]) for t, y in zip(texts, labels, strict=True))
    return path


def bert_accuracy(folder, texts, labels) -> float:
    """The teacher's accuracy computed here with transformers alone."""
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(folder).eval()
    with torch.no_grad():
        logits = model(**tokenizer(list(texts), padding=True, return_tensors="pt")).logits
    return 100.0 * float((logits.argmax(1).numpy() == labels).mean())


def test_a_hugging_face_text_classifier_distils_end_to_end(tmp_path, bert_dir, reviews_csv):
    run, result = run_cli(
        tmp_path, "text", "--teacher", f"hf:{bert_dir}", "--data", f"csv:{reviews_csv}"
    )
    assert result.exit_code == 0, result.output
    teacher = read(run.teacher_json)
    assert (teacher["kind"], teacher["trained_by_edgesub"]) == ("hf", False)
    assert not run.teacher.exists()  # nothing was trained
    test = load_dataset(DataConfig(name="csv_text", path=str(reviews_csv))).test
    assert teacher["test_accuracy"] == pytest.approx(
        bert_accuracy(bert_dir, test.x, test.y), abs=0.5
    )
    student = read(run.student_json)
    assert student["arch"] == "text_transformer" and student["options"]["vocab_size"] > 2
    manifest = read(run.manifest)
    assert manifest["model"]["preprocessing"]["input"] == "text"
    assert (run.artifacts / "vocab.txt").exists()
    precisions = {a["precision"] for a in manifest["artifacts"]}
    assert precisions == {"fp32", "int8_dynamic"}  # int8 of a token-id student is dynamic
    assert "used as given" in result.output


def vit_accuracy(folder, raw: np.ndarray, labels: np.ndarray) -> float:
    """The ViT's accuracy computed here with transformers alone: its own image processor on
    the 8×8 digits as RGB pictures."""
    from PIL import Image

    processor = transformers.AutoImageProcessor.from_pretrained(folder)
    model = transformers.AutoModelForImageClassification.from_pretrained(folder).eval()
    pictures = [Image.fromarray(p[0]).convert("RGB") for p in raw]
    batch = processor(images=pictures, return_tensors="pt")
    with torch.no_grad():
        logits = model(**batch).logits
    return 100.0 * float((logits.argmax(1).numpy() == labels).mean())


def test_a_hugging_face_image_classifier_keeps_its_preprocessing(tmp_path, vit_dir):
    # fp32 only: this is about preprocessing, and int8 of a 49 % toy student on 180 test images
    # moves by a point or two with the CPU's int8 kernels (3 images).
    run, result = run_cli(
        tmp_path, "vit", "--teacher", f"hf:{vit_dir}", "--set", "student.input_size=16,16", *FP32
    )
    assert result.exit_code == 0, result.output
    teacher = read(run.teacher_json)
    test = load_dataset(DataConfig()).test
    assert teacher["test_accuracy"] == pytest.approx(
        vit_accuracy(vit_dir, test.raw.array, test.y), abs=0.5
    )
    assert teacher["preprocess"]["size"] == [32, 32] and teacher["preprocess"]["mean"] == [0.5] * 3
    assert teacher["preprocess"]["resize"] == "bilinear"  # the processor's resample
    pre = read(run.manifest)["model"]["preprocessing"]
    assert (pre["size"], pre["color"], pre["mean"], pre["std"]) == (
        [16, 16],
        "rgb",
        [0.5] * 3,
        [0.5] * 3,
    )
    assert read(run.student_json)["input_shape"] == [3, 16, 16]


def test_a_teacher_fed_the_wrong_input_is_refused_with_what_to_check(tmp_path, vit_dir):
    _, result = run_cli(
        tmp_path, "wrong", "--teacher", f"hf:{vit_dir}", "--set", "teacher.preprocess.scale=1e-6"
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "no better than chance" in result.output and "[teacher.preprocess]" in result.output


def test_class_names_that_do_not_match_the_data_are_refused(tmp_path):
    folder = save_vit(tmp_path / "vit3", classes=3, steps=1, named=True)
    _, result = run_cli(tmp_path, "names", "--teacher", f"hf:{folder}")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "class names do not match" in result.output and "'0', '1', '2'" in result.output


def digits_accuracy(saved) -> float:
    """The user's CNN on edgesub's digits test split, computed here with torch alone: it was
    trained on pixel / 16, which is edgesub's raw 0..255 pixels × 1/255 (the default scale)."""
    test = load_dataset(DataConfig()).test
    logits = saved.logits(test.raw.array.astype(np.float32) / 255.0)
    return 100.0 * float((logits.argmax(1) == test.y).mean())


@pytest.mark.parametrize("kind", ["factory", "onnx", "pt2"])
def test_a_pytorch_teacher_distils_from_each_file_kind(tmp_path, saved_teacher, kind):
    spec = {"factory": f"{saved_teacher.factory}:build"}.get(
        kind, str(getattr(saved_teacher, kind))
    )
    weights = ("--teacher-weights", str(saved_teacher.weights)) if kind == "factory" else ()
    run, result = run_cli(tmp_path, kind, "--teacher", spec, *weights, *FP32)
    assert result.exit_code == 0, result.output
    teacher = read(run.teacher_json)
    assert (teacher["kind"], teacher["feature_dim"]) == (kind, 32)
    assert teacher["test_accuracy"] == pytest.approx(digits_accuracy(saved_teacher), abs=0.5)
    assert teacher["preprocess"]["scale"] == pytest.approx(1 / 255)
    assert (teacher["preprocess"]["mean"], teacher["preprocess"]["std"]) == ([0.0], [1.0])
    assert read(run.subspace_json)["d"] == 32
    assert read(run.student_json)["test_accuracy"] > 50


def test_the_bundled_sentence_encoder_distils_text_without_a_head(tmp_path, reviews_csv):
    run, result = run_cli(tmp_path, "minilm", "--teacher", "minilm", "--data", f"csv:{reviews_csv}")
    assert result.exit_code == 0, result.output
    teacher = read(run.teacher_json)
    assert (teacher["kind"], teacher["feature_dim"], teacher["test_accuracy"]) == (
        "minilm",
        384,
        None,
    )
    assert "feature extractor" in result.output
    assert read(run.subspace_json)["full_head_accuracy"] > 80  # a head fitted on its features
    assert read(run.student_json)["arch"] == "text_transformer"
