"""SECURITY.md stays true: every test it names exists, and every table row names one.

Owns the link between the threat model / requirement tables of ``SECURITY.md`` and
this folder.  A renamed or deleted test, a new row without evidence, a status word
outside the legend, or a recommended configuration that no longer constructs, fails
here.  (That the named tests pass is what the rest of ``make test`` shows.)
"""

from __future__ import annotations

import ast
import base64
import re
import secrets
from pathlib import Path

import pytest

from tornado_sessions import SessionOptions

ROOT = Path(__file__).resolve().parents[2]
SECURITY_MD = ROOT / "SECURITY.md"
HERE = Path(__file__).resolve().parent
REFERENCE = re.compile(r"`(test_\w+\.py)::(test_\w+)`")
STATUSES = ("Met", "Met (configure)", "Partly", "Not met", "App")
THREATS = (
    "Session hijacking",
    "Session fixation",
    "Forged cookies",
    "Replayed cookies",
    "Stolen store dumps",
    "Brute-forcing ids",
    "Cookie tossing from sibling domains",
    "Oversized and malformed input",
    "Deserialization attacks",
    "Store outages",
    "Concurrent-request races",
)


def _text() -> str:
    return SECURITY_MD.read_text(encoding="utf-8")


def _tests_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
    }


_SEPARATOR = re.compile(r"\|(\s*:?-+:?\s*\|)+")


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split(" | ")]


def _table_rows() -> list[tuple[str, dict[str, str]]]:
    """(section heading, {column header: cell}) of every body row of every table."""
    rows: list[tuple[str, dict[str, str]]] = []
    lines = _text().splitlines()
    heading = ""
    header: list[str] = []
    for i, line in enumerate(lines):
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        if not line.startswith("|") or _SEPARATOR.fullmatch(line):
            continue
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if _SEPARATOR.fullmatch(following):
            header = _cells(line)
            continue
        cells = _cells(line)
        assert len(cells) == len(header), f"row with {len(cells)} cells: {line[:60]}"
        rows.append((heading, dict(zip(header, cells, strict=True))))
    return rows


def test_every_test_named_in_security_md_exists() -> None:
    references = REFERENCE.findall(_text())
    assert len(references) > 100
    missing = []
    cache: dict[str, set[str]] = {}
    for filename, test in references:
        path = HERE / filename
        if not path.exists():  # a core test in tests/, cited where it is the proof
            path = HERE.parent / filename
        if not path.exists():
            missing.append(f"{filename} (no such file)")
            continue
        if test not in cache.setdefault(filename, _tests_in(path)):
            missing.append(f"{filename}::{test}")
    assert missing == []


def test_every_table_row_names_a_test() -> None:
    rows = _table_rows()
    assert len(rows) > 60
    without = [
        " | ".join(row.values())[:80] for _, row in rows if not REFERENCE.search(row["Evidence"])
    ]
    assert without == []


def test_every_requirement_row_has_a_status_from_the_legend() -> None:
    bad = []
    checked = 0
    for heading, row in _table_rows():
        if heading.startswith("Threat model"):
            continue
        checked += 1
        if not any(row["Status"].startswith(word) for word in STATUSES):
            bad.append(f"{heading}: {next(iter(row.values()))} -> {row['Status'][:40]}")
    assert checked > 50 and bad == []


def test_the_threat_model_covers_every_threat_of_the_issue() -> None:
    threats = [row["Threat"] for heading, row in _table_rows() if heading == "Threat model"]
    assert [t for t in THREATS if t not in threats] == []


def test_every_test_module_of_this_folder_is_cited() -> None:
    cited = {filename for filename, _ in REFERENCE.findall(_text())}
    modules = {p.name for p in HERE.glob("test_*.py")} - {Path(__file__).name}
    assert modules - cited == set()


def test_the_recommended_configuration_constructs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SESSION_KEY", base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
    blocks = re.findall(r"```python\n(.*?)```", _text(), flags=re.S)
    assert len(blocks) == 1
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], str(SECURITY_MD), "exec"), namespace)
    options = namespace["options"]
    assert isinstance(options, SessionOptions)
    assert options.name.startswith("__Host-") and options.cookie_secure is True
    assert options.max_age <= 30 * 60 and options.absolute_timeout == 12 * 3600
    assert options.browser_session_cookie
    assert options.clear_site_data and len(options.encryption_key_bytes()) == 1


@pytest.mark.parametrize("status", STATUSES)
def test_the_legend_defines_every_status_word(status: str) -> None:
    assert f"- **{status}**:" in _text()
