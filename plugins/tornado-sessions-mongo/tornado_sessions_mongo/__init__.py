"""MongoDB session store for tornado-sessions: ``mongodb://`` and ``mongodb+srv://`` URLs.

Install the distribution and use a URL::

    SessionOptions(store="mongodb://127.0.0.1:27017/app?collection=sessions")

or hand over a client you already have (PyMongo's ``AsyncMongoClient`` or Motor)::

    SessionOptions(store=MongoStore(client, database="app"))
"""

from .fields import escape_field, unescape_field
from .store import MongoStore

__version__ = "0.1.0"

__all__ = ["MongoStore", "escape_field", "unescape_field"]
