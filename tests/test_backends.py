"""One backend per model file format, with the part each stage adds (graph, runtime, artifact)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import edgesub.converters
import edgesub.profile.formats
import edgesub.profile.runtimes  # noqa: F401  (adds the runtimes)
from edgesub.backends import BACKENDS, Backend, backend_for
from edgesub.errors import ModelFileError


def test_every_format_has_every_part_once_the_stages_are_imported():
    for name in BACKENDS:
        backend = BACKENDS.get(name)
        assert backend_for(f"dir/model{backend.extension.upper()}") is backend
        assert backend.artifact.name == name and backend.artifact.extension == backend.extension
        assert callable(backend.parse_graph) and callable(backend.runtime().load)


def test_an_unknown_extension_is_one_line_listing_the_known_ones():
    with pytest.raises(ModelFileError, match=r"^model\.pt: unsupported model format '\.pt'; "):
        backend_for("x/model.pt")
    with pytest.raises(ModelFileError, match=r"model: unsupported model format \(no extension\)"):
        backend_for("model")


def test_a_missing_part_says_what_cannot_be_done_and_parts_are_given_once():
    keras = Backend("keras", ".keras", "Keras")
    with pytest.raises(ModelFileError, match="edgesub cannot measure Keras files"):
        keras.runtime  # noqa: B018
    keras.provides("graph")(len)
    with pytest.raises(ValueError, match="given twice"):
        keras.provides("graph")(len)


def test_the_backends_module_imports_no_stage():
    script = "import sys, edgesub.backends; print(sorted(m for m in sys.modules if 'edgesub' in m))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert "edgesub.profile" not in out.stdout and "edgesub.converters" not in out.stdout
