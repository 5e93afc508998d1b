"""What each artifact costs and keeps: size, host latency, accuracy or agreement, conversion time.

    python benchmarks/artifacts.py [--quick] [--run runs/default]

Models: the default student (trained through the pipeline's stages in a temporary run directory
with the default configuration, or taken from ``--run``), a MobileNetV2-style student distilled
on the same teacher and subspace, the text student (2-layer encoder over word ids) trained on
Rotten Tomatoes, and reference architectures with random weights (MobileNetV2
×1.0 at 224×224, ResNet-50, a 4-layer BERT-like encoder of width 256 on 128 input embeddings),
where top-1 agreement with the fp32 model on seeded inputs is the accuracy proxy. ``--quick``
leaves out ResNet-50 and the encoder, fp16 and dynamic int8 of the students, and calibrates
the references on fewer samples. Every file is converted and verified by
``edgesub.converters.convert``; host latency is the median of >= 60 runs at 1 thread, the files
of one model timed in interleaved rounds in this process, so int8/fp32 ratios compare like with
like. Writes ``benchmarks/results/artifacts.json`` and prints a markdown table. ``--only PART``
re-measures one part and keeps the other parts' records already in the output file (each record
names the command that measured it). Needs torch.

``--only user-models`` (benchmarks/user_model_rows.py): MiniLM-L6 and EfficientNet-Lite0 with
their real weights, through ``edgesub convert file.py:factory --weights`` and through
onnxruntime.quantization / litert-torch used directly, timed and scored alike; writes its own
table to ``benchmarks/results/artifacts_user_models.md`` too.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import user_model_rows
from reference_models import mobilenet_v2
from torch import nn

from edgesub import config as config_mod
from edgesub.atomic import atomic_write_json
from edgesub.config import ConvertConfig, RunConfig
from edgesub.converters import convert
from edgesub.converters.calibration import ArrayData, ArraySplit
from edgesub.converters.recommend import TIE_FRACTION
from edgesub.errors import EdgesubError

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "benchmarks" / "results" / "artifacts.json"
STUDENT_PRECISIONS = ("fp32", "fp16", "int8", "int8_dynamic")
QUICK_PRECISIONS = ("fp32", "int8")  # --quick: each TFLite conversion costs 10-40 s
REFERENCE_PRECISIONS = ("fp32", "int8")
MOBILENET_STUDENT = {"student.arch": "mobilenetv2", "student.width": 8}
# The text student on Rotten Tomatoes; its int8 is dynamic int8 (token ids are not quantised, and
# static int8 of attention with its -1e4 padding mask gains nothing in size).
TEXT_STUDENT = {
    "arch": "text_transformer",
    "width": 64,
    "k": 32,
    "max_length": 48,
    "vocab_size": 8000,
    "epochs": 3,
}
TEXT_PRECISIONS = ("fp32", "fp16", "int8_dynamic")
QUICK_TEXT_PRECISIONS = ("fp32", "int8_dynamic")
TEXT_BATCH = 64
PARTS = ("students", "text", "references", "user-models")
# Seeded random inputs for the random-weight reference models: calibrate on some, verify on others.
REFERENCE_CALIBRATION = 32
REFERENCE_TEST = 32
QUICK_CALIBRATION = 16  # PT2E calibration of MobileNetV2 at 224×224 is the slowest step
USER = "user"  # the kind of the user-model records (benchmarks/user_model_rows.py), a table apart


# --- reference architectures (random weights) ----------------------------------------------------


class Bottleneck(nn.Module):
    def __init__(self, cin: int, mid: int, stride: int) -> None:
        super().__init__()
        cout = 4 * mid
        self.body = nn.Sequential(
            nn.Conv2d(cin, mid, 1, bias=False),
            nn.BatchNorm2d(mid),
            nn.ReLU(),
            nn.Conv2d(mid, mid, 3, stride, 1, bias=False),
            nn.BatchNorm2d(mid),
            nn.ReLU(),
            nn.Conv2d(mid, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        )
        self.shortcut = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            if stride != 1 or cin != cout
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


def resnet50() -> nn.Module:
    """ResNet-50 v1.5 (stride in the 3×3 conv), 1000 classes, 224×224×3 input."""
    layers: list[nn.Module] = [
        nn.Conv2d(3, 64, 7, 2, 3, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.MaxPool2d(3, 2, 1),
    ]
    cin = 64
    for mid, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for i in range(blocks):
            layers.append(Bottleneck(cin, mid, stride if i == 0 else 1))
            cin = 4 * mid
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 1000)]
    return nn.Sequential(*layers)


class EncoderLayer(nn.Module):
    """Post-norm BERT layer: self-attention and a GELU feed-forward, each with a residual."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm1 = nn.LayerNorm(width)
        self.ff = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))
        self.norm2 = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, seq, width = x.shape
        q, k, v = self.qkv(x).reshape(n, seq, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        attention = torch.softmax(q @ k.transpose(-1, -2) / (width // self.heads) ** 0.5, -1)
        mixed = (attention @ v).transpose(1, 2).reshape(n, seq, width)
        x = self.norm1(x + self.proj(mixed))
        return self.norm2(x + self.ff(x))


class BertLike(nn.Module):
    """4 layers, width 256, 4 heads, on 128 input embeddings (token lookup happens before)."""

    def __init__(self, layers: int = 4, width: int = 256, heads: int = 4, classes: int = 10):
        super().__init__()
        self.layers = nn.Sequential(*[EncoderLayer(width, heads) for _ in range(layers)])
        self.head = nn.Linear(width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.layers(x)[:, 0])


def _kaiming(model: nn.Module) -> nn.Module:
    """Variance-preserving weights so random-weight CNN logits are not all alike (or all zero)."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d | nn.Linear):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model


# name → (builder, input shape per sample, classes)
REFERENCES = {
    "mobilenetv2_224": (lambda: _kaiming(mobilenet_v2()), (3, 224, 224), 1000),
    "resnet50": (lambda: _kaiming(resnet50()), (3, 224, 224), 1000),
    "bert_like_4x256": (BertLike, (128, 256), 10),
}
QUICK_REFERENCES = ("mobilenetv2_224",)


def reference_data(input_shape: tuple[int, ...], classes: int, calibration: int) -> ArrayData:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((calibration + REFERENCE_TEST, *input_shape)).astype(np.float32)
    return ArrayData(
        train=ArraySplit(x[:calibration], None),
        test=ArraySplit(x[calibration:], None),
        input_shape=input_shape,
        num_classes=classes,
    )


# --- students ------------------------------------------------------------------------------------


def train_students(work: Path, run_dir: Path | None) -> tuple[Any, list[tuple[str, Any, dict]]]:
    """The default student (trained here or loaded from ``run_dir``) and the MobileNetV2-style
    one distilled on the same teacher and subspace: (dataset, [(name, model, student.json)])."""
    from edgesub.distill import load_deployable
    from edgesub.pipeline import (
        Mode,
        open_run,
        prepare_run_dir,
        stage_data,
        stage_distill,
        stage_subspace,
        stage_teacher,
    )

    if run_dir is not None:
        run, cfg = open_run(run_dir)
        data = stage_data(cfg)
    else:
        cfg = config_mod.apply_overrides(RunConfig(), {"runs_dir": str(work), "name": "default"})
        run = prepare_run_dir(cfg, Mode.NEW)
        data = stage_data(cfg)
        stage_teacher(run, data, cfg, resume=False, progress=False)
        stage_subspace(run, data, cfg, progress=False)
        stage_distill(run, data, cfg, resume=False, progress=False)
    students = [("student_" + _student_meta(run)["arch"], load_deployable(run), _student_meta(run))]

    mcfg = config_mod.apply_overrides(
        cfg, {"runs_dir": str(work), "name": "mobilenetv2", **MOBILENET_STUDENT}
    )
    mrun = prepare_run_dir(mcfg, Mode.NEW)
    for path in (run.teacher, run.teacher_json, run.subspace, run.subspace_json):
        shutil.copy2(path, mrun.root / path.name)
    shutil.copytree(run.features, mrun.features)
    stage_distill(mrun, data, mcfg, resume=False, progress=False)
    students.append(("student_mobilenetv2", load_deployable(mrun), _student_meta(mrun)))
    return data, students


def _student_meta(run: Any) -> dict[str, Any]:
    return json.loads(run.student_json.read_text(encoding="utf-8"))


def train_text_student() -> tuple[ArrayData, nn.Module, dict[str, Any]]:
    """The text student + a linear head trained with cross-entropy on Rotten Tomatoes.

    Trained on the labels directly (not distilled from MiniLM): the benchmark measures what
    conversion keeps and costs, for which a model that has learned the task suffices.
    """
    from edgesub.config import DataConfig
    from edgesub.converters.calibration import text_data
    from edgesub.data import load_dataset
    from edgesub.data.tokenizer import WordTokenizer
    from edgesub.distill.deployable import Deployable
    from edgesub.students import build_student

    meta = dict(TEXT_STUDENT)
    dataset = load_dataset(DataConfig(name="rotten_tomatoes"))
    tokenizer = WordTokenizer.build(
        dataset.train.x.tolist(), size=meta["vocab_size"], max_length=meta["max_length"]
    )
    x = torch.from_numpy(tokenizer.encode(dataset.train.x.tolist()))
    y = torch.from_numpy(dataset.train.y)
    student = build_student(
        meta["arch"],
        meta["width"],
        meta["k"],
        (meta["max_length"],),
        vocab_size=len(tokenizer.vocab),
    )
    model = Deployable(student, nn.Linear(meta["k"], dataset.num_classes))
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    model.train()
    for _ in range(meta["epochs"]):
        for batch in torch.randperm(len(x)).split(TEXT_BATCH):
            loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    train = ArraySplit(x.numpy(), dataset.train.y)
    test = ArraySplit(tokenizer.encode(dataset.test.x.tolist()), dataset.test.y)
    data = text_data(tokenizer, train, test, dataset.num_classes, list(dataset.labels))
    return data, model.eval(), meta


# --- measuring -----------------------------------------------------------------------------------


def benchmark_model(
    name: str, kind: str, model: nn.Module, data: Any, cfg: ConvertConfig, work: Path
) -> dict[str, Any]:
    """Convert, verify and time every format × precision of one model."""
    out = work / name
    start = time.perf_counter()
    try:
        entries = convert(model.eval(), data, out, cfg, name=name, progress=False)
    except EdgesubError as exc:
        return {"name": name, "kind": kind, "error": str(exc)}
    total = time.perf_counter() - start
    rows = [_row(entry, entries) for entry in entries]
    return {
        "name": name,
        "kind": kind,
        "params": sum(p.numel() for p in model.parameters()),
        "input_shape": list(data.input_shape),
        "metric": "accuracy" if kind == "student" else "top1_agreement_with_fp32_torch",
        "verified_on": f"{len(data.test.x)} {'test-split' if kind == 'student' else 'seeded'}"
        " inputs",
        "convert_total_seconds": round(total, 2),
        "artifacts": rows,
    }


def _row(entry: dict[str, Any], entries: list[dict[str, Any]]) -> dict[str, Any]:
    fp32 = next(e for e in entries if e["format"] == entry["format"] and e["precision"] == "fp32")
    return {
        "format": entry["format"],
        "runtime": "onnxruntime" if entry["format"] == "onnx" else "litert",
        "precision": entry["precision"],
        "size_bytes": entry["size_bytes"],
        "size_ratio_vs_fp32": round(entry["size_bytes"] / fp32["size_bytes"], 3),
        "latency_ms": entry["host_latency_ms"],
        "latency_p90_ms": entry["host_latency_p90_ms"],
        "latency_kind": "measured",
        "threads": entry["host_threads"],
        "latency_ratio_vs_fp32": round(entry["host_latency_ms"] / fp32["host_latency_ms"], 3),
        "accuracy": entry["accuracy"],
        "top1_agreement": entry["parity"]["top1_agreement"],
        "max_abs_diff": entry["parity"]["max_abs_diff"],
        "passed": entry["parity"]["passed"],
        "convert_seconds": entry["convert_seconds"],
        "recommended": entry["recommended"],
    }


def check_targets(models: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's targets, per model, from the measured rows (int8 = static int8)."""
    checks = {}
    for model in models:
        if "error" in model or model["kind"] == USER:
            continue
        rows = {(r["format"], r["precision"]): r for r in model["artifacts"]}
        int8 = [r for (f, p), r in rows.items() if p == model.get("int8_precision", "int8")]
        result = {
            "int8_precision": model.get("int8_precision", "int8"),
            "int8_size_ratio_max": max(r["size_ratio_vs_fp32"] for r in int8),
            "int8_size_le_0.3x": all(r["size_ratio_vs_fp32"] <= 0.3 for r in int8),
            "int8_latency_ratio": {r["runtime"]: r["latency_ratio_vs_fp32"] for r in int8},
            "int8_not_slower_on_some_runtime": any(r["latency_ratio_vs_fp32"] <= 1.0 for r in int8),
            "int8_slower_than_fp32_on": [
                r["runtime"] for r in int8 if r["latency_ratio_vs_fp32"] > 1.0
            ],
        }
        if model["kind"] == "student":
            drops = [rows[(r["format"], "fp32")]["accuracy"] - r["accuracy"] for r in int8]
            result["int8_accuracy_drop_points_max"] = round(max(drops), 2)
            result["int8_within_1_point"] = max(drops) <= 1.0
        checks[model["name"]] = result
    return checks


def markdown(models: list[dict[str, Any]]) -> str:
    head = (
        "| model | runtime | precision | size (bytes) | size ×fp32 | latency ms (1 thread) "
        "| latency ×fp32 | accuracy / agreement % | convert s | recommended |\n"
        "|---|---|---|---:|---:|---:|---:|---:|---:|:-:|"
    )
    lines = [head]
    for model in models:
        if model.get("kind") == USER:
            continue
        if "error" in model:
            lines.append(f"| {model['name']} | conversion failed: {model['error']} |")
            continue
        for r in model["artifacts"]:
            quality = r["accuracy"] if model["kind"] == "student" else r["top1_agreement"]
            slower = " (slower than fp32)" if r["latency_ratio_vs_fp32"] > 1 + TIE_FRACTION else ""
            lines.append(
                f"| {model['name']} | {r['runtime']} | {r['precision']} | {r['size_bytes']:,} "
                f"| {r['size_ratio_vs_fp32']:.2f} | {r['latency_ms']:.3f} "
                f"| {r['latency_ratio_vs_fp32']:.2f}{slower} | {quality:.1f} "
                f"| {r['convert_seconds']:.1f} | {'yes' if r['recommended'] else ''} |"
            )
    return "\n".join(lines)


def merged(path: Path, models: list[dict[str, Any]], parts: set[str]) -> list[dict[str, Any]]:
    """``models`` plus the records of the parts not re-measured now, from an earlier ``path``
    (records that do not name their part cannot be placed and are dropped)."""
    kept = []
    if path.is_file() and parts != set(PARTS):
        earlier = json.loads(path.read_text())["models"]
        kept = [m for m in earlier if m.get("part") in set(PARTS) - parts]
    order = {part: n for n, part in enumerate(PARTS)}
    return sorted([*kept, *models], key=lambda m: order.get(m.get("part"), len(PARTS)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="skip ResNet-50 and the encoder; fewer sentences and images for the user models",
    )
    parser.add_argument("--run", type=Path, help="reuse this run directory's default student")
    parser.add_argument("--out", type=Path, default=OUTPUT)
    parser.add_argument(
        "--only", choices=PARTS, action="append", help="benchmark only this part (repeatable)"
    )
    args = parser.parse_args()
    parts = set(args.only or PARTS)
    torch.set_num_threads(1)  # one core: the machine is shared, and latency is timed at 1 thread
    torch.manual_seed(0)
    started = time.perf_counter()
    models = []
    with tempfile.TemporaryDirectory(prefix="edgesub-bench-") as tmp:
        work = Path(tmp)
        precisions = QUICK_PRECISIONS if args.quick else STUDENT_PRECISIONS
        student_cfg = ConvertConfig(precisions=precisions)
        if "students" in parts:
            data, students = train_students(work, args.run)
            for name, model, meta in students:
                result = benchmark_model(name, "student", model, data, student_cfg, work)
                result["student"] = {key: meta.get(key) for key in ("arch", "width", "k")}
                result["part"] = "students"
                models.append(result)
                print(f"{name}: done after {time.perf_counter() - started:.0f} s", file=sys.stderr)
        if "text" in parts:
            text, model, meta = train_text_student()
            text_cfg = dataclasses.replace(
                student_cfg, precisions=QUICK_TEXT_PRECISIONS if args.quick else TEXT_PRECISIONS
            )
            result = benchmark_model(
                "student_text_transformer", "student", model, text, text_cfg, work
            )
            result["student"] = meta
            result["int8_precision"] = "int8_dynamic"
            result["part"] = "text"
            models.append(result)
            print(
                f"text student: done after {time.perf_counter() - started:.0f} s", file=sys.stderr
            )
        calibration = QUICK_CALIBRATION if args.quick else REFERENCE_CALIBRATION
        reference_cfg = dataclasses.replace(
            student_cfg,
            precisions=REFERENCE_PRECISIONS,
            keep_failed=True,
            calibration_samples=calibration,
        )
        names = QUICK_REFERENCES if args.quick else tuple(REFERENCES)
        names = names if "references" in parts else ()
        for name in names:
            build, input_shape, classes = REFERENCES[name]
            torch.manual_seed(0)
            data = reference_data(input_shape, classes, calibration)
            result = benchmark_model(name, "reference", build(), data, reference_cfg, work)
            result["part"] = "references"
            models.append(result)
            print(f"{name}: done after {time.perf_counter() - started:.0f} s", file=sys.stderr)
        if "user-models" in parts:
            models += user_model_rows.run_part(args.quick, work / "user-models")
    command = " ".join(["python", "benchmarks/artifacts.py", *sys.argv[1:]])
    for model in models:
        model["command"] = command
    every = merged(args.out, models, parts)
    report = {
        "schema_version": 1,
        "command": command,
        "quick": args.quick,
        "host": {
            "machine": platform.machine(),
            "cpu": platform.processor() or None,
            "python": platform.python_version(),
        },
        "latency": "median of >= 60 runs at batch 1, 1 thread, interleaved rounds per model",
        "total_seconds": round(time.perf_counter() - started, 1),
        "models": every,
        "targets": check_targets(every),
    }
    atomic_write_json(args.out, report)
    print(markdown(models))
    users = [m for m in every if m.get("kind") == USER]
    if users:
        table = user_model_rows.markdown(users)
        print(f"\n{table}")
        args.out.with_name(f"{args.out.stem}_user_models.md").write_text(
            f"<!-- {users[0]['command']} -->\n{table}\n", encoding="utf-8"
        )
    print(f"\nwrote {args.out} in {report['total_seconds']} s")


if __name__ == "__main__":
    main()
