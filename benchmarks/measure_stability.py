"""Run-to-run stability of on-host latency measurement.

Measures one small ONNX model (an MLP for 8×8 digits, 64→256→256→10, built with onnx.helper)
five times at 1 thread with the default warm-up/runs, each in its own child process as
``edgesub profile`` does, and reports how far each p50 lies from the median p50. The target is
±10 %. Writes benchmarks/results/measure_stability.json.

    python benchmarks/measure_stability.py [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import statistics
import tempfile
from pathlib import Path

import numpy as np

from edgesub.atomic import atomic_write_json
from edgesub.profile.measure import measure_artifact

RESULTS = Path(__file__).parent / "results" / "measure_stability.json"
TARGET_PCT = 10.0


def build_mlp(path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    sizes = [64, 256, 256, 10]
    nodes, weights, current = [], [], "x"
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        w = (rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in)).astype(np.float32)
        weights += [
            numpy_helper.from_array(w, f"w{i}"),
            numpy_helper.from_array(np.zeros(fan_out, np.float32), f"b{i}"),
        ]
        nodes += [
            helper.make_node("MatMul", [current, f"w{i}"], [f"m{i}"]),
            helper.make_node("Add", [f"m{i}", f"b{i}"], [f"a{i}"]),
        ]
        current = f"a{i}"
        if i < len(sizes) - 2:
            nodes.append(helper.make_node("Relu", [current], [f"r{i}"]))
            current = f"r{i}"
    nodes[-1].output[0] = "logits"
    graph = helper.make_graph(
        nodes,
        "digits_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        model = build_mlp(Path(tmp) / "digits_mlp.onnx")
        results = [measure_artifact(model, threads=args.threads) for _ in range(args.repeats)]
    load_after = os.getloadavg()[0]
    p50 = [r["latency_ms"] for r in results]
    median = statistics.median(p50)
    deviation = [100.0 * (v - median) / median for v in p50]
    summary = {
        "model": "digits_mlp 64-256-256-10 (onnx.helper), fp32",
        "runtime": f"{results[0]['runtime']} {results[0]['runtime_version']}",
        "host": {"machine": platform.machine(), "cores": os.cpu_count()},
        # Other work on the machine moves the p50 more than anything in the measurement does.
        "load_average_1min": [round(load_before, 2), round(load_after, 2)],
        "threads": args.threads,
        "warmup": 10,
        "runs_per_measurement": results[0]["runs"],
        "latency_p50_ms": p50,
        "latency_p90_ms": [r["latency_p90_ms"] for r in results],
        "median_p50_ms": median,
        "deviation_from_median_pct": [round(d, 2) for d in deviation],
        "max_abs_deviation_pct": round(max(abs(d) for d in deviation), 2),
        "spread_pct": round(100.0 * (max(p50) - min(p50)) / median, 2),
        "target_pct": TARGET_PCT,
        "within_target": max(abs(d) for d in deviation) <= TARGET_PCT,
        "peak_memory_mb": [r["peak_memory_mb"] for r in results],
    }
    atomic_write_json(RESULTS, summary)
    for i, (v, d) in enumerate(zip(p50, deviation, strict=True)):
        print(f"run {i + 1}: p50 {v * 1000:8.2f} µs  ({d:+.1f} % from median)")
    print(
        f"median {median * 1000:.2f} µs, max deviation {summary['max_abs_deviation_pct']} %, "
        f"spread {summary['spread_pct']} % (target ±{TARGET_PCT:g} %), "
        f"load {load_before:.1f}->{load_after:.1f} on {os.cpu_count()} cores -> {RESULTS}"
    )


if __name__ == "__main__":
    main()
