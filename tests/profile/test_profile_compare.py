"""Budgets and Pareto fronts over profile records with hand-checked numbers."""

import json

import pytest

from edgesub.errors import ConfigError
from edgesub.profile import compare
from edgesub.profile.compare import (
    Budget,
    battery_capacity_wh,
    idle_power_w,
    load_profile_records,
    select_devices,
)
from edgesub.profile.profile_record import ProfileEntry


def record(
    artifact, device="pi", latency=10.0, energy=30.0, dynamic=10.0, accuracy=95.0, fits=True
):
    """A profile record: at 10 ms, 30 mJ total and 10 mJ dynamic the device idles at 2 W."""
    return ProfileEntry.from_dict(raw(artifact, device, latency, energy, dynamic, accuracy, fits))


def raw(artifact, device="pi", latency=10.0, energy=30.0, dynamic=10.0, accuracy=95.0, fits=True):
    """:func:`record` as the JSON object profile.json holds."""
    return {
        "artifact": artifact, "path": artifact, "format": "onnx", "precision": "fp32",
        "device": device, "device_name": device.upper(), "threads": 1, "accuracy": accuracy,
        "latency_ms": latency, "latency_kind": "estimated", "latency_error_pct": 20.0,
        "latency_p90_ms": None, "peak_memory_mb": 5.0, "memory_kind": "estimated",
        "fits_in_memory": fits, "energy_mj": energy, "energy_dynamic_mj": dynamic,
        "energy_kind": "estimated" if energy is not None else "unavailable", "size_bytes": 100,
        "macs": 1000,
    }  # fmt: skip


def compare_records(records, budget):
    """compare.json as JSON data (lists, objects), what the assertions below read."""
    return compare.compare_records(records, budget).to_dict()


def test_battery_capacity_from_mah_and_volts_or_wh():
    assert battery_capacity_wh(mah=3000, volts=3.7) == pytest.approx(11.1)
    assert battery_capacity_wh(wh=5.0) == 5.0
    assert battery_capacity_wh() is None
    with pytest.raises(ConfigError, match="--battery-v"):
        battery_capacity_wh(mah=3000)
    with pytest.raises(ConfigError, match="--battery-wh or"):
        battery_capacity_wh(mah=3000, volts=3.7, wh=11.1)
    with pytest.raises(ConfigError, match="> 0"):
        battery_capacity_wh(mah=-1, volts=3.7)


def test_budget_rejects_inconsistent_limits():
    with pytest.raises(ConfigError, match="--rate"):
        Budget(battery_wh=10.0)
    with pytest.raises(ConfigError, match="--battery"):
        Budget(rate_hz=1.0, min_hours=5.0)
    with pytest.raises(ConfigError, match="energy_mj must be > 0"):
        Budget(energy_mj=0.0)


def test_idle_power_is_recovered_from_total_and_dynamic_energy():
    assert idle_power_w(record("a")) == pytest.approx(2.0)
    assert idle_power_w(record("a", energy=None, dynamic=None)) is None


def test_average_power_and_battery_hours_with_and_without_idle():
    budget = Budget(rate_hz=10.0, battery_wh=21.0, conversion_efficiency=1.0)
    (row,) = compare_records([record("a")], budget)["rows"]
    # 2 W idle + 10 mJ × 10 Hz = 2100 mW; 21 Wh / 2.1 W = 10 h; busy 10 ms of every 100 ms
    assert row["average_power_mw"] == pytest.approx(2100.0)
    assert row["battery_hours"] == pytest.approx(10.0)
    assert row["duty_cycle"] == pytest.approx(0.1)
    assert row["power_kind"] == "estimated"
    model_only = compare_records([record("a")], Budget(rate_hz=10.0, battery_wh=21.0,
                                 include_idle=False, conversion_efficiency=1.0))  # fmt: skip
    assert model_only["rows"][0]["average_power_mw"] == pytest.approx(100.0)
    assert model_only["rows"][0]["battery_hours"] == pytest.approx(210.0)
    assert any("excludes idle" in n for n in model_only["assumptions"])
    assert any("includes the device's idle power" in n for n in compare_records(
        [record("a")], budget)["assumptions"])  # fmt: skip


def test_each_limit_names_why_a_pair_does_not_fit():
    records = [
        record("fast"),
        record("slow", latency=150.0, energy=450.0, dynamic=150.0),
        record("big", fits=False),
        record("host", device="host", energy=None, dynamic=None),
    ]
    budget = Budget(energy_mj=100.0, max_latency_ms=50.0, rate_hz=10.0, battery_wh=21.0,
                    min_hours=8.0, max_power_mw=2500.0, conversion_efficiency=1.0)  # fmt: skip
    rows = {r["artifact"]: r for r in compare_records(records, budget)["rows"]}
    assert rows["fast"]["fits_budget"] and rows["fast"]["problems"] == []
    assert rows["slow"]["problems"] == [
        "latency > 50 ms", "energy > 100 mJ", "too slow for 10 Hz", "power > 2500 mW",
        "battery < 8 h",
    ]  # fmt: skip
    # busy all the time at 6.7 Hz: 2 W idle + 150 mJ × 6.67 Hz = 3 W, 21 Wh / 3 W = 7 h
    assert rows["slow"]["average_power_mw"] == pytest.approx(3000.0)
    assert rows["slow"]["battery_hours"] == pytest.approx(7.0)
    assert rows["big"]["problems"] == ["exceeds RAM"]
    assert rows["host"]["problems"] == ["energy unknown", "power unknown", "battery life unknown"]


