"""Quantising a third-party model we did not train: rapidocr-onnxruntime 1.4.4's text-direction
classifier, unpacked from its wheel (pip's cache or the package registry; nothing installed).

Its dynamic width makes ORT's symbolic shape inference assert; pre-processing must cope."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgesub.cli import cli
from edgesub.converters import run_artifact

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "third_party_profiles.py"


def _third_party():
    spec = importlib.util.spec_from_file_location("third_party_profiles", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_rapidocr_classifier_quantises_and_keeps_its_decisions(tmp_path):
    tp = _third_party()
    try:
        wheels = tp.find_or_download(tmp_path / "wheels")
    except tp.WheelsUnavailable as exc:
        pytest.skip(str(exc))
    models = tp.extract_models(wheels, tmp_path / "models")
    (cls,) = [m for m in models if m.name == "ch_ppocr_mobile_v2.0_cls_infer.onnx"]
    calibration = np.random.default_rng(0).uniform(-1, 1, (64, 3, 48, 192)).astype(np.float32)
    np.save(tmp_path / "calib.npy", calibration)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli,
        ["convert", str(cls), "--precision", "int8_dynamic", "--precision", "int8",
         "--calibration", str(tmp_path / "calib.npy"), "--out", str(out), "--json",
         "--no-progress", "--keep-failed"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    entries = {e["precision"]: e for e in json.loads(result.stdout)}
    assert {"int8", "int8_dynamic"} <= set(entries)
    # Random inputs sit near this 2-class model's decision boundary, so agreement on 16
    # held-out inputs is a coarse check: the verdict is recorded, the decisions mostly kept.
    for entry in entries.values():
        assert entry["parity"]["top1_agreement"] >= 85.0, entry["parity"]
        assert entry["size_bytes"] < cls.stat().st_size
        quantised = run_artifact(out / entry["file"], calibration[:8])
        assert quantised.shape == (8, 2)
