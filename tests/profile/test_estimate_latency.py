"""Estimator behaviour: monotone in work and device speed, sublinear in threads, int8 faster."""

import json
from dataclasses import replace
from pathlib import Path

import pytest
from test_graph_onnx import tiny_cnn

from edgesub.profile.devices import get_device
from edgesub.profile.estimate import (
    RUNTIME_COSTS,
    estimate,
    estimate_memory_mb,
    fp16_storage,
    latency_parts,
    load_params,
    storage_bytes,
    usable_ram_mb,
)
from edgesub.profile.formats import load_graph
from edgesub.profile.graph import Graph, OpCost


def _conv_graph(macs: int, precision: str = "fp32", bytes_each: int = 1000) -> Graph:
    op = OpCost("c", "Conv", "conv", macs, bytes_each, bytes_each, bytes_each, precision)
    return Graph(Path("g.onnx"), "onnx", [op], [], [], bytes_each, 2 * bytes_each)


def test_shipped_calibration_has_an_error_band():
    params = load_params()
    assert 0 < params.latency_error_pct < 100
    assert all(0 < e <= 1 for e in params.efficiency.values())
    assert 0 < params.fork_join_us_ghz < 300  # µs at 1 GHz per multi-threaded kernel


def test_more_macs_take_longer(tmp_path):
    device = get_device("raspberry-pi-4b")
    small = load_graph(tiny_cnn(tmp_path / "s.onnx", width=4))
    big = load_graph(tiny_cnn(tmp_path / "b.onnx", width=32))
    assert big.macs > small.macs
    assert latency_parts(big, device).total_ms > latency_parts(small, device).total_ms
    t1, t2 = (latency_parts(_conv_graph(m), device).total_ms for m in (10**8, 2 * 10**8))
    assert 1.9 < t2 / t1 < 2.01  # compute-bound: time follows MACs


@pytest.mark.parametrize("threads", [1, 4])
def test_faster_device_is_faster(tmp_path, threads):
    # a small CNN (MACs, traffic and dispatch, as the students have), not MACs alone: in the
    # published ncnn rows an A53 reaches about the share of its 8 FLOP/cycle that an A72 does,
    # so on pure MACs a 1.4 GHz Pi 3B+ and a 1.5 GHz Pi 4 are within each other's band
    graph = load_graph(tiny_cnn(tmp_path / "m.onnx", width=32))
    slow_to_fast = (
        "raspberry-pi-zero-2w",
        "raspberry-pi-3b-plus",
        "raspberry-pi-4b",
        "raspberry-pi-5",
    )
    times = [latency_parts(graph, get_device(d), threads).total_ms for d in slow_to_fast]
    assert times == sorted(times, reverse=True)


def test_threads_help_sublinearly():
    device = get_device("raspberry-pi-4b")
    graph = _conv_graph(10**9)
    one, four = (latency_parts(graph, device, threads=t).total_ms for t in (1, 4))
    assert one / 4 < four < one
    assert latency_parts(graph, device, threads=64).total_ms == pytest.approx(four)


def test_threads_cost_per_kernel_not_a_share_of_the_work():
    # a fork-join price per multi-threaded kernel: one large convolution scales with the cores,
    # the same MACs split into a thousand small kernels barely do (a share-of-work model scaled
    # both alike and under-estimated ResNet-18 on a six-core Orin by 2x)
    device = get_device("jetson-orin-nano")
    big = _conv_graph(10**9)
    ops = [OpCost(f"c{i}", "Conv", "conv", 10**6, 100, 100, 100, "fp32") for i in range(1000)]
    small = Graph(Path("g.onnx"), "onnx", ops, [], [], 10**5, 200)

    def speedup(graph: Graph) -> float:
        one, six = (latency_parts(graph, device, threads=t).total_ms for t in (1, 6))
        return one / six

    assert 5.0 < speedup(big) <= 6.0
    assert speedup(small) < 0.8 * speedup(big)


def test_runtime_storage_sets_the_bytes_moved():
    # ncnn keeps fp32 models in fp16 on cores with FP16 arithmetic (half the traffic) and the
    # tensors between its int8 layers in float; ONNX Runtime moves what the file stores
    op = OpCost("c", "Conv", "conv", 0, 100, 1000, 1000, "fp32")
    int8 = replace(op, weight_bytes=25, input_bytes=250, output_bytes=250, precision="int8")
    ncnn, ort = RUNTIME_COSTS.get("ncnn"), RUNTIME_COSTS.get("onnxruntime")
    a76, a53 = get_device("raspberry-pi-5"), get_device("raspberry-pi-zero-2w")
    assert fp16_storage(a76, 4, ncnn) and not fp16_storage(a53, 4, ncnn)
    assert not fp16_storage(a76, 4, ort)
    assert storage_bytes(op, ncnn, fp16=True) == 1050
    assert storage_bytes(op, ort, fp16=False) == op.bytes_moved
    assert storage_bytes(int8, ncnn, fp16=False) == 25 + 4 * 500  # fp32 tensors on an A53
    assert storage_bytes(int8, ncnn, fp16=True) == 25 + 2 * 500
    assert storage_bytes(int8, ort, fp16=False) == int8.bytes_moved


