"""`edgesub convert` of the PyTorch and Hugging Face models users bring: their code with its
weights (file.py:factory + --weights), a torch.export program (.pt2) and a transformers image
classifier (hf:DIR); and every bad input as one line, with nothing written.

The models are real: a CNN trained on sklearn's digits (tests/user_models.py) and a tiny ViT
fine-tuned on digit pictures (tests/hf_models.py). TFLite is exported for the .pt2 source only
(each TFLite export costs seconds).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
pytest.importorskip("transformers")
Image = pytest.importorskip("PIL.Image")

from hf_models import digit_pictures, save_vit  # noqa: E402
from user_models import SavedTeacher, save_user_teacher  # noqa: E402

from edgesub.cli import cli  # noqa: E402
from edgesub.converters import load_manifest, run_artifact  # noqa: E402
from edgesub.converters.feeds import SYNTHETIC_VERIFY  # noqa: E402

ONNX_INT8 = ("--format", "onnx", "--precision", "fp32", "--precision", "int8")


def invoke(*args: str):
    return CliRunner().invoke(cli, [*args], catch_exceptions=False)


def convert(*args: str):
    return invoke("convert", *args, "--no-progress")


@pytest.fixture(scope="module")
def user(tmp_path_factory) -> SavedTeacher:
    return save_user_teacher(tmp_path_factory.mktemp("user_model"))


@pytest.fixture(scope="module")
def vit(tmp_path_factory) -> Path:
    return save_vit(tmp_path_factory.mktemp("vit"), steps=20, named=True)


def converted(out: Path, result) -> dict:
    """The manifest of a convert that must have passed."""
    assert result.exit_code == 0, result.output
    return load_manifest(out / "manifest.json")


def check_matches_torch(out: Path, manifest: dict, x: np.ndarray, logits: np.ndarray) -> None:
    """Every artifact passed verification; fp32 files give the torch module's logits."""
    for entry in manifest["artifacts"]:
        assert entry["parity"]["passed"], entry
        if entry["precision"] == "fp32":
            got = run_artifact(out / entry["file"], x)
            np.testing.assert_allclose(got, logits, atol=1e-4)


def test_a_factory_with_its_weights_converts_verified_on_a_dataset(user, tmp_path):
    out = tmp_path / "out"
    args = f"--weights {user.weights} --input-shape 1,8,8 --dataset digits --out {out}"
    manifest = converted(out, convert(f"{user.factory}:build", *args.split(), *ONNX_INT8))
    files = [e["file"] for e in manifest["artifacts"]]
    assert files == ["digits_cnn_fp32.onnx", "digits_cnn_int8.onnx"]
    model = manifest["model"]
    assert model["source"]["kind"] == "factory" and model["source"]["file"] == "digits_cnn.py:build"
    assert model["source"]["weights"] == "digits_cnn.safetensors"
    assert model["verified_on"].startswith("the test split of dataset 'digits'")
    assert model["input_shape"] == [1, 8, 8] and model["num_classes"] == 10
    assert model["labels"] == [str(i) for i in range(10)]  # the dataset's
    check_matches_torch(out, manifest, user.x, user.logits(user.x))
    int8 = manifest["artifacts"][1]["parity"]
    assert int8["criterion"] == "accuracy_drop" and int8["reference_accuracy"] > 50


def test_a_pt2_program_converts_to_onnx_and_tflite_with_its_example_shape(user, tmp_path):
    out = tmp_path / "out"
    args = "--format onnx --format tflite --precision fp32 --precision int8 --dataset digits"
    manifest = converted(out, convert(str(user.pt2), *args.split(), "--out", str(out)))
    files = [e["file"] for e in manifest["artifacts"]]
    assert files == [f"digits_cnn_{p}.{f}" for f in ("onnx", "tflite") for p in ("fp32", "int8")]
    assert manifest["model"]["source"]["kind"] == "pt2"
    assert manifest["model"]["input_shape"] == [1, 8, 8]
    check_matches_torch(out, manifest, user.x, user.logits(user.x))


def test_a_batch_1_program_without_data_verifies_on_seeded_inputs(user, tmp_path):
    program = torch.export.export(user.module.eval(), (torch.from_numpy(user.x[:1]),))
    path = tmp_path / "single.pt2"
    torch.export.save(program, str(path))
    out = tmp_path / "out"
    args = f"--format onnx --precision fp32 --precision fp16 --out {out}"
    manifest = converted(out, convert(str(path), *args.split()))
    assert manifest["model"]["verified_on"].startswith(
        f"{SYNTHETIC_VERIFY} seeded standard-normal inputs"
    )
    assert all(e["inputs"][0]["shape"] == [1, 1, 8, 8] for e in manifest["artifacts"])
    check_matches_torch(out, manifest, user.x, user.logits(user.x))


