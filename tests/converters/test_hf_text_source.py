"""A Hugging Face sequence classifier from the CLI, as a user brings it (``hf:DIR``): converted
to ONNX and TFLite with two token inputs (input_ids, attention_mask) at fp32 and int8_dynamic,
every file verified against the torch model on real tokenized sentences with their labels, then
profiled (estimated and measured here), predicted on with a .npz of named inputs, and refused in
one line by the Pi bundle's run.py (which feeds single-input models).

The model is a real tiny BertForSequenceClassification fine-tuned on a sentiment task
(tests/hf_models.py). The TFLite export costs ~25 s, so that test is marked slow.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
transformers = pytest.importorskip("transformers")

from hf_models import save_bert, sentences  # noqa: E402

from edgesub.cli import cli  # noqa: E402
from edgesub.converters import load_manifest  # noqa: E402

LENGTH = 16
INPUTS = ("input_ids", "attention_mask")
SHAPES = ("--input-shape", f"input_ids=1,{LENGTH}", "--input-shape", f"attention_mask=1,{LENGTH}")
PRECISIONS = ("--precision", "fp32", "--precision", "int8_dynamic")


def invoke(*args: str):
    return CliRunner().invoke(cli, [*args], catch_exceptions=False)


@pytest.fixture(scope="module")
def bert(tmp_path_factory) -> Path:
    return save_bert(tmp_path_factory.mktemp("bert"))


@pytest.fixture(scope="module")
def data(bert, tmp_path_factory) -> tuple[Path, Path, dict[str, np.ndarray], np.ndarray]:
    """128 held-out sentences (another seed than training), tokenized to LENGTH as the model's
    tokenizer does: the .npz of named inputs, the .npy of labels, and the arrays."""
    folder = tmp_path_factory.mktemp("sentences")
    texts, labels = sentences(128, seed=1)
    tokenizer = transformers.AutoTokenizer.from_pretrained(bert, local_files_only=True)
    tokens = tokenizer(
        list(texts), padding="max_length", max_length=LENGTH, truncation=True, return_tensors="np"
    )
    feeds = {name: tokens[name].astype(np.int64) for name in INPUTS}
    np.savez(folder / "tokens.npz", **feeds)
    np.save(folder / "labels.npy", labels.astype(np.int64))
    return folder / "tokens.npz", folder / "labels.npy", feeds, labels


def convert(bert: Path, data, out: Path, fmt: str) -> dict:
    npz, labels = data[0], data[1]
    result = invoke(
        "convert", f"hf:{bert}", "--format", fmt, *PRECISIONS, *SHAPES,
        "--calibration", str(npz), "--labels-npy", str(labels),
        "--name", "bert", "--out", str(out), "--no-progress",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return load_manifest(out / "manifest.json")


@pytest.fixture(scope="module")
def onnx_out(bert, data, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("onnx") / "out"
    return out, convert(bert, data, out, "onnx")


def torch_logits(bert: Path, feeds: dict[str, np.ndarray]) -> np.ndarray:
    model = transformers.AutoModelForSequenceClassification.from_pretrained(bert).eval()
    with torch.no_grad():
        return model(**{k: torch.from_numpy(v) for k, v in feeds.items()}).logits.numpy()


def check_verified(manifest: dict, fmt: str, dtype: str, shape: list[int]) -> None:
    """The model section describes both inputs and the output; every file passed verification
    against the torch model with real accuracy, and takes the inputs by name."""
    model = manifest["model"]
    assert [(i["name"], i["dtype"], i["shape"]) for i in model["inputs"]] == [
        (name, "int64", [-1, LENGTH]) for name in INPUTS
    ]
    assert [(o["name"], o["dtype"], o["shape"]) for o in model["outputs"]] == [
        ("logits", "float32", [-1, 2])
    ]
    assert model["labels"] == ["neg", "pos"] and model["output_kind"] == "logits"
    assert (
        model["source"]["kind"] == "hf"
        and "held-out samples of tokens.npz" in (model["verified_on"])
    )
    entries = {entry["precision"]: entry for entry in manifest["artifacts"]}
    assert set(entries) == {"fp32", "int8_dynamic"}
    for entry in entries.values():
        assert entry["format"] == fmt and entry["parity"]["passed"], entry
        assert [(i["name"], i["dtype"], i["shape"]) for i in entry["inputs"]] == [
            (name, dtype, shape) for name in INPUTS
        ]
        assert entry["accuracy"] is not None and entry["parity"]["reference_accuracy"] >= 90
    fp32 = entries["fp32"]["parity"]
    assert fp32["criterion"] == "max_abs_diff" and fp32["max_abs_diff"] < 1e-4
    assert entries["fp32"]["accuracy"] == fp32["reference_accuracy"]


def profiled(files: list[Path], *flags: str) -> list[dict]:
    """`edgesub profile` of the files, estimated on a Pi 5 and measured here: every pair."""
    result = invoke(
        "profile", *map(str, files), "--device", "raspberry-pi-5", "--threads", "1",
        "--runs", "5", "--warmup", "1", "--json", "--no-progress", *flags,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert {(Path(r["artifact"]).name, r["device"]) for r in rows} == {
        (f.name, device) for f in files for device in ("raspberry-pi-5", "host")
    }
    for row in rows:
        assert "error" not in row, row
        assert row["costed_fraction"] == 1.0 and row["latency_ms"] > 0, row
    return rows


def test_an_hf_text_classifier_converts_to_onnx_verified_and_profiles(bert, data, onnx_out) -> None:
    out, manifest = onnx_out
    check_verified(manifest, "onnx", "int64", [-1, LENGTH])
    feeds = data[2]
    from edgesub.converters import run_artifact

    # the fp32 file gives what transformers itself computes, on all 128 sentences
    got = run_artifact(out / "bert_fp32.onnx", feeds)
    np.testing.assert_allclose(got, torch_logits(bert, feeds), atol=1e-4)
    rows = profiled([out / "bert_fp32.onnx", out / "bert_int8_dynamic.onnx"])
    kinds = {row["device"]: row["latency_kind"] for row in rows}
    assert kinds == {"raspberry-pi-5": "estimated", "host": "measured"}


def test_predict_takes_a_npz_of_named_inputs(bert, data, onnx_out, tmp_path) -> None:
    out, _ = onnx_out
    feeds = {name: array[:3] for name, array in data[2].items()}
    np.savez(tmp_path / "three.npz", **feeds)
    result = invoke("predict", str(out / "bert_fp32.onnx"), str(tmp_path / "three.npz"), "--json")
    assert result.exit_code == 0, result.output
    logits = torch_logits(bert, feeds)
    want = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    rows = json.loads(result.output)["predictions"]
    for row, probabilities in zip(rows, want, strict=True):
        best = row[0]
        assert best["label"] == ["neg", "pos"][int(probabilities.argmax())]
        assert abs(best["score"] - probabilities.max()) < 1e-5


def test_the_pi_bundles_runpy_refuses_a_two_input_model_in_one_line(onnx_out, tmp_path) -> None:
    out, _ = onnx_out
    result = invoke(
        "package", str(out), "--target", "raspberry-pi", "--artifact", "bert_fp32.onnx",
        "--out", str(tmp_path / "pi"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    bundle = tmp_path / "pi" / "bert-raspberry-pi"
    np.save(tmp_path / "ids.npy", np.ones((1, LENGTH), dtype=np.int64))
    command = [sys.executable, str(bundle / "run.py"), str(tmp_path / "ids.npy")]
    ran = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 1 and ran.stdout == "", ran.stderr
    assert ran.stderr.count("\n") == 1, ran.stderr
    assert "bert_fp32.onnx takes 2 inputs (input_ids, attention_mask)" in ran.stderr
    assert "edgesub predict bert_fp32.onnx INPUTS.npz" in ran.stderr
    # which works there, on the bundle's file and manifest
    np.savez(
        tmp_path / "inputs.npz",
        input_ids=np.ones((1, LENGTH), np.int64),
        attention_mask=np.ones((1, LENGTH), np.int64),
    )
    predicted = invoke("predict", str(bundle / "bert_fp32.onnx"), str(tmp_path / "inputs.npz"))
    assert predicted.exit_code == 0, predicted.output


@pytest.mark.parametrize(
    "flags, expected",
    [
        (
            ("--input-shape", "input_ids=1,16", "--input-shape", "attention_mask=1,8"),
            "different sequence lengths (8, 16)",
        ),
        (("--input-shape", "token_ids=1,16"), "--input-shape names token_ids, which the model"),
        (("--format", "tflite", "--precision", "int8"), "static int8 TFLite of a text classifier"),
        (("--dataset", "digits"), "--dataset does not apply to a Hugging Face text classifier"),
    ],
)
def test_bad_text_options_are_one_line_and_write_nothing(bert, tmp_path, flags, expected) -> None:
    out = tmp_path / "out"
    result = invoke("convert", f"hf:{bert}", *flags, "--out", str(out), "--no-progress")
    assert result.exit_code == 1, result.output
    (line,) = result.output.strip().splitlines()
    assert expected in line, line
    assert not out.exists()


@pytest.mark.slow
def test_an_hf_text_classifier_converts_to_tflite_verified_profiles_and_predicts(
    bert, data, tmp_path
) -> None:
    out = tmp_path / "out"
    manifest = convert(bert, data, out, "tflite")
    # litert-torch narrows 64-bit I/O: the files take int32 ids, named as the torch model does
    check_verified(manifest, "tflite", "int32", [1, LENGTH])
    files = [out / "bert_fp32.tflite", out / "bert_int8_dynamic.tflite"]
    profiled(files)
    profiled(files, *SHAPES)  # the signature's names bind the TFLite inputs
    feeds = {name: array[:3] for name, array in data[2].items()}
    np.savez(tmp_path / "three.npz", **feeds)
    result = invoke("predict", str(files[0]), str(tmp_path / "three.npz"), "--json")
    assert result.exit_code == 0, result.output
    logits = torch_logits(bert, feeds)
    want = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    for row, probabilities in zip(json.loads(result.output)["predictions"], want, strict=True):
        assert abs(row[0]["score"] - probabilities.max()) < 1e-5


@pytest.fixture(scope="module")
def encoder(bert, tmp_path_factory) -> Path:
    """The fine-tuned classifier's own BertModel, saved alone: a bare encoder folder."""
    folder = tmp_path_factory.mktemp("encoder")
    model = transformers.AutoModelForSequenceClassification.from_pretrained(bert)
    model.bert.save_pretrained(folder)
    transformers.AutoTokenizer.from_pretrained(bert).save_pretrained(folder)
    return folder


