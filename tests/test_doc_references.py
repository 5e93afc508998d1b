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
    """DESIGN.md is not in the repository, and schemas.md lives in docs/: cite it by that path
    (or the README) so the first test can check it."""
    cited = sorted(
        str(path.relative_to(ROOT))
        for folder in ("edgesub", "converters")
        for path in (ROOT / folder).rglob("*.py")
        if re.search(r"\bDESIGN\.md\b|(?<![\w/])schemas\.md\b", path.read_text(encoding="utf-8"))
    )
    assert cited == []


def test_the_record_modules_cite_docs_schemas_md():
    """docs/schemas.md is generated from these modules; each says where its keys are listed."""
    for name in (
        "edgesub/records.py",
        "edgesub/profile/profile_record.py",
        "edgesub/profile/compare_record.py",
        "converters/manifest_record.py",
    ):
        assert "docs/schemas.md" in (ROOT / name).read_text(encoding="utf-8"), name
