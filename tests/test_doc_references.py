"""Documents named in the code exist: a docstring pointing at a missing file misleads a reader."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# a path with a folder, e.g. docs/run-directory.md (bare names are files the code writes)
DOC_PATH = re.compile(r"\b[\w.-]+(?:/[\w.-]+)+\.md\b")


def test_every_document_path_in_the_code_exists():
    missing = sorted(
        f"{path.relative_to(ROOT)}: {name}"
        for folder in ("edgesub", "converters")
        for path in (ROOT / folder).rglob("*.py")
        for name in DOC_PATH.findall(path.read_text(encoding="utf-8"))
        if not (ROOT / name).is_file()
    )
    assert missing == []


def test_bare_design_documents_are_not_cited():
    """DESIGN.md and schemas.md are not in the repository; cite docs/ or the README instead."""
    cited = sorted(
        str(path.relative_to(ROOT))
        for folder in ("edgesub", "converters")
        for path in (ROOT / folder).rglob("*.py")
        if re.search(r"\b(DESIGN|schemas)\.md\b", path.read_text(encoding="utf-8"))
    )
    assert cited == []