def test_energy_budget_uses_dynamic_energy_when_idle_is_excluded():
    budget = dict(energy_mj=20.0)
    assert not compare_records([record("a")], Budget(**budget))["rows"][0]["fits_budget"]
    excluded = compare_records([record("a")], Budget(**budget, include_idle=False))
    assert excluded["rows"][0]["fits_budget"]


def test_pareto_front_per_device():
    records = [
        record("accurate", latency=20.0, energy=60.0, dynamic=20.0, accuracy=99.0),
        record("fast", latency=5.0, energy=15.0, dynamic=5.0, accuracy=96.0),
        record("beaten", latency=25.0, energy=70.0, dynamic=25.0, accuracy=97.0),
        record("tie", latency=5.0, energy=15.0, dynamic=5.0, accuracy=96.0),
        record("beaten", device="phone", latency=1.0, energy=2.0, dynamic=1.0, accuracy=97.0),
        record("host_only", device="host", energy=None, dynamic=None, accuracy=90.0, latency=1),
        record("host_slow", device="host", energy=None, dynamic=None, accuracy=90.0, latency=2),
    ]
    result = compare_records(records, Budget(max_latency_ms=1000.0))
    assert result["pareto"] == {
        "pi": ["accurate", "fast", "tie"],  # equal rows do not beat each other
        "phone": ["beaten"],  # alone on its device
        "host": ["host_only"],  # energy unknown on host: compared on accuracy and latency
    }
    assert [r["device"] for r in result["rows"]] == ["pi"] * 4 + ["phone"] + ["host"] * 2
    assert len(result["fitting"]) == len(records)


def test_missing_accuracy_leaves_latency_and_energy():
    records = [record("a", accuracy=None), record("b", accuracy=None, latency=5, energy=40)]
    assert compare_records(records, Budget(max_latency_ms=1e3))["pareto"] == {"pi": ["a", "b"]}


def test_no_pareto_front_without_a_budget_and_none_where_nothing_fits():
    records = [record("a"), record("b", latency=5.0), record("a", device="phone", latency=30.0)]
    free = compare_records(records, Budget())
    assert free["pareto"] == {} and free["nothing_fits"] == []
    assert not any(r["pareto"] for r in free["rows"])
    tight = compare_records(records, Budget(max_latency_ms=20.0))
    assert tight["nothing_fits"] == ["phone"]
    assert "phone" not in tight["pareto"] and tight["pareto"]["pi"] == ["b"]


def test_the_rate_kept_inferences_per_charge_and_conversion_losses():
    # 2 W idle + 10 mJ × 10 Hz = 2.1 W; 21 Wh × 0.8 / 2.1 W = 8 h = 288,000 inferences at 10 Hz
    budget = Budget(rate_hz=10.0, battery_wh=21.0, conversion_efficiency=0.8)
    slow = record("slow", latency=200.0, energy=600.0, dynamic=200.0)
    rows = {r["artifact"]: r for r in compare_records([record("a"), slow], budget)["rows"]}
    assert rows["a"]["keeps_rate"] is True and rows["a"]["achieved_hz"] == 10.0
    assert rows["a"]["battery_hours"] == pytest.approx(8.0)
    assert rows["a"]["inferences_per_charge"] == 288_000
    # busy all the time at 5 Hz: 2 W + 200 mJ × 5 Hz = 3 W, 5.6 h, 100,800 inferences
    assert rows["slow"]["keeps_rate"] is False and rows["slow"]["achieved_hz"] == 5.0
    assert rows["slow"]["inferences_per_charge"] == 100_800
    assert any("80% conversion efficiency" in n for n in compare_records([slow], budget)[
        "assumptions"])  # fmt: skip
    with pytest.raises(ConfigError, match="fraction of 1"):
        Budget(conversion_efficiency=1.5)


def test_ranks_tie_within_the_error_bands_and_keepers_of_the_rate_come_first():
    # ±20 % bands: 10 ms and 12 ms overlap (2 <= 2 + 2.4), 10 ms and 20 ms do not
    records = [record("mid", latency=12.0), record("best"), record("slow", latency=20.0)]
    ranks = {r["artifact"]: r["rank"] for r in compare_records(records, Budget())["rows"]}
    assert ranks == {"best": 1, "mid": 1, "slow": 3}
    # at 60 Hz (16.7 ms) "slow" misses the rate and ranks after the others whatever its power
    frugal_but_slow = record("slow", latency=20.0, energy=40.1, dynamic=0.1)
    rows = compare_records([record("best"), frugal_but_slow], Budget(rate_hz=60.0))["rows"]
    assert {r["artifact"]: r["rank"] for r in rows} == {"best": 1, "slow": 2}


