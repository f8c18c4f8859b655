"""Audit checks stand alone: a check module imports shared helpers, never a sibling check.

Every module of ``unskew.audit`` other than the package's ``__init__`` and
runner is parsed with :mod:`ast`. A check module may import, from inside the
audit package, only the shared modules (``_base``: the check interface;
``_common``: shared helpers; ``_features``: the feature encoding), and those
shared modules may import no check at all. Imports inside functions count too.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = "unskew.audit"
# (``unskew.audit`` the attribute is the audit function; the module is in sys.modules)
audit_pkg = importlib.import_module(PACKAGE)
AUDIT_DIR = Path(audit_pkg.__file__).parent
#: Modules every check may import.
SHARED = {"_base", "_common", "_features"}
#: Modules that import the checks on purpose (to register and run them).
INFRASTRUCTURE = {"__init__", "_runner"}


def audit_imports(source: str, module: str) -> set[str]:
    """Names of the ``unskew.audit`` modules that ``source`` (module ``unskew.audit.<module>``) imports."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[:2] == ["unskew", "audit"]:
                    out.add(parts[2] if len(parts) > 2 else "__init__")
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                parts = (node.module or "").split(".")
                if parts[:2] != ["unskew", "audit"]:
                    continue
                rest = parts[2:]
            elif node.level == 1:  # from . import x / from .x import y (inside unskew.audit)
                rest = (node.module or "").split(".") if node.module else []
            else:  # from .. (another package)
                continue
            if rest:
                out.add(rest[0])
            else:  # from . import a, b  /  from unskew.audit import a, b
                for alias in node.names:
                    name = alias.name
                    out.add(name if (AUDIT_DIR / f"{name}.py").exists() or name.startswith("_") else "__init__")
    out.discard(module)
    return out


def modules() -> dict[str, str]:
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(AUDIT_DIR.glob("*.py"))}


def check_modules() -> list[str]:
    return [m for m in modules() if m not in SHARED | INFRASTRUCTURE]


def test_there_are_check_modules():
    found = check_modules()
    # every check registered in the registry lives in one of the parsed modules
    assert len(found) >= 9
    for name in audit_pkg.list_checks():
        cls = audit_pkg.get_check(name)
        assert cls.__module__.startswith(PACKAGE + "."), cls
        assert cls.__module__.rsplit(".", 1)[1] in found


@pytest.mark.parametrize("module", check_modules())
def test_check_imports_no_sibling_check(module):
    imported = audit_imports(modules()[module], module)
    bad = sorted(imported - SHARED)
    assert not bad, f"unskew/audit/{module}.py imports {bad}; move what it needs into unskew/audit/_common.py"


@pytest.mark.parametrize("module", sorted(SHARED))
def test_shared_modules_import_no_check(module):
    imported = audit_imports(modules()[module], module)
    bad = sorted(imported - SHARED)
    assert not bad, f"shared module unskew/audit/{module}.py imports the check module(s) {bad}"


@pytest.mark.parametrize("source, expected", [
    ("from ._representation import fmt_p", {"_representation"}),
    ("from . import _shift", {"_shift"}),
    ("from unskew.audit._proxies import auc_and_interval", {"_proxies"}),
    ("import unskew.audit._missing", {"_missing"}),
    ("def f():\n    from ._duplicates import column_codes\n", {"_duplicates"}),
    ("from ._common import fmt_p\nfrom ._base import Check\nfrom ..data import Dataset", {"_common", "_base"}),
    ("from ..report import Table\nimport numpy as np", set()),
])
def test_the_parser_sees_every_form_of_import(source, expected):
    # the detector itself must be able to fail
    assert audit_imports(source, "_example") == expected
