"""Every ```python block in README.md and docs/*.md runs, in order, per file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def test_docs_exist() -> None:
    names = {p.name for p in DOCS}
    assert {"overview.md", "concepts.md", "quickstart.md", "storage.md"} <= names


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_examples_in_docs_run(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    namespace: dict[str, object] = {"__name__": f"docs_{path.stem}"}
    for number, block in enumerate(BLOCK.findall(path.read_text()), start=1):
        try:
            exec(compile(block, f"{path.name}[block {number}]", "exec"), namespace)
        except Exception as exc:  # pragma: no cover - the message is the point
            pytest.fail(f"{path.name} block {number} failed: {exc!r}\n{block}")


TEST_REF = re.compile(r"`(tests/[\w/]+\.py)(?:::\s*(\w+))?`")
NAMED_TEST = re.compile(r"`(?:(?:Store|Ledger)Conformance\.)?(test_\w+)`")


def test_the_tests_the_docs_name_exist() -> None:
    """A guarantee in the docs names the test that shows it: that file and test exist."""
    sources = {p: p.read_text() for p in (ROOT / "tests").rglob("*.py")}
    sources |= {p: p.read_text() for p in (ROOT / "src" / "subacct" / "testing").glob("*.py")}
    everything = "\n".join(sources.values())
    for path in DOCS:
        text = path.read_text().replace("::\n  ", "::")
        for file, name in TEST_REF.findall(text):
            assert (ROOT / file).is_file(), f"{path.name} names {file}, which does not exist"
            if name:
                assert f"def {name}(" in (ROOT / file).read_text(), f"{path.name}: {file}::{name}"
        for name in NAMED_TEST.findall(text):
            assert f"def {name}(" in everything, f"{path.name} names {name}, which does not exist"
