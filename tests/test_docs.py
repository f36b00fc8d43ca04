"""The docs in docs/ stay true to the tree: every file and test they cite exists, and the code
points at them rather than at notes a user of acd does not have."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted((ROOT / "docs").glob("*.md"))
# Built from pieces so this file does not cite what it forbids.
FORBIDDEN = re.compile("DESIGN" + r"\.md|\.\./" + "shared|" + r"\bissue " + r"[0-9]+\b")
PATH = re.compile(r"`((?:acd|tests|deploy|bench|scripts|grafana|docs)/[\w./-]+)`")
TEST_REF = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)`")
BARE_TEST = re.compile(r"`(test_\w+)`")
TEXT = {".py", ".md", ".toml", ".conf", ".yml", ".yaml", ""}


def _tracked() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=False)
    if out.returncode != 0:  # not a git checkout (an sdist): every file below the root
        return [p for p in ROOT.rglob("*") if p.is_file() and ".venv" not in p.parts]
    return [ROOT / line for line in out.stdout.splitlines()]


def test_docs_exist() -> None:
    names = {p.name for p in DOCS}
    assert {"architecture.md", "asterisk.md"} <= names


def test_nothing_cites_notes_outside_the_repository() -> None:
    offenders = []
    for path in _tracked():
        if "fixtures" in path.parts or path.suffix not in TEXT:
            continue
        if not path.is_file():
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if FORBIDDEN.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert offenders == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_cited_file_and_test_exists(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    missing = [p for p in PATH.findall(text) if not (ROOT / p).exists()]
    assert missing == []
    for file, test in TEST_REF.findall(text):
        assert f"def {test}(" in (ROOT / file).read_text(encoding="utf-8"), f"{file}::{test}"
    defined = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").glob("test_*.py"))
    unknown = [t for t in BARE_TEST.findall(text) if f"def {t}(" not in defined]
    assert unknown == []