def test_devices_are_ranked_for_each_file_and_models_apart():
    hand = dict(model="1×224×224×3 → 1×63")
    rows = compare_records(
        [
            ProfileEntry.from_dict({**raw("h.tflite", "pi", latency=40.0), **hand}),
            ProfileEntry.from_dict({**raw("h.tflite", "phone", latency=4.0), **hand}),
            ProfileEntry.from_dict({**raw("palm.tflite", "pi", latency=80.0), "model": "other"}),
        ],
        Budget(),
    )["rows"]
    by = {(r["artifact"], r["device"]): r for r in rows}
    assert by["h.tflite", "phone"]["device_rank"] == 1 and by["h.tflite", "pi"]["device_rank"] == 2
    # a different model is not a variant: it ranks first among its own kind on the pi
    assert by["palm.tflite", "pi"]["rank"] == 1 and by["h.tflite", "pi"]["rank"] == 1
    together = compare.compare_records(
        [ProfileEntry.from_dict({**raw("h.tflite", "pi", latency=40.0), **hand}),
         ProfileEntry.from_dict({**raw("palm.tflite", "pi", latency=80.0), "model": "other"})],
        Budget(), across_models=True,
    ).to_dict()["rows"]  # fmt: skip
    assert [r["rank"] for r in together] == [1, 2]


def test_int8_latency_over_the_fp32_variant_on_each_device():
    int8 = ProfileEntry.from_dict({**raw("m_int8.onnx", latency=4.0), "precision": "int8"})
    rows = compare_records([record("m_fp32.onnx"), int8], Budget())["rows"]
    ratios = {r["artifact"]: r["latency_vs_fp32"] for r in rows}
    assert ratios == {"m_fp32.onnx": 1.0, "m_int8.onnx": 0.4}


def test_load_profile_records_from_file_and_run_dir(tmp_path):
    profile = {"schema_version": 1, "host": None, "records": [raw("a")], "failures": []}
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    assert load_profile_records(tmp_path) == load_profile_records(tmp_path / "profile.json")
    assert load_profile_records(tmp_path) == [record("a")]
    with pytest.raises(ConfigError, match="edgesub profile"):
        load_profile_records(tmp_path / "nothing")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"not a readable profile\.json"):
        load_profile_records(tmp_path / "bad.json")
    (tmp_path / "odd.json").write_text(json.dumps({"records": [{"artifact": "a"}]}))
    with pytest.raises(ConfigError, match=r"odd\.json: records\[0\]: .*lacks .*device, "):
        load_profile_records(tmp_path / "odd.json")


def test_unversioned_and_saved_json_output_profiles_are_migrated(tmp_path):
    """A profile.json without schema_version (hand-made) and `edgesub profile --json` saved to
    a file (one list, failed pairs told apart by ``error``) read as version 1."""
    (tmp_path / "plain.json").write_text(json.dumps({"records": [raw("a")]}))
    assert load_profile_records(tmp_path / "plain.json") == [record("a")]
    failure = {"artifact": "b", "path": "b", "device": "pi", "error": "load", "reason": "bad"}
    (tmp_path / "rows.json").write_text(json.dumps([raw("a"), failure]))
    assert load_profile_records(tmp_path / "rows.json") == [record("a")]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schema_version": 2}, r"schema_version 2 is newer than this edgesub reads \(1\)"),
        ({"schema_version": "1"}, "schema_version must be an integer"),
        ({"extra": 1}, r"unknown key\(s\) 'extra' in profile\.json"),
    ],
)
def test_profile_of_another_version_or_with_unknown_keys_is_refused(tmp_path, change, message):
    profile = {"schema_version": 1, "host": None, "records": [raw("a")], **change}
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    with pytest.raises(ConfigError, match=message):
        load_profile_records(tmp_path)


def test_a_mistyped_or_unknown_record_key_is_named_with_its_path(tmp_path):
    for change, message in (
        ({"latency_ms": "fast"}, r"records\[0\]\.latency_ms: expected number, got a string"),
        ({"latency_kind": "guessed"}, r"records\[0\]\.latency_kind: expected one of"),
        ({"latncy_ms": 1.0}, r"records\[0\]: unknown key\(s\) 'latncy_ms'"),
    ):
        profile = {"schema_version": 1, "host": None, "records": [{**raw("a"), **change}]}
        (tmp_path / "profile.json").write_text(json.dumps(profile))
        with pytest.raises(ConfigError, match=message):
            load_profile_records(tmp_path)


def test_select_devices_names_the_missing_ones():
    records = [record("a"), record("a", device="phone")]
    assert select_devices(records, ["phone"]) == [records[1]]
    assert select_devices(records, []) == records
    assert select_devices(records, ["all"]) == records
    with pytest.raises(
        ConfigError, match=r"no records for device.* jetson-nano; it has: pi, phone"
    ):
        select_devices(records, ["jetson-nano"])