def test_a_program_of_any_image_size_converts_at_the_given_input_shape(user, tmp_path):
    head = torch.nn.Linear(16, 10)
    net = torch.nn.Sequential(
        user.module.body[0], torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), head
    )
    sizes = {
        0: torch.export.Dim("batch"),
        2: torch.export.Dim("h", min=4),
        3: torch.export.Dim("w", min=4),
    }
    program = torch.export.export(net.eval(), (torch.zeros(2, 1, 8, 8),), dynamic_shapes=(sizes,))
    path = tmp_path / "pooled.pt2"
    torch.export.save(program, str(path))
    out = tmp_path / "out"
    args = f"--format onnx --precision fp32 --out {out}".split()
    result = convert(str(path), *args)
    assert result.exit_code == 1 and "pass --input-shape" in result.output, result.output
    manifest = converted(out, convert(str(path), "--input-shape", "1,12,16", *args))
    assert manifest["model"]["input_shape"] == [1, 12, 16]
    x = np.random.default_rng(1).random((4, 1, 12, 16), dtype=np.float32)
    with torch.no_grad():
        check_matches_torch(out, manifest, x, net(torch.from_numpy(x)).numpy())


def test_an_hf_image_classifier_records_its_processor_and_class_names(vit, tmp_path):
    import transformers

    out = tmp_path / "out"
    manifest = converted(out, convert(f"hf:{vit}", "--format", "onnx", "--out", str(out)))
    # no data given: verified on seeded inputs, and the default int8 is dynamic (needs none)
    assert [e["precision"] for e in manifest["artifacts"]] == ["fp32", "int8_dynamic"]
    model = manifest["model"]
    assert model["labels"] == ["0", "1", "2"] and model["input_shape"] == [3, 32, 32]
    assert model["source"]["kind"] == "hf"
    pre = model["preprocessing"]
    assert pre["size"] == [32, 32] and pre["color"] == "rgb" and pre["layout"] == "NCHW"
    assert pre["value_range"] == [0.0, 255.0] and pre["scale"] == pytest.approx(1 / 255)
    assert pre["mean"] == [0.5] * 3 and pre["std"] == [0.5] * 3
    pixels, _ = digit_pictures(3)
    x = ((pixels[:16] / 255 - 0.5) / 0.5).astype(np.float32)
    net = transformers.ViTForImageClassification.from_pretrained(vit).eval()
    with torch.no_grad():
        logits = net(pixel_values=torch.from_numpy(x)).logits.numpy()
    check_matches_torch(out, manifest, x, logits)
    # predict applies the recorded preprocessing to a picture as the processor would
    picture = tmp_path / "digit.png"
    Image.fromarray(pixels[0].transpose(1, 2, 0).astype(np.uint8)).save(picture)
    result = invoke("predict", str(out / f"{vit.name}_fp32.onnx"), str(picture), "--json")
    assert result.exit_code == 0, result.output
    top = json.loads(result.output)["predictions"][0][0]["label"]
    assert top == str(int(logits[0].argmax()))


def hf_text_folder(folder: Path) -> Path:
    """A sequence classifier's folder: config and an empty weights file (unreadable)."""
    import transformers

    config = transformers.BertConfig(
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=1,
        intermediate_size=8,
        architectures=["BertForSequenceClassification"],
    )
    config.save_pretrained(folder)
    (folder / "model.safetensors").write_bytes(b"")
    return folder


def error_cases(user: SavedTeacher, tmp: Path) -> dict[str, tuple[list[str], str]]:
    """Arguments → the one line they must fail with."""
    factory, weights = f"{user.factory}:build", str(user.weights)
    pickle = tmp / "model.pt"
    torch.save(user.module.state_dict(), pickle)
    shape = ["--input-shape", "1,8,8"]
    return {
        "factory without --weights": (
            [factory, *shape],
            "digits_cnn.py:build builds an untrained model: pass --weights FILE.safetensors",
        ),
        "factory without --input-shape": (
            [factory, "--weights", weights],
            "pass --input-shape C,H,W",
        ),
        "pickled weights": (
            [factory, "--weights", str(pickle), *shape],
            f"model weights {pickle} are a pickle (.pt), which edgesub never loads",
        ),
        "a pickle as SOURCE": (
            [str(pickle)],
            "model.pt is a pickle (.pt), which edgesub never loads",
        ),
        "forward fails on the shape": (
            [factory, "--weights", weights, "--input-shape", "3,8,8"],
            "digits_cnn.py:build fails on a 2×3×8×8 input: RuntimeError:",
        ),
        "a bad --input-shape": (
            [factory, "--weights", weights, "--input-shape", "1,a"],
            "--input-shape takes positive integers",
        ),
        "empty weights": ([f"hf:{hf_text_folder(tmp)}"], "cannot load"),
        "--weights for a .pt2": (
            [str(user.pt2), "--weights", weights],
            "--weights applies to a file.py:factory SOURCE only",
        ),
        "static int8 with no data": (
            [str(user.pt2), "--precision", "int8"],
            "static int8 needs calibration inputs",
        ),
    }


def test_bad_inputs_are_one_line_and_write_nothing(user, tmp_path):
    for case, (args, expected) in error_cases(user, tmp_path).items():
        out = tmp_path / "out"
        result = convert(*args, "--format", "onnx", "--out", str(out))
        assert result.exit_code == 1, (case, result.output)
        (line,) = result.output.strip().splitlines()
        assert expected in line, (case, line)
        assert not out.exists(), case
