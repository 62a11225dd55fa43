"""Test support: a client for testing your handlers, and the store contract suite.

- :class:`SessionClient` (:mod:`tornado_sessions.testing.client`): an HTTP client
  with a cookie jar that can plant, read and change the session of the
  application under test (works with pytest-tornado and ``AsyncHTTPTestCase``);
- :class:`StoreContract` (:mod:`tornado_sessions.testing.contract`): the tests every
  store must pass, reusable by plugins.  It needs ``pytest`` and ``pytest-tornado``
  and is imported only when asked for, so importing this package does not import
  pytest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .client import SessionClient

if TYPE_CHECKING:
    from .contract import StoreContract, record

__all__ = ["SessionClient", "StoreContract", "record"]


def __getattr__(name: str) -> Any:
    if name in ("StoreContract", "record"):
        from . import contract

        return getattr(contract, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
