"""profile_artifacts: schema-exact records, manifest accuracy, clear errors, profile.json."""

import json
import re
from types import SimpleNamespace

import pytest
from test_graph_onnx import tiny_cnn

from edgesub.errors import EstimateError, ModelFileError, UnknownNameError
from edgesub.profile import run
from edgesub.profile.devices import load_devices
from edgesub.profile.profile_record import ProfileRecord
from edgesub.profile.run import write_profile


def profile_artifacts(*args, **options):
    """The records as the JSON objects profile.json holds, what these tests check key by key."""
    return [r.to_dict() for r in run.profile_artifacts(*args, **options)]


RECORD_KEYS = {
    "artifact", "path", "format", "precision", "device", "device_name", "threads", "latency_ms",
    "latency_kind", "latency_error_pct", "latency_p90_ms", "peak_memory_mb", "memory_kind",
    "fits_in_memory", "energy_mj", "energy_dynamic_mj", "energy_kind", "size_bytes", "macs",
    "accuracy", "costed_fraction", "uncosted_ops", "fused_ops", "runtime", "power_w",
    "model",
}  # fmt: skip


@pytest.fixture
def model(tmp_path):
    return tiny_cnn(tmp_path / "student_fp32.onnx")


def test_estimated_records_follow_the_schema(model):
    entry = SimpleNamespace(file="student_fp32.onnx", precision="fp32", accuracy=97.5)
    manifest = SimpleNamespace(artifacts=[entry])  # what profiling reads of a manifest
    records = profile_artifacts(
        [model], ["raspberry-pi-4b", "pixel-4"], measure=False, manifest=manifest, threads=2,
        progress=False,
    )  # fmt: skip
    assert [r["device"] for r in records] == ["raspberry-pi-4b", "pixel-4"]
    for r in records:
        assert set(r) == RECORD_KEYS
        assert r["latency_kind"] == r["memory_kind"] == r["energy_kind"] == "estimated"
        assert r["runtime"] == "onnxruntime"  # the runtime of the file's format
        assert r["latency_ms"] > 0 and r["latency_error_pct"] > 0 and r["latency_p90_ms"] is None
        assert r["energy_mj"] > r["energy_dynamic_mj"] > 0
        assert r["power_w"] == pytest.approx(r["energy_mj"] / r["latency_ms"], rel=1e-2)
        assert r["accuracy"] == 97.5 and r["macs"] == 64 * 4 * (9 + 9 + 4 + 10)
        assert r["size_bytes"] == model.stat().st_size and r["threads"] == 2
        assert r["fits_in_memory"] is True and r["format"] == "onnx"
        assert r["fused_ops"] == 1  # tiny_cnn's Relu runs inside its conv
        assert r["model"] == "1×1×8×8 → 1×10"  # what it takes and gives: its variants' too


def test_runtime_option_estimates_as_that_runtime(model):
    """One file estimated as each runtime: the record names it and carries that runtime's
    resident overhead, and an unknown name lists the known ones."""
    by_runtime = {
        name: profile_artifacts([model], ["pixel-4"], measure=False, progress=False, runtime=name)[
            0
        ]
        for name in ("onnxruntime", "tflite", "tflite-legacy", "ncnn")
    }
    assert {name: r["runtime"] for name, r in by_runtime.items()} == {
        name: name for name in by_runtime
    }
    assert by_runtime["ncnn"]["peak_memory_mb"] < by_runtime["onnxruntime"]["peak_memory_mb"]
    with pytest.raises(UnknownNameError, match=r"known: .*ncnn.*tflite-legacy"):
        profile_artifacts([model], ["pixel-4"], measure=False, progress=False, runtime="tvm")


def test_file_not_in_manifest_has_no_accuracy(model):
    (record,) = profile_artifacts([model], ["pixel-4"], measure=False, progress=False)
    assert record["accuracy"] is None and record["precision"] == "fp32"


