"""``options.redact_url``: no password of a store URL survives, wherever the URL puts it."""

from __future__ import annotations

import pytest

from tornado_sessions import SessionOptions
from tornado_sessions.options import redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("memory://", "memory://"),
        ("redis://:s3cret@host:6379/0", "redis://:***@host:6379/0"),
        ("mongodb://app:s3cret@host/db", "mongodb://app:***@host/db"),
        ("redis://host/0?password=s3cret", "redis://host/0?password=***"),
        (
            "redis://host/0?db=1&PASSWORD=s3cret&prefix=x",
            "redis://host/0?db=1&PASSWORD=***&prefix=x",
        ),
        ("redis://u:one@host/0?password=two", "redis://u:***@host/0?password=***"),
        ("memory://?password=s3cret", "memory://?password=***"),
        ("redis://host/0?my_password_hint=kept", "redis://host/0?my_password_hint=kept"),
    ],
)
def test_redact_url_hides_passwords_in_userinfo_and_query(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_repr_of_options_keeps_a_url_without_password_as_written() -> None:
    assert "store='memory://'" in repr(SessionOptions(secret="x" * 32))


def test_repr_of_options_hides_a_query_password() -> None:
    options = SessionOptions(secret="x" * 32, store="redis://host/0?password=s3cret")
    assert "s3cret" not in repr(options)
