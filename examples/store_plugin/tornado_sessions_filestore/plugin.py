"""The pluggy plugin: registers ``filestore://`` URLs with tornado-sessions.

``setup.py`` names this module in the ``tornado_sessions`` entry-point group, so
installing the distribution is all it takes for
``SessionOptions(store="filestore:///var/lib/myapp/sessions")`` to work.
"""

from __future__ import annotations

from collections.abc import Mapping

from tornado_sessions.hooks import StoreFactory, hookimpl

from .store import FileStore

__all__ = ["tornado_sessions_add_stores"]


@hookimpl
def tornado_sessions_add_stores() -> Mapping[str, StoreFactory]:
    """The URL schemes this plugin serves, each with the factory that builds its store."""
    return {"filestore": FileStore.from_url}
