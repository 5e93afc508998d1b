import os

import pytest

from edgesub import config as config_mod
from edgesub.config import RunConfig
from edgesub.errors import ConfigError


def test_defaults_are_the_documented_default_run():
    cfg = config_mod.load(None)
    assert cfg.data.name == "digits"
    assert cfg.teacher.feature_dim == 512
    assert cfg.subspace.resolve_k(cfg.teacher.feature_dim) == 32
    assert {"onnx", "tflite"} <= set(cfg.convert.formats)
    assert {"fp32", "int8"} <= set(cfg.convert.precisions)
    assert len(cfg.profile.devices) >= 3


def test_toml_round_trip(tmp_path):
    cfg = config_mod.apply_overrides(
        RunConfig(), {"distill.epochs": 7, "profile.devices": ["raspberry-pi-5"]}
    )
    path = tmp_path / "pipeline.toml"
    path.write_text(config_mod.to_toml(cfg))
    assert config_mod.load(path) == cfg


def test_file_values_and_string_overrides(tmp_path):
    path = tmp_path / "pipeline.toml"
    path.write_text('name = "x"\n[distill]\nepochs = 3\n[distill.losses]\nsubspace_mse = 2\n')
    cfg = config_mod.load(path)
    assert cfg.name == "x" and cfg.distill.epochs == 3
    assert cfg.distill.losses == {"subspace_mse": 2.0}
    cfg = config_mod.apply_overrides(cfg, {"distill.epochs": "9", "profile.measure": "false"})
    assert cfg.distill.epochs == 9 and cfg.profile.measure is False


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[distill]\nepochz = 3\n", "unknown option distill.epochz"),
        ("[distill]\nepochs = 'many'\n", "distill.epochs must be int"),
        ("[distill]\nepochs = 0\n", "distill.epochs must be > 0"),
        ("[profile]\ndevices = []\n", "profile.devices"),
        ("[convert]\nopset = 11\n", "opset"),
        ("distill = 3\n", "[distill] must be a table"),
        ("[subspace\n", "malformed TOML"),
        ("[subspace]\ntolerance = inf\n", "subspace.tolerance must be a finite number, got inf"),
        ("[convert]\nfp32_tolerance = nan\n", "convert.fp32_tolerance must be a finite number"),
        ("[profile]\nruns = 1000000000\n", r"profile.runs must be in 1\.\.10,000"),
        ("[profile]\nthreads = 100000\n", r"profile.threads must be in 1\.\.256"),
        ("[profile]\nwarmup = 1000000000\n", r"profile.warmup must be in 0\.\.10,000"),
    ],
)
def test_bad_config_files_name_the_problem(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        config_mod.load(path)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        config_mod.load(tmp_path / "nope.toml")


def test_unknown_override_key():
    with pytest.raises(ConfigError, match=r"unknown option teacher\.depth"):
        config_mod.apply_overrides(RunConfig(), {"teacher.depth": 3})


def test_k_must_be_smaller_than_d():
    cfg = config_mod.apply_overrides(RunConfig(), {"subspace.k": 600})
    with pytest.raises(ConfigError, match="1 <= k < d"):
        cfg.subspace.resolve_k(512)


def test_former_section_name_compress_is_read_as_subspace(tmp_path):
    path = tmp_path / "old.toml"
    path.write_text("[compress]\nk = 8\n")
    assert config_mod.load(path).subspace.k == 8
    both = tmp_path / "both.toml"
    both.write_text("[compress]\nk = 8\n\n[subspace]\nk = 16\n")
    with pytest.raises(ConfigError, match=r"\[compress\] is the former name of \[subspace\]"):
        config_mod.load(both)
    overridden = config_mod.apply_overrides(RunConfig(), {"compress.compression": "8"})
    assert overridden.subspace.compression == 8


def test_a_required_field_missing_from_a_table_is_named():
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Needs:
        speed: float
        name: str = "x"

    with pytest.raises(ConfigError, match=r"^sec\.speed is missing$"):
        config_mod.build_dataclass(Needs, {"name": "y"}, "sec.")
    assert config_mod.build_dataclass(Needs, {"speed": 2}, "sec.") == Needs(2.0)


@pytest.mark.parametrize(
    ("key", "value"), [("distill.lr", "inf"), ("subspace.tolerance", "nan"), ("profile.runs", "0")]
)
def test_set_overrides_refuse_non_finite_and_out_of_range_numbers(key, value):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        config_mod.apply_overrides(RunConfig(), {key: value})


def test_a_fifo_config_is_refused_not_opened(tmp_path):
    os.mkfifo(tmp_path / "x.toml")  # reading it would block forever
    with pytest.raises(ConfigError, match=r"x\.toml is not a regular file"):
        config_mod.load(tmp_path / "x.toml")


def test_a_config_past_the_text_limit_is_refused_unread(tmp_path):
    path = tmp_path / "big.toml"
    with open(path, "wb") as fh:
        fh.truncate(65 * 1024 * 1024)
    with pytest.raises(ConfigError, match="the limit is 67,108,864 bytes"):
        config_mod.load(path)
