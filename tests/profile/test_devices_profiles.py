"""Device profiles: built-ins load and validate; broken or unknown profiles fail clearly."""

import shutil
from importlib import resources

import pytest

from edgesub.errors import ConfigError, UnknownNameError
from edgesub.profile.devices import PROFILES_ENV, expand_device_ids, get_device, load_devices

REQUIRED = {
    "raspberry-pi-4b", "raspberry-pi-5", "raspberry-pi-3b-plus", "raspberry-pi-zero-2w",
    "jetson-nano", "jetson-orin-nano", "pixel-4", "snapdragon-8-gen-2",
}  # fmt: skip


def _builtin_text(name: str) -> str:
    return resources.files("edgesub.device_profiles").joinpath(f"{name}.toml").read_text("utf-8")


def test_builtin_profiles_cover_the_required_devices():
    registry = load_devices()
    assert set(registry.names()) >= REQUIRED
    for device_id in registry:
        device = registry.get(device_id)
        assert device.id == device_id
        assert device.cores == sum(c.cores for c in device.clusters)
        assert device.ram_mb > 0 and device.bandwidth_gbps > 0
        assert (
            device.idle_w < device.power_w(1) <= device.power_w(device.cores) <= device.full_load_w
        )
        for cluster in device.clusters:
            assert cluster.peak_fp32_gflops_per_core == pytest.approx(
                cluster.clock_ghz * cluster.fp32_flops_per_cycle, rel=0.02
            )


def test_pi5_numbers_match_the_published_spec():
    pi5 = get_device("raspberry-pi-5")
    assert pi5.cores == 4 and pi5.clock_ghz == 2.4
    assert pi5.clusters[0].microarchitecture == "Cortex-A76"
    assert pi5.peak_gops("fp32", 1) == [38.4]
    assert pi5.peak_gops("int8", 2) == [153.6, 153.6]


def test_threads_fill_fastest_cluster_first():
    phone = get_device("pixel-4")
    assert [c.name for c in phone.thread_cores(5)] == ["prime"] + ["performance"] * 3 + [
        "efficiency"
    ]
    assert len(phone.thread_cores(64)) == phone.cores


def test_unknown_device_lists_known_ids():
    with pytest.raises(UnknownNameError) as info:
        get_device("raspberry-pi-9")
    message = str(info.value)
    assert "raspberry-pi-9" in message and "raspberry-pi-4b" in message and "pixel-4" in message


def test_user_profile_dir_adds_and_overrides(tmp_path, monkeypatch):
    text = _builtin_text("raspberry-pi-4b")
    (tmp_path / "my.toml").write_text(
        text.replace('id = "raspberry-pi-4b"', 'id = "my-board"')
        .replace("clock_ghz = 1.5", "clock_ghz = 1.8")
        .replace("peak_fp32_gflops_per_core = 12.0", "peak_fp32_gflops_per_core = 14.4")
        .replace("peak_fp16_gflops_per_core = 12.0", "peak_fp16_gflops_per_core = 14.4")
        .replace("peak_int8_gops_per_core = 24.0", "peak_int8_gops_per_core = 28.8")
    )
    board = get_device("my-board", profiles_dir=tmp_path)
    assert board.clock_ghz == 1.8 and board.source_file.endswith("my.toml")
    assert "raspberry-pi-5" in load_devices(tmp_path)
    monkeypatch.setenv(PROFILES_ENV, str(tmp_path))
    assert "my-board" in load_devices()
    monkeypatch.delenv(PROFILES_ENV)
    assert "my-board" not in load_devices()


def test_missing_folder_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_devices(tmp_path / "nope")


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda t: t.replace("ram_mb = 4096\n", ""), "memory.ram_mb"),
        (lambda t: t.replace("idle_w = 1.6", 'idle_w = "low"'), "power.idle_w"),
        (lambda t: t.replace("[cpu]\ncores = 4", "[cpu]\ncores = 6"), "cpu.cores"),
        (
            lambda t: t.replace(
                "peak_fp32_gflops_per_core = 12.0", "peak_fp32_gflops_per_core = 30.0"
            ),
            "cpu.clusters[0].peak_fp32_gflops_per_core",
        ),
        (
            lambda t: t.replace('field = "memory.bandwidth_gbps"', 'field = "memory.other"'),
            "memory.bandwidth_gbps",
        ),
        (lambda t: t.replace("[power]", "[powr]"), "power"),
        (lambda t: t.replace("clock_ghz = 1.5\n", ""), "cpu.clusters[0].clock_ghz"),
        (
            lambda t: t.replace('name = "main"\ncores = 4', 'name = "main"\ncores = "four"'),
            "cpu.clusters[0].cores",
        ),
        (lambda t: t.replace('name = "main"', 'name = "main"\nturbo = 1'), "cpu.clusters[0].turbo"),
        (lambda t: t.replace("active_w_per_core = 0.85", "active_w_per_core = -1.0"), "active_w"),
        (lambda t: t.replace('url = "https://datasheets', 'url = "ftp://datasheets', 1), "url"),
    ],
)
def test_broken_profile_names_file_and_field(tmp_path, edit, field):
    original = _builtin_text("raspberry-pi-4b")
    edited = edit(original)
    assert edited != original
    (tmp_path / "broken.toml").write_text(edited)
    with pytest.raises(ConfigError) as info:
        load_devices(tmp_path)
    assert "broken.toml" in str(info.value) and field in str(info.value)


def test_malformed_toml_and_duplicate_ids(tmp_path):
    (tmp_path / "bad.toml").write_text("id = [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad\.toml.*malformed TOML"):
        load_devices(tmp_path)
    (tmp_path / "bad.toml").unlink()
    src = resources.files("edgesub.device_profiles").joinpath("pixel-4.toml")
    for name in ("a.toml", "b.toml"):
        with resources.as_file(src) as f:
            shutil.copy(f, tmp_path / name)
    with pytest.raises(ConfigError, match="defined twice"):
        load_devices(tmp_path)


def test_all_expands_to_every_id_once_and_no_profile_may_be_called_all(tmp_path):
    registry = load_devices()
    assert expand_device_ids(["pixel-4", "all", "pixel-4"], registry) == [
        "pixel-4",
        *(name for name in registry.names() if name != "pixel-4"),
    ]
    (tmp_path / "all.toml").write_text(_builtin_text("pixel-4").replace('"pixel-4"', '"all"'))
    with pytest.raises(ConfigError, match=r"all\.toml: id 'all' is reserved"):
        load_devices(tmp_path)