def test_bad_inputs_raise_one_clear_error(model, tmp_path):
    with pytest.raises(UnknownNameError, match=r"known: .*raspberry-pi-4b"):
        profile_artifacts([model], ["toaster"], measure=False, progress=False)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(model.read_bytes()[:100])
    with pytest.raises(ModelFileError, match=r"broken\.onnx"):
        profile_artifacts([broken], ["pixel-4"], measure=False, progress=False)
    dynamic_side = tiny_cnn(tmp_path / "dyn_side.onnx", side="H")
    with pytest.raises(ModelFileError, match="--input-shape"):
        profile_artifacts([dynamic_side], ["pixel-4"], measure=False, progress=False)
    dynamic = tiny_cnn(tmp_path / "dyn.onnx", batch="N")
    (ok,) = profile_artifacts(
        [dynamic], ["pixel-4"], measure=False, progress=False, input_shape=(2, 1, 8, 8)
    )
    assert ok["macs"] == 2 * 64 * 4 * 32
    custom = tiny_cnn(tmp_path / "custom.onnx", custom=True)
    with pytest.raises(EstimateError, match="FancyOp"):
        profile_artifacts([custom], ["pixel-4"], measure=False, progress=False)


def test_device_all_is_every_profile_with_the_users_once_each(tmp_path):
    from importlib import resources

    folder = tmp_path / "profiles"
    folder.mkdir()
    text = resources.files("edgesub.device_profiles").joinpath("pixel-4.toml").read_text()
    (folder / "mine.toml").write_text(text.replace('id = "pixel-4"', 'id = "my-phone"'))
    model = tiny_cnn(tmp_path / "a.onnx")
    records = profile_artifacts(
        [model], ["pixel-4", "all"], measure=False, progress=False, profiles_dir=folder
    )
    devices = [r["device"] for r in records]
    assert devices[0] == "pixel-4" and "my-phone" in devices
    assert sorted(devices) == load_devices(folder).names()


def test_write_profile_is_complete_json(model, tmp_path):
    records = run.profile_artifacts([model], ["raspberry-pi-5"], measure=False, progress=False)
    out = write_profile(tmp_path / "run" / "profile.json", records)
    data = json.loads(out.read_text())
    assert data["schema_version"] == 1 and data["records"] == [r.to_dict() for r in records]
    assert set(data["host"]) == {"machine", "cpu", "cores", "python"}
    assert data["failures"] == []
    assert ProfileRecord.read(out).records == tuple(records)  # read back as written
    assert not list(out.parent.glob("*.tmp"))


def test_measured_host_record(model):
    pytest.importorskip("onnxruntime")
    records = profile_artifacts(
        [model], ["raspberry-pi-4b"], measure=True, warmup=1, runs=5, progress=False
    )
    host, estimated = records
    assert host["device"] == "host" and estimated["device"] == "raspberry-pi-4b"
    # without a power sensor there is no energy, and no average power either
    assert set(host) == RECORD_KEYS - ({"power_w"} if host["energy_mj"] is None else set())
    assert host["latency_kind"] == host["memory_kind"] == "measured"
    assert host["latency_ms"] > 0 and host["latency_p90_ms"] >= host["latency_ms"]
    assert host["latency_error_pct"] is None and host["peak_memory_mb"] >= 0
    assert host["energy_kind"] in ("measured", "unavailable")
    assert (host["energy_mj"] is None) == (host["energy_kind"] == "unavailable")


def test_runtime_help_names_exactly_the_known_runtimes():
    """The help once offered 'tflite-ruy', a name --runtime then refused."""
    from click.testing import CliRunner

    from edgesub.cli import cli
    from edgesub.profile.estimate import RUNTIME_COSTS

    for command in ("profile", "compare"):
        text = " ".join(CliRunner().invoke(cli, [command, "--help"]).output.split())
        offered = text.split("--runtime TEXT")[1].split("(default")[0]
        assert all(name in offered for name in RUNTIME_COSTS.names()), offered
        assert set(re.findall(r"\w+-\w+", offered)) <= set(RUNTIME_COSTS.names()), offered
