"""The published-energy table behind ``benchmarks/energy_accuracy.py`` stays usable: every row
names a device profile, a graph edgesub can rebuild (or says it has none), and a source."""

import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from energy_accuracy import CSV, at_measured_latency, read_rows  # noqa: E402

from edgesub.profile.devices import get_device  # noqa: E402
from edgesub.profile.estimate import LatencyParts  # noqa: E402


def test_every_row_has_a_profile_a_graph_or_a_workload_and_a_source():
    pytest.importorskip("torch")
    from reference_models import REFERENCE_MODELS

    rows = read_rows(CSV)
    assert len({r.device for r in rows}) >= 2
    for row in rows:
        get_device(row.device)
        assert row.source_url.startswith("https://")
        assert row.power_kind in ("average", "peak") and row.power_w > 0 and row.latency_ms > 0
        assert row.workload in ("graph", "memory-bound")
        assert (row.workload == "graph") == (row.reference in REFERENCE_MODELS)


def test_measured_time_beyond_the_estimate_is_light_work():
    parts = LatencyParts(compute_s=0.002, memory_s=0.001, overhead_s=0.0005)
    longer = at_measured_latency(parts, 10.0)
    assert longer.compute_s == 0.002 and longer.total_ms == pytest.approx(10.0)
    shorter = at_measured_latency(parts, 1.75)
    assert shorter.compute_s == pytest.approx(0.001) and shorter.total_ms == pytest.approx(1.75)
    assert at_measured_latency(None, 5.0) == LatencyParts(memory_s=0.005)
