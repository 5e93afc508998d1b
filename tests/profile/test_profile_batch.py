"""profile_batch: a file that cannot be profiled is a typed failure and the others go on."""

import json
import shutil
from pathlib import Path

import pytest
from test_graph_onnx import tiny_cnn

from edgesub.errors import EstimateError, ModelFileError
from edgesub.profile.compare import load_profile_records
from edgesub.profile.run import ProfileFailure, profile_artifacts, profile_batch, write_profile
from edgesub.report.rundata import read_run_data

DEVICES = ["pixel-4", "raspberry-pi-5"]
FIXTURE_RUN = Path(__file__).parents[1] / "report" / "fixture_run"


@pytest.fixture
def batch(tmp_path: Path) -> list[Path]:
    """Two good models around one with a custom op and one that is not a model at all."""
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    return [
        tiny_cnn(tmp_path / "a.onnx"),
        tiny_cnn(tmp_path / "custom.onnx", custom=True),
        junk,
        tiny_cnn(tmp_path / "b.onnx", width=8),
    ]


def test_failures_are_records_of_their_own_and_the_others_go_on(batch):
    result = profile_batch(batch, DEVICES, measure=False, progress=False)
    assert [(r.artifact, r.device) for r in result.records] == [
        ("a.onnx", "pixel-4"), ("a.onnx", "raspberry-pi-5"),
        ("b.onnx", "pixel-4"), ("b.onnx", "raspberry-pi-5"),
    ]  # fmt: skip
    assert [(f.artifact, f.device, f.error) for f in result.failures] == [
        ("custom.onnx", "pixel-4", "estimate"), ("custom.onnx", "raspberry-pi-5", "estimate"),
        ("junk.onnx", "pixel-4", "load"), ("junk.onnx", "raspberry-pi-5", "load"),
    ]  # fmt: skip
    assert "cannot estimate custom op(s) my.ops.FancyOp" in result.failures[0].reason
    assert result.failures[2].reason.startswith("junk.onnx: ")
    assert result.failed_files() == batch[1:3]
    rows = result.rows()  # what --json prints: every pair asked, in input order
    assert [r["artifact"] for r in rows] == ["a.onnx"] * 2 + ["custom.onnx"] * 2 + [
        "junk.onnx"
    ] * 2 + ["b.onnx"] * 2
    assert set(rows[2]) == {"artifact", "path", "device", "error", "reason"}


def test_strict_raises_the_first_failure_as_profile_artifacts_does(batch):
    with pytest.raises(EstimateError, match="FancyOp"):
        profile_batch(batch, DEVICES, measure=False, progress=False, strict=True)
    with pytest.raises(ModelFileError, match=r"junk\.onnx"):
        profile_artifacts(batch[2:], DEVICES, measure=False, progress=False)


def test_a_file_that_cannot_be_measured_keeps_its_estimates(tmp_path):
    pytest.importorskip("onnxruntime")
    good = tiny_cnn(tmp_path / "good.onnx")
    custom = tiny_cnn(tmp_path / "custom.onnx", custom=True)
    result = profile_batch(
        [custom, good], ["pixel-4"], measure=True, warmup=1, runs=2, progress=False
    )
    assert [(r.artifact, r.device) for r in result.records] == [
        ("good.onnx", "host"),
        ("good.onnx", "pixel-4"),
    ]
    assert [(f.device, f.error) for f in result.failures] == [
        ("pixel-4", "estimate"),
        ("host", "measure"),
    ]
    assert "custom.onnx" in result.failures[1].reason


def test_profile_json_keeps_failures_apart_from_the_records(batch, tmp_path):
    result = profile_batch(batch, DEVICES, measure=False, progress=False)
    run = Path(shutil.copytree(FIXTURE_RUN, tmp_path / "run"))
    write_profile(run / "profile.json", result.records, result.failures)
    data = json.loads((run / "profile.json").read_text())
    assert data["records"] == [r.to_dict() for r in result.records]
    assert [ProfileFailure(**f) for f in data["failures"]] == result.failures
    assert load_profile_records(run) == result.records  # compare reads only profiled pairs
    assert read_run_data(run).records == result.records  # and so does the report
    write_profile(run / "profile.json", result.records)
    assert json.loads((run / "profile.json").read_text())["failures"] == []
