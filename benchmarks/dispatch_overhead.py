"""Per-op dispatch cost of ONNX Runtime and TFLite (XNNPACK), measured on this machine.

    python benchmarks/dispatch_overhead.py [--runs 2000]

The tiny students edgesub makes run in tens of microseconds, most of it the runtime walking its
graph, not arithmetic; published latencies of 224-px networks cannot resolve that cost. This
times chains of N tiny element-wise ops (Sigmoid on 16 floats: no arithmetic to speak of) for
several N at one thread, fits latency = a + b·N, and reports b (per op) and a (per inference) in
µs and in µs·GHz (times this core's clock), the unit of ``RuntimeCosts.op_us_ghz`` and
``run_us_ghz`` in ``edgesub.profile.estimate``. The interpreter loop is scalar control code, so
its cost in cycles carries from this x86 core to an Arm core to first order. Writes
``benchmarks/results/dispatch_overhead.json``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgesub.atomic import atomic_write_json

OUTPUT = Path(__file__).parent / "results" / "dispatch_overhead.json"
CHAIN_LENGTHS = (1, 50, 100, 200, 400)
WIDTH = 16


def host_clock_ghz() -> float:
    """The core's nominal clock from /proc/cpuinfo (``cpu MHz``)."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.lower().startswith("cpu mhz"):
            return float(line.split(":", 1)[1]) / 1000.0
    raise RuntimeError("no 'cpu MHz' in /proc/cpuinfo")


def onnx_chain(n: int, folder: Path) -> Callable[[], object]:
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    nodes = [helper.make_node("Sigmoid", [f"t{i}"], [f"t{i + 1}"], name=f"s{i}") for i in range(n)]
    graph = helper.make_graph(
        nodes,
        "chain",
        [helper.make_tensor_value_info("t0", TensorProto.FLOAT, [1, WIDTH])],
        [helper.make_tensor_value_info(f"t{n}", TensorProto.FLOAT, [1, WIDTH])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = folder / f"chain{n}.onnx"
    onnx.save(model, str(path))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = {"t0": np.zeros((1, WIDTH), np.float32)}
    return lambda: session.run(None, feed)


def tflite_chain(n: int, folder: Path, xnnpack: bool = True) -> Callable[[], object]:
    """The chain as a .tflite, run with XNNPACK (the default) or TFLite's built-in kernels."""
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    @tf.function(input_signature=[tf.TensorSpec([1, WIDTH], tf.float32)])
    def chain(x: tf.Tensor) -> tf.Tensor:
        for _ in range(n):
            x = tf.math.sigmoid(x)
        return x

    converter = tf.lite.TFLiteConverter.from_concrete_functions([chain.get_concrete_function()])
    path = folder / f"chain{n}.tflite"
    path.write_bytes(converter.convert())
    resolver = OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interpreter = Interpreter(
        model_path=str(path), num_threads=1, experimental_op_resolver_type=resolver
    )
    interpreter.allocate_tensors()
    index = interpreter.get_input_details()[0]["index"]
    x = np.zeros((1, WIDTH), np.float32)

    def run() -> None:
        interpreter.set_tensor(index, x)
        interpreter.invoke()

    return run


def median_us(run: Callable[[], object], runs: int) -> float:
    for _ in range(runs // 10):
        run()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1e6 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args()
    ghz = host_clock_ghz()
    result: dict = {"host": platform.processor() or platform.machine(), "clock_ghz": ghz}
    with tempfile.TemporaryDirectory() as tmp:
        builders = {
            "onnxruntime": onnx_chain,
            "tflite": tflite_chain,
            "tflite-legacy": lambda n, folder: tflite_chain(n, folder, xnnpack=False),
        }
        for name, build in builders.items():
            runs = {n: build(n, Path(tmp)) for n in CHAIN_LENGTHS}
            # Interleave rounds so a burst of load on the machine hits every length alike.
            rounds = [[median_us(runs[n], args.runs // 5) for n in CHAIN_LENGTHS] for _ in range(5)]
            medians = [statistics.median(col) for col in zip(*rounds, strict=True)]
            slope, intercept = np.polyfit(CHAIN_LENGTHS, medians, 1)
            result[name] = {
                "chain_lengths": list(CHAIN_LENGTHS),
                "median_us": [round(m, 3) for m in medians],
                "per_op_us": round(float(slope), 4),
                "fixed_us": round(float(intercept), 2),
                "per_op_us_ghz": round(float(slope) * ghz, 3),
                "per_run_us_ghz": round(float(intercept) * ghz, 1),
            }
            print(
                f"{name:12s} {slope:.3f} µs/op (+{intercept:.1f} µs per run) = "
                f"{slope * ghz:.2f} µs·GHz per op"
            )
    atomic_write_json(OUTPUT, result)
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
