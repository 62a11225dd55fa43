"""MongoDB session store for tornado-sessions: ``mongodb://`` and ``mongodb+srv://`` URLs.

Install the distribution and use a URL::

    SessionOptions(store="mongodb://127.0.0.1:27017/app?collection=sessions")

or hand over a client you already have (PyMongo's ``AsyncMongoClient`` or Motor)::

    SessionOptions(store=MongoStore(client, database="app"))

:class:`MongoStore` (which needs PyMongo) is imported on first use, so importing
this package, as plugin discovery does in every application, does not import
the driver.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .fields import escape_field, unescape_field

if TYPE_CHECKING:
    from .store import MongoStore

__version__ = "0.1.0"

__all__ = ["MongoStore", "escape_field", "unescape_field"]


def __getattr__(name: str) -> Any:
    if name == "MongoStore":
        from .store import MongoStore

        return MongoStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
