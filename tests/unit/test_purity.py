"""The core (domain, policy, pricing) does no I/O: checked on the source, not by hope."""

import ast
from pathlib import Path

import pytest

import subacct

CORE = ["domain", "policy", "pricing"]
FORBIDDEN_MODULES = {
    "os",
    "sys",
    "io",
    "sqlite3",
    "pathlib",
    "uuid",
    "random",
    "secrets",
    "socket",
    "subprocess",
    "threading",
    "time",
    "shutil",
    "tempfile",
    "logging",
    "subacct.storage",
    "subacct.services",
    "subacct.app",
    "subacct.cli",
    "subacct.runtime",
}
FORBIDDEN_CALLS = {"now", "utcnow", "today", "open", "print", "input"}

ROOT = Path(subacct.__file__).parent
CORE_FILES = sorted(p for pkg in CORE for p in (ROOT / pkg).rglob("*.py"))


def test_core_has_files() -> None:
    assert any("domain" in str(p) for p in CORE_FILES)


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_core_module_is_pure(path: Path) -> None:
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        for name in names:
            top = {name, name.split(".")[0], ".".join(name.split(".")[:2])}
            assert not top & FORBIDDEN_MODULES, f"{path.name} imports {name}"
        if isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            assert called not in FORBIDDEN_CALLS, f"{path.name} calls {called}()"
        if isinstance(node, ast.Global):
            pytest.fail(f"{path.name} uses a global statement")


_MUTABLE = (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp, ast.SetComp)


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_core_module_holds_no_mutable_state(path: Path) -> None:
    """Module-level tables are read-only (``MappingProxyType``, tuples, frozensets)."""
    tree = ast.parse(path.read_text(), str(path))
    for node in tree.body:
        value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
        if isinstance(value, _MUTABLE) and not _is_dunder_all(node):
            pytest.fail(f"{path.name}:{node.lineno} binds a mutable {type(value).__name__}")


def _is_dunder_all(node: ast.stmt) -> bool:
    targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
    return any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets)
