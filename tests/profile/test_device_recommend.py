"""The artifact to use per device: measured there when every file has a measured record for
it, else estimated; ties within the evidence's band go to the more accurate, then smaller file.

Estimated latencies are never written down here: each test computes them with the estimator's
public functions (``estimate``, ``load_graph``, ``load_devices``), so the expectations hold
whatever its calibration.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tiny_models import mlp_onnx

from edgesub.profile.compare import Budget, compare_records
from edgesub.profile.devices import load_devices
from edgesub.profile.estimate import estimate
from edgesub.profile.formats import load_graph
from edgesub.profile.profile_record import ProfileEntry
from edgesub.profile.recommend import (
    TIE_FRACTION,
    Candidate,
    Timing,
    choose,
    recommend_from_records,
    recommend_on_device,
)
from edgesub.profile.run import profile_artifacts

pytest.importorskip("onnx")
DEVICE = "raspberry-pi-4b"


def entry(artifact: str, device: str, latency: float, kind: str = "estimated") -> ProfileEntry:
    """A profile entry of ``artifact`` on ``device`` (only the figures the choice reads vary)."""
    return ProfileEntry(
        artifact=artifact, path=artifact, format="onnx", precision="fp32", size_bytes=100,
        macs=1, accuracy=95.0, device=device, device_name=device.upper(), threads=1,
        latency_ms=latency, latency_kind=kind,
        latency_error_pct=None if kind == "measured" else 45.0,
        latency_p90_ms=None, peak_memory_mb=1.0, memory_kind=kind, fits_in_memory=True,
        energy_mj=None, energy_dynamic_mj=None, energy_kind="unavailable",
    )  # fmt: skip


def estimated_ms(path: Path, device: str, threads: int = 1) -> tuple[float, float]:
    """The estimator's latency of ``path`` on ``device`` and its error band (a fraction)."""
    est = estimate(load_graph(path), load_devices().get(device), threads)
    return est.latency_ms, est.latency_error_pct / 100


@pytest.fixture
def narrow_and_wide(tmp_path: Path) -> tuple[Candidate, Candidate]:
    narrow = mlp_onnx(tmp_path / "narrow.onnx", hidden=8)
    wide = mlp_onnx(tmp_path / "wide.onnx", hidden=2048)
    return (
        Candidate("narrow.onnx", "onnx", narrow.stat().st_size, 97.0, True, narrow),
        Candidate("wide.onnx", "onnx", wide.stat().st_size, 99.0, True, wide),
    )


def test_a_device_gets_the_file_its_estimate_says_is_fastest(narrow_and_wide):
    narrow, wide = narrow_and_wide
    fast, band = estimated_ms(narrow.path, DEVICE)
    slow, _ = estimated_ms(wide.path, DEVICE)
    assert slow > fast * (1 + band)  # beyond the error band: no tie
    advice = recommend_on_device([wide, narrow], load_devices().get(DEVICE))
    assert advice.overall.file == "narrow.onnx" and advice.overall.basis == "estimated"
    assert advice.overall.latency_ms == pytest.approx(fast)
    assert advice.overall.band_pct == pytest.approx(100 * band) and not advice.overall.tie
    assert advice.by_format["onnx"] == advice.overall
    assert advice.device_name == load_devices().get(DEVICE).display_name


def test_files_within_the_error_band_are_a_tie_won_by_accuracy(narrow_and_wide, tmp_path):
    narrow, _ = narrow_and_wide
    twin_path = Path(shutil.copy(narrow.path, tmp_path / "twin.onnx"))
    twin = Candidate("twin.onnx", "onnx", narrow.size_bytes, 98.0, True, twin_path)
    advice = recommend_on_device([narrow, twin], load_devices().get(DEVICE))
    assert advice.overall.file == "twin.onnx"  # same graph, same estimate: the more accurate
    assert advice.overall.tie and advice.overall.ties == ("narrow.onnx",)
    assert advice.overall.reason == "more accurate"


