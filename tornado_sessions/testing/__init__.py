"""Test support: the store contract suite for store authors.

- :class:`StoreContract` (:mod:`tornado_sessions.testing.contract`): the tests every
  store must pass, reusable by plugins.

Imported only by tests: it needs ``pytest`` and ``pytest-tornado``.
"""

from .contract import StoreContract, record

__all__ = ["StoreContract", "record"]
