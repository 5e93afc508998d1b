"""Runtimes by extension, input synthesis and ORT profile summaries (no child process needed)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from edgesub.errors import MissingDependencyError, ModelFileError
from edgesub.profile.runtimes import (
    InputShapeError,
    InputSpec,
    OnnxRuntime,
    TfliteRuntime,
    resolve_shape,
    runtime_for,
    summarise_ort_profile,
    synthesise_inputs,
)


def test_runtime_is_chosen_by_extension() -> None:
    assert isinstance(runtime_for(Path("a/model.ONNX")), OnnxRuntime)
    assert isinstance(runtime_for(Path("model.tflite")), TfliteRuntime)
    with pytest.raises(
        ModelFileError, match=r"model.pt: unsupported model format '\.pt'; known: \.onnx, \.tflite"
    ):
        runtime_for(Path("model.pt"))


def test_backends_report_name_and_version() -> None:
    assert OnnxRuntime().import_backend()[0] == "onnxruntime"
    name, version = TfliteRuntime().import_backend()
    assert name == "ai-edge-litert" and version[0].isdigit()


def test_inputs_follow_dtype_and_quantisation() -> None:
    specs = [
        InputSpec("image", (1, 3, 4, 4), "float32"),
        InputSpec("q", (1, 8), "int8", quantization=(0.05, -3)),
        InputSpec("raw", (2, 5), "uint8"),
        InputSpec("ids", (1, 6), "int64"),
        InputSpec("mask", (1, 6), "bool"),
        InputSpec("half", (2,), "float16"),
    ]
    feeds = synthesise_inputs(specs, seed=1)
    assert [feeds[s.name].dtype.name for s in specs] == [s.dtype for s in specs]
    assert feeds["image"].shape == (1, 3, 4, 4)
    assert np.isin(feeds["ids"], [0, 1]).all()
    # a standard-normal signal at scale 0.05 spreads widely around the zero point -3
    assert feeds["q"].min() < -3 < feeds["q"].max()
    again = synthesise_inputs(specs, seed=1)
    other = synthesise_inputs(specs, seed=2)
    assert all(np.array_equal(feeds[k], again[k]) for k in feeds)
    assert not np.array_equal(feeds["image"], other["image"])


def test_dynamic_dims_need_an_input_shape() -> None:
    spec = InputSpec("x", (None, 1, 8, 8), "float32")
    assert resolve_shape(spec, None) == (1, 1, 8, 8)  # only the batch axis unknown: batch 1
    with pytest.raises(InputShapeError, match=r"1x\?x8x8.*--input-shape 1,1,8,8"):
        resolve_shape(InputSpec("x", (1, None, 8, 8), "float32"), None)
    assert resolve_shape(spec, (4, 1, 8, 8)) == (4, 1, 8, 8)
    assert resolve_shape(InputSpec("y", (1, 10), "float32"), (4, 1, 8, 8)) == (1, 10)
    with pytest.raises(InputShapeError, match="fits no model input"):
        synthesise_inputs([spec], input_shape=(4, 2, 8, 8))


def _event(cat: str, name: str, ts: int, dur: int, op: str | None = None) -> dict:
    event = {"cat": cat, "name": name, "ts": ts, "dur": dur}
    if op:
        event["args"] = {"op_name": op}
    return event


def test_ort_profile_summary_skips_warmup_runs() -> None:
    events = [
        _event("Session", "model_run", 0, 100),
        _event("Node", "gemm_kernel_time", 10, 90, "Gemm"),  # warm-up: left out
        _event("Session", "model_run", 200, 30),
        _event("Node", "gemm_kernel_time", 205, 20, "Gemm"),
        _event("Node", "relu_kernel_time", 226, 4, "Relu"),
        _event("Node", "relu_fence_before", 225, 1, "Relu"),  # not a kernel
        _event("Session", "model_run", 300, 30),
        _event("Node", "gemm_kernel_time", 305, 22, "Gemm"),
        _event("Node", "relu_kernel_time", 328, 6, "Relu"),
    ]
    assert summarise_ort_profile(events, skip_runs=1) == {"Gemm": 0.021, "Relu": 0.005}
    assert summarise_ort_profile(events, skip_runs=3) == {}


def test_missing_tflite_interpreter_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in ("ai_edge_litert.interpreter", "tflite_runtime.interpreter", "tensorflow"):
        monkeypatch.setitem(sys.modules, module, None)  # makes the import fail
    with pytest.raises(MissingDependencyError, match=r"tflite-runtime.*edgesub\[runtime\]"):
        TfliteRuntime().import_backend()