def test_tie_breaks_and_bands():
    a = Candidate("a.onnx", "onnx", 400, 98.0)
    b = Candidate("b.onnx", "onnx", 100, 98.0)
    c = Candidate("c.onnx", "onnx", 100, 99.0, passed=False)

    def measured(candidate: Candidate, latency: float) -> Timing:
        return Timing(candidate, latency, "measured", TIE_FRACTION)

    # within the measured band of the fastest, equally accurate: the smaller
    chosen = choose([measured(a, 1.0), measured(b, 1.04)])
    assert chosen.file == "b.onnx" and chosen.tie and chosen.reason == "as accurate, smaller"
    assert chosen.basis == "measured" and chosen.ties == ("a.onnx",)
    # outside it: the fastest, no tie
    chosen = choose([measured(a, 1.0), measured(b, 1.2)])
    assert chosen.file == "a.onnx" and not chosen.tie and chosen.ties == ()
    assert chosen.reason == "fastest"
    # the same gap is inside an estimate's wider band
    chosen = choose([Timing(a, 1.0, "estimated", 0.45), Timing(b, 1.2, "estimated", 0.45)])
    assert chosen.file == "b.onnx" and chosen.tie and chosen.band_pct == 45.0
    # a file that failed verification is never chosen, however fast
    assert choose([measured(c, 0.1), measured(a, 1.0)]).file == "a.onnx"
    assert choose([measured(c, 0.1)]) is None


def test_measured_records_on_the_device_beat_its_estimates():
    estimated = [entry("a.onnx", DEVICE, 1.0), entry("b.onnx", DEVICE, 5.0)]
    measured = [entry("a.onnx", DEVICE, 9.0, "measured"), entry("b.onnx", DEVICE, 2.0, "measured")]
    (advice,) = recommend_from_records(estimated + measured)
    assert advice.overall.file == "b.onnx" and advice.overall.basis == "measured"
    assert advice.overall.band_pct == pytest.approx(100 * TIE_FRACTION)
    (advice,) = recommend_from_records(estimated)
    assert advice.overall.file == "a.onnx" and advice.overall.basis == "estimated"
    # one file measured there, the other not: like is compared with like, on the estimates
    (advice,) = recommend_from_records([*estimated, measured[1]])
    assert advice.overall.file == "a.onnx" and advice.overall.basis == "estimated"


def test_measured_records_spare_the_estimate(narrow_and_wide):
    narrow, wide = narrow_and_wide
    measured = [
        entry("narrow.onnx", DEVICE, 3.0, "measured"),
        entry("wide.onnx", DEVICE, 1.0, "measured"),
    ]
    advice = recommend_on_device([narrow, wide], load_devices().get(DEVICE), records=measured)
    assert advice.overall.file == "wide.onnx" and advice.overall.basis == "measured"
    # a measurement of only one file: both are estimated instead
    advice = recommend_on_device([narrow, wide], load_devices().get(DEVICE), records=measured[1:])
    assert advice.overall.file == "narrow.onnx" and advice.overall.basis == "estimated"


def test_compare_recommends_per_device_and_host(narrow_and_wide):
    pytest.importorskip("onnxruntime")
    narrow, wide = narrow_and_wide
    records = profile_artifacts(
        [narrow.path, wide.path], [DEVICE, "pixel-4"], warmup=1, runs=3, progress=False
    )
    comparison = compare_records(records, Budget(), [narrow, wide])
    advice = {a.device: a for a in comparison.recommendations}
    assert list(advice) == ["host", DEVICE, "pixel-4"]
    assert advice["host"].overall.basis == "measured"
    for device in (DEVICE, "pixel-4"):
        latency = {r.artifact: r.latency_ms for r in records if r.device == device}
        fastest = min(latency, key=latency.get)
        assert advice[device].overall.basis == "estimated"
        assert advice[device].overall.file == fastest  # far apart: no tie
    assert type(comparison).from_dict(comparison.to_dict()) == comparison
