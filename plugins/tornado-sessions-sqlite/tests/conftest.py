"""Fixtures for the SQLite store's tests: a database on a temporary file per test.

SQLite needs no server: ``sqlite_url`` names a new file in pytest's ``tmp_path``.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    return tmp_path / "sessions.db"


@pytest.fixture
def sqlite_url(sqlite_path: Path) -> str:
    """``sqlite:///`` + an absolute path (four slashes in all)."""
    return f"sqlite:///{sqlite_path}"
