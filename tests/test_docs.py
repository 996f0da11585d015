"""The documents stand alone (issue 13): no citation of files outside the repository, a short front door, a README per package."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCANNED_SUFFIXES = (".py", ".md", ".js", ".html", ".css", ".toml", ".cfg")
SKIPPED_DIRS = {".venv", ".git", "__pycache__", "node_modules", "build", "dist", ".pytest_cache", ".hypothesis"}
PACKAGE_READMES = ("actors", "transport", "sim", "schemas", "ui", "perf")
README_MAX_LINES = 220
TEST_COMMAND = "python3 -m venv .venv && .venv/bin/pip install -e '.[test,ctp]' && .venv/bin/python -m pytest"
"""The README's second command; .ci/run runs it word for word."""

# Built from pieces so that this file does not cite what it forbids.
_OUTSIDE = re.compile(r"\.\./shared/(?!data(?:/|\b))|\.\./shared/data/README")
_DOCUMENTS = re.compile("|".join(re.escape(name + ".md") for name in ("DESIGN", "FACTS", "CONVENTIONS"))
                        + r"|\bDESIGN\s*§")


def outside_citations(text: str) -> list[str]:
    """Return each line of ``text`` that cites a document outside the repository.

    The recorded-data folder ``../shared/data`` is a runtime default (ticks beside the checkout),
    so naming it is allowed; its README, the design notes and the measured-facts file are not.
    """
    return [line.strip() for line in text.splitlines() if _OUTSIDE.search(line) or _DOCUMENTS.search(line)]


def _scanned_files() -> list[Path]:
    files = []
    for path in REPO.rglob("*"):
        parts = set(path.relative_to(REPO).parts[:-1])
        if path.is_file() and path.suffix in SCANNED_SUFFIXES and not parts & SKIPPED_DIRS \
                and not any(part.endswith(".egg-info") for part in parts):
            files.append(path)
    return sorted(files)


def test_sources_and_documents_when_scanned_then_cite_nothing_outside_the_repository():
    """No .py/.md/.js/.html/.css/.toml/.cfg file cites the shared folder (but its data), the design notes or the facts file."""
    files = _scanned_files()
    assert len(files) > 100
    offenders = {str(path.relative_to(REPO)): outside_citations(path.read_text(errors="replace")) for path in files}
    assert {path: lines for path, lines in offenders.items() if lines} == {}


def test_scanner_when_citations_planted_then_each_found_and_the_data_folder_allowed():
    """The scanner sees every form of citation and lets the data folder's path through."""
    shared = "../" + "shared/"
    planted = [
        f"see {shared}DESIGN" + ".md",
        f"({shared}FACTS" + ".md)",
        "as CONVENTIONS" + ".md asks",
        "budgets (DESIGN" + " §11)",
        f"columns (see {shared}data/README" + ".md)",
        f"{shared}hooks/run",
    ]
    assert outside_citations("\n".join(planted)) == planted
    allowed = f"replay {shared}data/cn_futopt_l1_20171113.csv.gz\ndefault ``{shared}data`` beside the checkout"
    assert outside_citations(allowed) == []


def test_readme_when_counted_then_a_front_door_of_at_most_220_lines():
    """README.md stays the front door; the reference lives in the package READMEs."""
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines (limit {README_MAX_LINES})"


def test_package_readmes_when_listed_then_each_exists_and_readme_links_it():
    """actors, transport, sim, schemas, ui and perf each have a README, and README.md points to it."""
    readme = (REPO / "README.md").read_text()
    for package in PACKAGE_READMES:
        path = REPO / package / "README.md"
        assert path.is_file(), f"{package}/README.md is missing"
        assert len(path.read_text().splitlines()) > 10, f"{package}/README.md is empty"
        assert f"({package}/README.md)" in readme, f"README.md does not link {package}/README.md"


def test_readme_links_when_followed_then_every_relative_target_exists():
    """Every relative link and image of every README points at a file of the repository."""
    for path in [REPO / "README.md", *(REPO / package / "README.md" for package in PACKAGE_READMES)]:
        for target in re.findall(r"\]\(([^)#\s]+)\)", path.read_text()):
            if "://" in target:
                continue
            assert (path.parent / target).exists(), f"{path.relative_to(REPO)} links a missing {target}"


def test_readme_commands_when_compared_then_the_test_command_is_what_ci_runs():
    """README.md opens with the two virtualenv commands, and .ci/run runs the second word for word."""
    readme = (REPO / "README.md").read_text()
    assert "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/tickstage run" in readme
    assert TEST_COMMAND in readme
    assert TEST_COMMAND in (REPO / ".ci" / "run").read_text().splitlines()
