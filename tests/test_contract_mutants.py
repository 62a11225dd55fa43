"""The store contract suite catches real store bugs, reads well when it fails, and runs clean.

Each store of ``tests/contract_mutants.py`` carries one planted bug; the suite's
test methods are called directly against it, and those meant to catch the bug
must fail with an :class:`AssertionError`.  The correct :class:`DictStore` they
derive from passes every test, so a failure is the bug's, not the harness's.
The last tests run the suite as a store author would, in a fresh pytest
process with no configuration of ours: failures show their values, and
``-W error`` finds nothing to complain about.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.contract_mutants import MUTANTS, DictStore
from tornado_sessions.stores.base import Store
from tornado_sessions.testing import StoreContract

TESTS = sorted(name for name in dir(StoreContract) if name.startswith("test_"))
ROOT = Path(__file__).resolve().parent.parent


def suite_for(store_class: type[Store]) -> StoreContract:
    class Suite(StoreContract):
        async def create_store(self) -> Store:
            return store_class()

    return Suite()


def outcome(suite: StoreContract, name: str) -> str:
    """``"passed"``, ``"skipped"``, or the failure message of one test of the suite."""
    try:
        getattr(suite, name)()
    except pytest.skip.Exception:
        return "skipped"
    except AssertionError as failure:
        return f"failed: {failure}"
    return "passed"


def test_the_correct_dict_store_passes_every_test() -> None:
    suite = suite_for(DictStore)
    results = {name: outcome(suite, name) for name in TESTS}
    assert {n: r for n, r in results.items() if r != "passed"} == {
        "test_open_prepares_a_store_that_works": "skipped"
    }


@pytest.mark.parametrize("mutant", list(MUTANTS), ids=lambda mutant: mutant.__name__)
def test_the_suite_fails_each_planted_bug(mutant: type[DictStore]) -> None:
    suite = suite_for(mutant)
    for name in MUTANTS[mutant]:
        result = outcome(suite, name)
        assert result.startswith("failed: "), (
            f"{name} did not catch {mutant.__name__} ({mutant.__doc__}): {result}"
        )


def test_failures_name_the_values() -> None:
    suite = suite_for(next(m for m in MUTANTS if m.__name__ == "CaseFoldedNames"))
    message = outcome(suite, "test_field_names_are_kept_exactly")
    assert "missing 'User', 'USER'" in message, message
    suite = suite_for(next(m for m in MUTANTS if m.__name__ == "WholeSeconds"))
    message = outcome(suite, "test_expiry_is_kept_to_the_millisecond")
    assert "off by -500.000 ms" in message or "off by -500.00" in message, message
    suite = suite_for(next(m for m in MUTANTS if m.__name__ == "TouchEverywhere"))
    message = outcome(suite, "test_touch_moves_only_the_expiry")
    assert "the neighbour session 'K1'" in message and "expires_at is" in message, message


AUTHOR_TESTS = """
from tornado_sessions import MemoryStore
from tornado_sessions.testing import StoreContract
from tests.contract_mutants import CaseFoldedNames


class TestMemory(StoreContract):
    async def create_store(self):
        return MemoryStore()


class TestCaseFolded(StoreContract):
    async def create_store(self):
        return CaseFoldedNames()
"""


def run_pytest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """pytest in a new process, on a test file of an author, with no configuration file."""
    (tmp_path / "test_author.py").write_text(textwrap.dedent(AUTHOR_TESTS))
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, "test_author.py"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize(
    "tornado_plugin",
    [
        # pytest-tornado itself fails to load under -W error with pytest 9 (its hook
        # uses old-style markers); the suite does not need it...
        ["-p", "no:tornado"],
        # ... or, loaded with that one warning ignored, it adds no other.
        ["-W", "ignore:The hookimpl pytest_py:pytest.PytestRemovedIn10Warning"],
    ],
    ids=["without-pytest-tornado", "with-pytest-tornado"],
)
def test_an_author_runs_the_suite_clean_under_w_error(
    tmp_path: Path, tornado_plugin: list[str]
) -> None:
    result = run_pytest(tmp_path, "-W", "error", *tornado_plugin, "-k", "TestMemory")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning" not in result.stdout.lower(), result.stdout
    assert " passed" in result.stdout and "error" not in result.stdout.lower(), result.stdout


def test_an_author_sees_readable_failures(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, "-W", "error", "-p", "no:tornado", "-k", "TestCaseFolded")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "AssertionError: field names (case, whitespace, Unicode, long) after save: " in (
        result.stdout
    ), result.stdout
    assert "missing 'User', 'USER'" in result.stdout, result.stdout