def test_int8_is_faster_than_fp32():
    device = get_device("pixel-4")
    fp32 = latency_parts(_conv_graph(10**9, "fp32"), device, threads=4).total_ms
    int8 = latency_parts(_conv_graph(10**9, "int8"), device, threads=4).total_ms
    assert int8 < fp32


def test_memory_bound_op_follows_bandwidth():
    params = load_params()
    device = get_device("raspberry-pi-4b")
    graph = Graph(Path("g.onnx"), "onnx", [OpCost("a", "Add", "other", 0, 0, 10**8, 10**8, "fp32")],
                  [], [], 0, 2 * 10**8)  # fmt: skip
    expected = 2e8 / (device.bandwidth_gbps * 1e9 * params.memory_efficiency) * 1e3
    assert latency_parts(graph, device).total_ms == pytest.approx(expected, rel=0.01)


def test_memory_estimate_and_fit():
    graph = _conv_graph(10**6, bytes_each=8 * 2**20)
    assert estimate_memory_mb(graph) == pytest.approx(
        8 + 16 + RUNTIME_COSTS.get("onnxruntime").overhead_mb
    )
    tflite = replace(graph, format="tflite")
    assert estimate_memory_mb(tflite) == pytest.approx(24 + RUNTIME_COSTS.get("tflite").overhead_mb)
    zero = get_device("raspberry-pi-zero-2w")
    assert estimate(graph, zero).fits_in_memory
    huge = _conv_graph(10**6, bytes_each=400 * 2**20)
    result = estimate(huge, zero)
    assert result.peak_memory_mb > usable_ram_mb(zero) and not result.fits_in_memory
    assert estimate(huge, get_device("raspberry-pi-5")).fits_in_memory


def test_dispatch_costs_are_the_measured_ones():
    """The runtimes' per-op and per-inference costs are measured, not fitted: the constants must
    be the ones benchmarks/dispatch_overhead.py last wrote."""
    results = Path(__file__).parents[2] / "benchmarks" / "results" / "dispatch_overhead.json"
    measured = json.loads(results.read_text(encoding="utf-8"))
    for name in ("onnxruntime", "tflite", "tflite-legacy"):
        costs = RUNTIME_COSTS.get(name)
        assert costs.op_us_ghz == pytest.approx(measured[name]["per_op_us_ghz"], abs=0.01)
        assert costs.run_us_ghz == pytest.approx(measured[name]["per_run_us_ghz"], abs=0.1)


def test_core_classes_follow_the_profiles_microarchitectures():
    """Every built-in profile's cores belong to a known class: an unknown one would silently
    take the prior instead of its class's calibrated efficiency."""
    from edgesub.profile.cores import UNKNOWN_CLASS, core_class
    from edgesub.profile.devices import load_devices

    registry = load_devices()
    for device_id in registry.names():
        for cluster in registry.get(device_id).clusters:
            assert core_class(cluster.microarchitecture) != UNKNOWN_CLASS, (device_id, cluster)
    assert core_class(" cortex-a76 ") == "a75-x1"
    assert core_class("Kryo 280") == UNKNOWN_CLASS


def test_int8_without_dot_product_runs_at_the_widening_rate():
    """TFLite's legacy kernels had no SDOT path: on an A76 their int8 peak is twice fp32 (the
    16-bit widening rate), not four times; an A53, which has no SDOT, is the same either way."""
    a76 = get_device("pixel-4")
    assert a76.peak_gops("int8-nodot", 1) == [2 * a76.peak_gops("fp32", 1)[0]]
    assert a76.peak_gops("int8", 1) == [4 * a76.peak_gops("fp32", 1)[0]]
    a53 = get_device("raspberry-pi-3b-plus")
    assert a53.peak_gops("int8-nodot", 4) == a53.peak_gops("int8", 4)
    graph = _conv_graph(10**9, "int8", bytes_each=10)
    params = replace(load_params(), runtime_efficiency={})  # same kernels but for the dot path
    legacy = latency_parts(graph, a76, 1, params, runtime="tflite-legacy").total_ms
    xnnpack = latency_parts(graph, a76, 1, params, runtime="tflite").total_ms
    assert legacy == pytest.approx(2 * xnnpack, rel=0.01)


def test_error_band_is_the_device_classes():
    """Estimates carry the leave-one-device-out band of their device's core class, and a class
    the calibration had no rows for carries the overall band."""
    params = load_params()
    graph = _conv_graph(10**8)
    for device_id, cls in (("pixel-4", "a75-x1"), ("raspberry-pi-4b", "a57-a73")):
        band = estimate(graph, get_device(device_id)).latency_error_pct
        assert band == params.error_band_pct.get(cls, params.latency_error_pct)
    unseen = replace(params, error_band_pct={})
    assert estimate(graph, get_device("pixel-4"), params=unseen).latency_error_pct == (
        params.latency_error_pct
    )
