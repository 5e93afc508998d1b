"""`import edgesub` and `edgesub --help` must not pull heavy frameworks (start-up, Pi installs)."""

import subprocess
import sys

import pytest

HEAVY = ["torch", "tensorflow", "onnxruntime", "litert_torch", "onnx", "matplotlib", "sklearn"]

PROBE = """
import sys
{body}
heavy = {heavy!r}
print("HEAVY=" + ",".join(m for m in heavy if m in sys.modules))
"""


@pytest.mark.parametrize(
    "body",
    [
        "import edgesub, edgesub.training, edgesub.data, edgesub.teachers, edgesub.subspace, "
        "edgesub.students, edgesub.distill, edgesub.profile, edgesub.report, "
        "edgesub.converters, edgesub.pipeline",
        "from edgesub.cli import cli\ntry:\n    cli(['--help'], standalone_mode=False)\n"
        "except SystemExit:\n    pass",
        "from edgesub.cli import cli\nfor c in ['run','compress','distill','convert','profile',"
        "'report','devices','package']:\n"
        "    try:\n        cli([c, '--help'], standalone_mode=False)\n"
        "    except SystemExit:\n        pass",
    ],
)
def test_no_heavy_imports(body):
    code = PROBE.format(body=body, heavy=HEAVY)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    marker = [line for line in result.stdout.splitlines() if line.startswith("HEAVY=")]
    assert marker == ["HEAVY="], f"heavy modules imported: {marker}"