def test_a_bare_encoder_converts_to_sentence_embeddings(encoder, data, tmp_path):
    """Refused before ('neither an image nor a sequence classifier'): the encoder alone."""
    from edgesub.converters import run_artifact

    out = tmp_path / "out"
    result = invoke(
        "convert", f"hf:{encoder}", "--format", "onnx", *PRECISIONS, *SHAPES,
        "--calibration", str(data[0]), "--out", str(out), "--no-progress",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    manifest = load_manifest(out / "manifest.json")
    assert manifest["model"]["output_kind"] == "raw"
    assert manifest["artifacts"][0]["outputs"][0]["shape"] == [-1, 32]
    parity = {e["precision"]: e["parity"] for e in manifest["artifacts"]}
    assert parity["int8_dynamic"]["criterion"] == "cosine_similarity"
    assert parity["int8_dynamic"]["passed"] and parity["fp32"]["passed"]
    feeds = data[2]
    model = transformers.AutoModel.from_pretrained(encoder).eval()
    with torch.no_grad():
        hidden = model(**{k: torch.from_numpy(v) for k, v in feeds.items()}).last_hidden_state
    mask = torch.from_numpy(feeds["attention_mask"]).unsqueeze(-1).float()
    want = ((hidden * mask).sum(1) / mask.sum(1)).numpy()
    got = run_artifact(out / f"{encoder.name}_fp32.onnx", feeds)
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_a_bare_encoder_cannot_teach_and_says_how_to_convert_it(encoder, tmp_path):
    from edgesub.config import TeacherConfig
    from edgesub.errors import ModelFileError
    from edgesub.teachers.hf_teacher import load_hf_teacher

    with pytest.raises(ModelFileError, match="convert the encoder alone with: edgesub convert"):
        load_hf_teacher(f"hf:{encoder}", TeacherConfig())
