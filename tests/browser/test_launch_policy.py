"""The browser suite's launch policy: a browser that cannot start fails CI and skips elsewhere.

Owns the check that the policy in ``conftest.py`` does what ``make test`` relies on,
using a Chromium path that does not exist.
"""

from __future__ import annotations

import pytest

MISSING = "/nonexistent/chromium"


def test_a_browser_that_cannot_start_fails_under_ci(launch_chromium, monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"must run in CI.*Chromium did not start"):
        launch_chromium(executable=MISSING)


def test_a_browser_that_cannot_start_is_skipped_with_the_reason_elsewhere(
    launch_chromium, monkeypatch
):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="skipped: Chromium did not start"):
        launch_chromium(executable=MISSING)
