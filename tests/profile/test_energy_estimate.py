"""Energy arithmetic: W × ms = mJ, dynamic part above idle, thread-dependent power."""

import pytest

from edgesub.profile.devices import get_device
from edgesub.profile.energy import estimate_energy


def test_energy_is_power_times_latency():
    pi4 = get_device("raspberry-pi-4b")  # idle 1.6 W, +0.85 W per busy core
    one = estimate_energy(pi4, threads=1, latency_ms=10.0)
    assert one.power_w == pytest.approx(2.45)
    assert one.energy_mj == pytest.approx(24.5)
    assert one.energy_dynamic_mj == pytest.approx(8.5)
    assert one.energy_kind == "estimated"
    four = estimate_energy(pi4, threads=4, latency_ms=10.0)
    assert four.energy_mj == pytest.approx(50.0)  # full load 5.0 W
    assert four.energy_dynamic_mj == pytest.approx(34.0)


def test_power_never_exceeds_full_load():
    phone = get_device("snapdragon-8-gen-2")
    assert estimate_energy(phone, threads=99, latency_ms=1.0).power_w <= phone.full_load_w
    assert phone.power_w(1) == pytest.approx(phone.idle_w + phone.clusters[0].active_w_per_core)
