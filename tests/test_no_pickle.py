"""No pickle anywhere in the packages: nothing deserializes Python objects from bytes (issue 6)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("actors", "transport", "schemas", "sim")
FORBIDDEN = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "shelve", "marshal", "jsonpickle"}
"""Modules that turn bytes into arbitrary Python objects."""


def _imports(source: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") in ("__import__", "import_module"):
            found.update(a.value.split(".")[0] for a in node.args if isinstance(a, ast.Constant)
                         and isinstance(a.value, str))
    return found


def test_packages_when_scanned_then_no_module_imports_pickle_or_kin():
    """No module in actors/, transport/, schemas/ or sim/ imports pickle, marshal, shelve or dill."""
    files = [path for package in PACKAGES for path in sorted((REPO / package).rglob("*.py"))]
    assert len(files) > 20
    offenders = {str(path.relative_to(REPO)): sorted(_imports(path.read_text()) & FORBIDDEN) for path in files}
    assert {path: names for path, names in offenders.items() if names} == {}


def test_packages_when_scanned_then_no_multiprocess_thespian_base():
    """Thespian's multiprocess bases pickle messages: only the in-process simple base is named."""
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            text = path.read_text()
            assert "multiprocQueueBase" not in text and "multiprocTCPBase" not in text, path
            assert "multiprocUDPBase" not in text, path


def test_scanner_when_pickle_imported_then_found():
    """The scanner sees plain, from- and dynamic imports."""
    assert _imports("import pickle\nfrom marshal import loads\n__import__('dill')") == {"pickle", "marshal", "dill"}
