"""Energy arithmetic: W × ms = mJ per part of the inference, HPL-type power for compute-bound
time, stress-type power for the rest, the dynamic part above idle."""

import dataclasses

import pytest

from edgesub.profile.devices import get_device
from edgesub.profile.energy import GEMM_OVER_STRESS, estimate_energy, gemm_factor
from edgesub.profile.estimate import LatencyParts

TEN_MS_LIGHT = LatencyParts(memory_s=0.006, overhead_s=0.004)
TEN_MS_COMPUTE = LatencyParts(compute_s=0.010)


def test_light_work_is_stress_power_times_latency():
    pi4 = get_device("raspberry-pi-4b")  # idle 1.6 W, +0.85 W per busy core, 5.0 W all cores
    one = estimate_energy(pi4, 1, TEN_MS_LIGHT)
    assert one.power_w == pytest.approx(2.45)
    assert one.energy_mj == pytest.approx(24.5)
    assert one.energy_dynamic_mj == pytest.approx(8.5)
    assert one.energy_kind == "estimated"
    four = estimate_energy(pi4, 4, TEN_MS_LIGHT)
    assert four.energy_mj == pytest.approx(50.0)
    assert four.energy_dynamic_mj == pytest.approx(34.0)


def test_compute_bound_work_draws_the_hpl_power():
    pi4 = get_device("raspberry-pi-4b")  # 7.2 W under HPL (sbc-reviews)
    factor, source = gemm_factor(pi4)
    assert source == "profile"
    assert factor == pytest.approx((7.2 - 1.6) / (5.0 - 1.6))
    assert estimate_energy(pi4, 4, TEN_MS_COMPUTE).power_w == pytest.approx(7.2)
    mixed = estimate_energy(pi4, 4, TEN_MS_COMPUTE + TEN_MS_LIGHT)
    assert mixed.energy_mj == pytest.approx(72.0 + 50.0)
    assert mixed.power_w == pytest.approx((7.2 + 5.0) / 2)


def test_a_profile_without_an_hpl_figure_borrows_its_core_class_ratio():
    orin = get_device("jetson-orin-nano")
    assert orin.gemm_load_w is None
    factor, source = gemm_factor(orin)
    assert source == "class a75-x1"
    assert factor == pytest.approx(GEMM_OVER_STRESS["a75-x1"])
    assert 1.0 <= GEMM_OVER_STRESS["in-order"] < GEMM_OVER_STRESS["a75-x1"] < 2.0
    own = dataclasses.replace(orin, gemm_load_w=orin.full_load_w)
    assert gemm_factor(own) == (1.0, "profile")


def test_power_never_exceeds_the_all_core_figure_of_its_load():
    phone = get_device("snapdragon-8-gen-2")
    factor, _ = gemm_factor(phone)
    ceiling = phone.idle_w + (phone.full_load_w - phone.idle_w) * factor
    assert estimate_energy(phone, 99, TEN_MS_COMPUTE).power_w <= ceiling + 1e-9
    assert estimate_energy(phone, 99, TEN_MS_LIGHT).power_w <= phone.full_load_w + 1e-9
    assert phone.power_w(1) == pytest.approx(phone.idle_w + phone.clusters[0].active_w_per_core)
