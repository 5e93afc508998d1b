"""`edgesub profile` / `compare` / `devices` work without torch, as on a Raspberry Pi.

The fast test blocks torch in a subprocess (``sys.modules['torch'] = None`` makes every
``import torch`` fail); the slow one installs ``edgesub[runtime]`` from this checkout into a
fresh virtual environment, where torch is not installed at all.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_graph_onnx import tiny_cnn
from venvs import fresh_venv

ROOT = Path(__file__).resolve().parents[2]
BLOCK_TORCH = "import sys; sys.modules['torch'] = None; "


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> list[Path]:
    """A hand-built .onnx and a .tflite converted by litert-torch in this (full) environment."""
    folder = tmp_path_factory.mktemp("runtime-only")
    onnx_file = tiny_cnn(folder / "tiny.onnx")
    torch = pytest.importorskip("torch")
    litert_torch = pytest.importorskip("litert_torch")
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Flatten(), torch.nn.Linear(144, 3))
    tflite_file = folder / "tiny.tflite"
    litert_torch.convert(net.eval(), (torch.zeros(1, 1, 8, 8),)).export(str(tflite_file))
    return [onnx_file, tflite_file]


def edgesub_blocking_torch(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    code = BLOCK_TORCH + "from edgesub.cli import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        capture_output=True, text=True, cwd=cwd, timeout=300,
    )  # fmt: skip


def check_records(records: list[dict], names: list[str]) -> None:
    assert [(r["artifact"], r["device"]) for r in records] == [
        (name, device) for name in names for device in ("host", "raspberry-pi-4b")
    ]
    for rec in records:
        kind = "measured" if rec["device"] == "host" else "estimated"
        assert rec["latency_kind"] == kind and rec["latency_ms"] > 0 and rec["macs"] > 0


def test_profile_and_compare_with_torch_blocked(artifacts, tmp_path):
    profile = edgesub_blocking_torch(
        "profile", *artifacts, "--device", "raspberry-pi-4b", "--runs", "5", "--warmup", "1",
        "--json", cwd=tmp_path,
    )  # fmt: skip
    assert profile.returncode == 0, profile.stderr
    check_records(json.loads(profile.stdout), [a.name for a in artifacts])
    compare = edgesub_blocking_torch(
        "compare", artifacts[0], "--device", "raspberry-pi-4b", "--budget-mj", "100", "--json",
        cwd=tmp_path,
    )  # fmt: skip
    assert compare.returncode == 0, compare.stderr
    assert json.loads(compare.stdout)["fitting"] == [
        {"artifact": "tiny.onnx", "device": "raspberry-pi-4b"}
    ]
    blocked = subprocess.run(
        [sys.executable, "-c", BLOCK_TORCH + "import torch"], capture_output=True, text=True
    )
    assert blocked.returncode != 0 and "torch" in blocked.stderr  # the guard really blocks


@pytest.mark.slow
def test_fresh_runtime_only_install(artifacts, tmp_path):
    env = fresh_venv(tmp_path / "venv")
    env.pip_install(f"{ROOT}[runtime]", cwd=tmp_path)

    def run(program: str, *args: object) -> subprocess.CompletedProcess:
        return env.run(program, *args, cwd=tmp_path)

    no_torch = run("python", "-c", "import torch")
    assert no_torch.returncode != 0 and "No module named 'torch'" in no_torch.stderr
    where = run("python", "-c", "import edgesub; print(edgesub.__file__)")
    assert where.stdout.strip().startswith(str(env.root))  # the installed copy, not the checkout
    devices = run("edgesub", "devices")
    assert devices.returncode == 0 and "raspberry-pi-4b" in devices.stdout
    profile = run(
        "edgesub", "profile", *artifacts, "--device", "raspberry-pi-4b", "--runs", "5",
        "--warmup", "1", "--json",
    )  # fmt: skip
    assert profile.returncode == 0, profile.stderr
    check_records(json.loads(profile.stdout), [a.name for a in artifacts])
    compare = run("edgesub", "compare", artifacts[1], "--device", "raspberry-pi-4b",
                  "--rate", "10", "--battery-wh", "10")  # fmt: skip
    assert compare.returncode == 0, compare.stderr
    assert "1 of 1 artifact × device pairs fit the budget" in compare.stdout
