"""tornado-sessions-filestore: an example session store plugin, one file per session.

A complete, minimal plugin for tornado-sessions, written to be copied: the store
(:mod:`.store`), the hook that registers its URL scheme (:mod:`.plugin`), the entry
point in ``setup.py``, and a test that runs the shared contract suite.  See
``docs/writing-a-store.md`` in the tornado-sessions repository.
"""

from .store import FileStore

__all__ = ["FileStore"]
