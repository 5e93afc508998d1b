"""ONNX static int8 with int8 (S8S8) or uint8 (U8S8) activations: latency, size and quality.

    python benchmarks/onnx_int8_activations.py [--quick] [--run runs/default]

ONNX Runtime's default, S8S8, is what mobile execution providers expect; on x86 its CPU kernels
are built around unsigned × signed byte products (VPMADDUBSW, VNNI), so U8S8 may be faster there.
This measures both against fp32 on this host for the default and MobileNetV2-style students (the
artifacts benchmark trains them the same way) and the random-weight MobileNetV2-224 and
ResNet-50 (``--quick`` leaves out ResNet-50). Each conversion times its fp32 and int8 files in
interleaved rounds at 1 thread, so the ratio to fp32 is the comparable figure. Writes
``benchmarks/results/onnx_int8_activations.json`` and prints a markdown table. Needs torch.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from artifacts import REFERENCE_CALIBRATION, REFERENCES, benchmark_model, reference_data
from artifacts import train_students as artifacts_students

from edgesub.atomic import atomic_write_json
from edgesub.config import ConvertConfig

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "benchmarks" / "results" / "onnx_int8_activations.json"
ACTIVATIONS = ("int8", "uint8")
QUICK_REFERENCES = ("mobilenetv2_224",)
INT8_FLAGS = {"avx2", "avx512bw", "avx512_vnni", "avx_vnni", "asimddp", "i8mm"}


def measure(name: str, kind: str, build: Any, data: Any, work: Path) -> list[dict[str, Any]]:
    """One record per activation type: the int8 row of a fp32 + int8 ONNX conversion."""
    records = []
    for activations in ACTIVATIONS:
        cfg = ConvertConfig(
            formats=("onnx",),
            precisions=("fp32", "int8"),
            onnx_int8_activations=activations,
            keep_failed=kind == "reference",
            calibration_samples=REFERENCE_CALIBRATION if kind == "reference" else 256,
        )
        torch.manual_seed(0)
        result = benchmark_model(f"{name}_{activations}", kind, build(), data, cfg, work)
        if "error" in result:
            records.append({"model": name, "activations": activations, "error": result["error"]})
            continue
        fp32, int8 = result["artifacts"]
        records.append(
            {
                "model": name,
                "kind": kind,
                "activations": activations,
                "fp32_latency_ms": fp32["latency_ms"],
                "int8_latency_ms": int8["latency_ms"],
                "latency_kind": "measured",
                "int8_latency_ratio_vs_fp32": int8["latency_ratio_vs_fp32"],
                "int8_size_bytes": int8["size_bytes"],
                "int8_size_ratio_vs_fp32": int8["size_ratio_vs_fp32"],
                "fp32_quality": fp32["accuracy"] if kind == "student" else 100.0,
                "int8_quality": int8["accuracy"] if kind == "student" else int8["top1_agreement"],
                "quality_metric": result["metric"],
            }
        )
        print(f"{name} {activations}: done", file=sys.stderr)
    return records


def markdown(records: list[dict[str, Any]]) -> str:
    lines = [
        "| model | activations | int8 latency ×fp32 | fp32 ms | int8 ms | int8 size ×fp32 "
        "| int8 accuracy / agreement % |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in records:
        if "error" in r:
            lines.append(f"| {r['model']} | {r['activations']} | failed: {r['error']} |")
            continue
        lines.append(
            f"| {r['model']} | {r['activations']} | {r['int8_latency_ratio_vs_fp32']:.2f} "
            f"| {r['fp32_latency_ms']:.3f} | {r['int8_latency_ms']:.3f} "
            f"| {r['int8_size_ratio_vs_fp32']:.2f} | {r['int8_quality']:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="leave out ResNet-50")
    parser.add_argument("--run", type=Path, help="reuse this run directory's default student")
    parser.add_argument("--out", type=Path, default=OUTPUT)
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.perf_counter()
    records = []
    with tempfile.TemporaryDirectory(prefix="edgesub-bench-") as tmp:
        work = Path(tmp)
        data, students = artifacts_students(work, args.run)
        for name, model, _ in students:
            records += measure(name, "student", lambda m=model: m, data, work)
        for name in QUICK_REFERENCES if args.quick else ("mobilenetv2_224", "resnet50"):
            build, input_shape, classes = REFERENCES[name]
            data = reference_data(input_shape, classes, REFERENCE_CALIBRATION)
            records += measure(name, "reference", build, data, work)
    report = {
        "schema_version": 1,
        "command": " ".join(["python", "benchmarks/onnx_int8_activations.py", *sys.argv[1:]]),
        "host": {"machine": platform.machine(), "cpu_flags": _int8_flags()},
        "latency": "median of >= 60 runs at batch 1, 1 thread; fp32 and int8 interleaved",
        "total_seconds": round(time.perf_counter() - started, 1),
        "records": records,
    }
    atomic_write_json(args.out, report)
    print(markdown(records))
    print(f"\nwrote {args.out} in {report['total_seconds']} s")


def _int8_flags() -> list[str]:
    """The CPU's integer dot-product extensions (they decide which int8 kernels ORT runs)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    lines = [line for line in text.splitlines() if line.startswith(("flags", "Features"))]
    flags = lines[0].split(":", 1)[1].split() if lines else []
    return sorted(f for f in flags if f in INT8_FLAGS)


if __name__ == "__main__":
    main()
