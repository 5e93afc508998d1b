"""Lazy imports: a missing package names its extra; Ctrl-C during an import stays Ctrl-C."""

import sys

import pytest

from edgesub._deps import require
from edgesub.cli.app import _describe_failure
from edgesub.errors import MissingDependencyError

# What CPython raises when Ctrl-C lands while a C extension initialises (seen with
# matplotlib's ft2font): the interrupt becomes the cause of an ImportError.
INTERRUPTED_EXTENSION = """
try:
    raise KeyboardInterrupt
except KeyboardInterrupt as exc:
    raise ImportError("initialization failed") from exc
"""


@pytest.fixture
def module_dir(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in ("edgesub_test_interrupted", "edgesub_test_broken"):
        sys.modules.pop(name, None)


def test_a_missing_module_names_the_extra():
    with pytest.raises(MissingDependencyError, match=r"pip install 'edgesub\[report\]'"):
        require("no_such_module_for_edgesub", "report")


def test_ctrl_c_during_an_import_is_an_interrupt_not_a_missing_package(module_dir):
    """A Ctrl-C in the report stage used to end in 'matplotlib is ... not installed'."""
    (module_dir / "edgesub_test_interrupted.py").write_text(INTERRUPTED_EXTENSION)
    with pytest.raises(KeyboardInterrupt):
        require("edgesub_test_interrupted")


def test_the_cli_exits_130_for_an_error_caused_by_ctrl_c(module_dir):
    (module_dir / "edgesub_test_interrupted.py").write_text(INTERRUPTED_EXTENSION)
    with pytest.raises(ImportError) as info:
        import edgesub_test_interrupted  # noqa: F401
    code, message = _describe_failure(info.value, "edgesub run --resume runs/x")
    assert code == 130 and message == "interrupted; continue with: edgesub run --resume runs/x"


def test_an_import_that_fails_on_its_own_is_still_a_missing_dependency(module_dir):
    (module_dir / "edgesub_test_broken.py").write_text("raise ImportError('libfoo.so missing')")
    with pytest.raises(MissingDependencyError, match=r"libfoo\.so missing"):
        require("edgesub_test_broken")
