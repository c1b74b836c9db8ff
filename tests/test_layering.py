"""The pure core imports only the standard library and other pure modules."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PURE = ["syncd/events.py", "syncd/tickets.py", "syncd/errors.py", "syncd/clock.py",
        "syncd/signature.py", "syncd/rules/engine.py", "syncd/rules/conditions.py"]
PURE_MODULES = {p[:-3].replace("/", ".") for p in PURE}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_pure_core_imports_only_stdlib():
    """events, tickets and the rules engine import no flask, requests, sqlite or pydiscourse."""
    for rel in PURE:
        path = ROOT / rel
        assert path.exists(), f"{rel} is part of the pure core and must exist"
        for name in imports(path):
            top = name.split(".")[0]
            if top == "syncd":
                assert name in PURE_MODULES or name == "syncd", f"{rel} imports {name}"
            else:
                assert top in sys.stdlib_module_names, f"{rel} imports {name}"
