"""The house by stage: which package may import which (each package's __init__ says it too)."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "syncd"

# The shared infrastructure at the top that every stage may use.
INFRA = {"syncd", "syncd.errors", "syncd.clock", "syncd.logs", "syncd.metrics", "syncd.config",
         "syncd.yamlsrc"}
ADAPTERS = {"inbox", "outbox", "channels", "discourse", "store", "web", "intake", "importers",
            "timers"}
WIRING = {"service", "processor", "replay"}

# package -> the syncd packages and top-level modules it must never import
FORBIDDEN: dict[str, set[str]] = {
    "core": ADAPTERS | WIRING | {"rules", "cli", "logs", "metrics", "config", "yamlsrc"},
    "rules": ADAPTERS | WIRING | {"cli"},
    "store": ADAPTERS - {"store"} | WIRING | {"rules", "cli"},
    "channels": {"inbox", "discourse", "store", "cli", "web"} | WIRING,
    "discourse": {"inbox", "channels", "cli", "web"},
    "inbox": {"channels", "discourse", "cli"},
    "outbox": {"inbox", "cli", "web"},
    "timers": {"inbox", "channels", "discourse", "web", "cli"},
    "web": {"inbox", "outbox", "channels", "discourse", "cli"} | WIRING,
    "importers": {"inbox", "channels", "outbox", "cli", "web", "intake"} | WIRING,
}
# Pure modules: the standard library and other pure modules only.
PURE_PACKAGES = ("syncd/core/",)
PURE_FILES = {"syncd/errors.py", "syncd/clock.py", "syncd/inbox/signature.py",
              "syncd/rules/engine.py", "syncd/rules/conditions.py",
              "syncd/importers/freshdesk/reader.py", "syncd/importers/freshdesk/mapping.py"}


def imports(path: Path) -> list[tuple[int, str]]:
    """Every absolute import in a file, with its line, including imports inside functions."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            if node.module == "syncd":  # from syncd import x: x is a module or package
                found += [(node.lineno, f"syncd.{a.name}") for a in node.names]
    return found


def stage_of(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if parts[0] == "syncd" and len(parts) > 1 else None


def python_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_package_says_what_it_holds_and_may_import():
    """Each package's __init__.py has a docstring naming what it may import."""
    for init in PACKAGE.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert "import" in doc.lower(), f"{init.relative_to(ROOT)}: say what the package may import"


def test_stages_import_only_downstream():
    """core and rules import no adapter; channels and discourse no inbox; store no worker."""
    broken = []
    for path in python_files():
        rel = path.relative_to(PACKAGE).parts
        if len(rel) < 2 or rel[0] not in FORBIDDEN:
            continue
        for line, name in imports(path):
            if stage_of(name) in FORBIDDEN[rel[0]]:
                broken.append(f"{path.relative_to(ROOT)}:{line}: {rel[0]} imports {name}")
    assert not broken, "layering broken:\n" + "\n".join(broken)


def test_nothing_imports_the_cli():
    """The CLI is the outermost layer: only the entry point and the CLI itself import it."""
    broken = []
    for path in python_files():
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "cli" or str(rel) == "__main__.py":
            continue
        broken += [f"{path.relative_to(ROOT)}:{line}: imports {name}"
                   for line, name in imports(path) if stage_of(name) == "cli"]
    assert not broken, "nothing may import syncd.cli:\n" + "\n".join(broken)


def test_pure_core_imports_only_stdlib():
    """The event model, state machine, drift, signature and rules engine: stdlib only."""
    pure = [p for p in python_files()
            if str(p.relative_to(ROOT)).startswith(PURE_PACKAGES) or str(p.relative_to(ROOT)) in PURE_FILES]
    assert len(pure) >= 8, "the pure core went missing"
    pure_modules = {str(p.relative_to(ROOT))[:-3].replace("/", ".").removesuffix(".__init__")
                    for p in pure}
    broken = []
    for path in pure:
        for line, name in imports(path):
            top = name.split(".")[0]
            ok = (name in pure_modules or name == "syncd") if top == "syncd" \
                else top in sys.stdlib_module_names
            if not ok:
                broken.append(f"{path.relative_to(ROOT)}:{line}: imports {name}")
    assert not broken, "the pure core imports an adapter or a library:\n" + "\n".join(broken)


def test_layering_check_catches_a_bad_import(tmp_path):
    """The scan sees imports inside functions and `from syncd import x` forms."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from syncd import store\n    import syncd.inbox.http\n")
    assert {name for _, name in imports(bad)} >= {"syncd.store", "syncd.inbox.http"}
