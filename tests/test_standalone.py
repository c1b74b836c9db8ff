"""A fresh clone tests with nothing beside it: no file of the product or its tests reads the
shared folder that sits beside the checkout on a developer's machine."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# the parent's "shared" folder (either slash), a parents[N] climb to it, or the old variable;
# spelt in pieces so that this file does not match what it looks for
OLD_VARIABLE = "SYNCD_" + "REFERENCE"
OUTSIDE = re.compile(r"\.\.[/\\]+" + "shared" + r"\b|parents\[\d\]\s*/\s*[\"']shared[\"']|" + OLD_VARIABLE)
WATCHED = ["syncd", "tests", "bench", "Makefile", ".ci", "setup.cfg", "pyproject.toml"]


def watched_files() -> list[Path]:
    files = []
    for name in WATCHED:
        path = ROOT / name
        files += [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
    return [p for p in files if "__pycache__" not in p.parts and p.suffix not in {".pyc", ".json"}
            and p != Path(__file__)]


def test_nothing_reads_the_shared_folder_beside_the_checkout():
    """syncd, its tests, the benchmarks, the Makefile and CI never refer to the shared folder."""
    hits = []
    for path in watched_files():
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if OUTSIDE.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not hits, ("these refer to a folder a user's clone does not have; copy what they "
                      "need into the repository (tests/reference/):\n" + "\n".join(hits))


def test_the_guard_sees_each_way_of_pointing_there():
    """The pattern catches the relative path, a parents[] climb and the old variable."""
    for line in ['open("..' + '/shared/reference/x.json")', 'Path(__file__).parents[3] / "shared"',
                 f'os.environ["{OLD_VARIABLE}"]']:
        assert OUTSIDE.search(line), line
    assert not OUTSIDE.search('Path(__file__).parent / "reference"')


def test_every_reference_file_names_its_source():
    """Each published schema under tests/reference/ has a line in SOURCES.md."""
    sources = (ROOT / "tests/reference/SOURCES.md").read_text()
    for path in (ROOT / "tests/reference").iterdir():
        if path.name != "SOURCES.md":
            assert f"`{path.name}`" in sources, f"tests/reference/{path.name} has no SOURCES.md line"
