"""`edgesub compare` on the question a new user asked: MediaPipe's 14 .tflite models at 30
inferences per second on a 3000 mAh (3.7 V) battery, on a Pi Zero 2 W, a Pi 5, a Pixel 4 and
a Snapdragon 8 Gen 2 phone. Golden files of the table and the JSON records; regenerate with
``EDGESUB_UPDATE_GOLDEN=1 pytest tests/profile/test_compare_mediapipe.py`` and review the diff.

The models come from the mediapipe 0.10.21 wheel (pip's cache or the package registry, via
``benchmarks/third_party_profiles.py``); skipped when pip can get neither.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgesub.cli import cli

ROOT = Path(__file__).parents[2]
GOLDEN = Path(__file__).parent / "golden"
DEVICES = ("raspberry-pi-zero-2w", "raspberry-pi-5", "pixel-4", "snapdragon-8-gen-2")
QUESTION = ["--rate", "30", "--battery-mah", "3000", "--battery-v", "3.7", "--threads", "4"]
KEYS = (
    "artifact", "device", "precision", "latency_ms", "keeps_rate", "achieved_hz",
    "average_power_mw", "battery_hours", "inferences_per_charge", "rank", "device_rank",
)  # fmt: skip


@pytest.fixture(scope="module")
def mediapipe_models(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    spec = importlib.util.spec_from_file_location(
        "third_party_profiles", ROOT / "benchmarks" / "third_party_profiles.py"
    )
    assert spec is not None and spec.loader is not None
    tp = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tp)
    folder = tmp_path_factory.mktemp("mediapipe")
    try:
        wheels = tp.find_or_download(folder / "wheels")
    except tp.WheelsUnavailable as exc:
        pytest.skip(str(exc))
    models = [m for m in tp.extract_models(wheels, folder) if m.suffix == ".tflite"]
    assert len(models) == 14
    return sorted(models, key=lambda m: m.name)


def compare(models: list[Path], *extra: str):
    devices = [arg for device in DEVICES for arg in ("--device", device)]
    args = ["compare", *map(str, models), *devices, *QUESTION, "--no-progress", *extra]
    return CliRunner().invoke(cli, args, env={"COLUMNS": "220"})


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("EDGESUB_UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


def test_mediapipe_at_30_hz_on_a_3000_mah_battery(mediapipe_models: list[Path]) -> None:
    result = compare(mediapipe_models, "--json")
    assert result.exit_code == 0, result.output
    comparison = json.loads(result.stdout)
    rows = comparison["rows"]
    # one file has custom ops without a cost model: said once, the other 13 go on
    assert "skipped face_landmark_with_attention.tflite" in result.stderr
    assert len(rows) == 13 * len(DEVICES)
    # unrelated models are separate questions: hand landmarks and palm detection never share
    # a ranking, and with several models no single file is recommended per device
    hand = {r["model"] for r in rows if r["artifact"].startswith("hand_landmark_")}
    palm = {r["model"] for r in rows if r["artifact"].startswith("palm_detection_")}
    assert len(hand) == len(palm) == 1 and hand != palm
    assert comparison["recommendations"] == []
    # a device that cannot keep 30 Hz never out-ranks one that does, whatever its hours
    for artifact in {r["artifact"] for r in rows}:
        mine = [r for r in rows if r["artifact"] == artifact]
        keepers = [r["device_rank"] for r in mine if r["keeps_rate"]]
        slow = [r["device_rank"] for r in mine if not r["keeps_rate"]]
        assert not keepers or not slow or max(keepers) < min(slow)
        for r in mine:
            hz = r["achieved_hz"]
            assert r["inferences_per_charge"] == pytest.approx(
                r["battery_hours"] * 3600 * hz, rel=1e-3
            )
    # the Zero 2 W keeps 30 Hz for small models only; the phones keep it for all
    zero = {r["artifact"]: r["keeps_rate"] for r in rows if r["device"] == DEVICES[0]}
    assert zero["hand_recrop.tflite"] and not zero["palm_detection_full.tflite"]
    assert all(r["keeps_rate"] for r in rows if r["device"] == "snapdragon-8-gen-2")
    # no budget limit beyond the rate: nothing fits on the Zero 2 W for the big models, but it
    # is not named "nothing fits" because some of its rows keep the rate
    assert comparison["nothing_fits"] == []
    records = [{k: r[k] for k in KEYS} for r in rows]
    check_golden("compare_mediapipe.json", json.dumps(records, indent=1, ensure_ascii=False) + "\n")


def test_mediapipe_table(mediapipe_models: list[Path]) -> None:
    result = compare(mediapipe_models)
    assert result.exit_code == 0, result.output
    assert "Devices ranked for each file" in result.stdout
    check_golden("compare_mediapipe.txt", result.stdout)
