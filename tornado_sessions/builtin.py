"""The core's own plugin: the memory store and the two serializers.

Registered through the same hooks a third-party plugin implements, so the
built-in pieces are found exactly the way everyone else's are.
"""

from __future__ import annotations

from collections.abc import Mapping

from .hooks import StoreFactory, hookimpl
from .serializers import JSONSerializer, MsgpackSerializer, Serializer
from .stores.base import Store
from .stores.memory import MemoryStore


def _memory_from_url(url: str, *, timeout: float) -> Store:
    """``memory://`` takes one optional query parameter: ``max_entries``."""
    from urllib.parse import parse_qs, urlsplit

    query = parse_qs(urlsplit(url).query)
    if "max_entries" in query:
        return MemoryStore(max_entries=int(query["max_entries"][-1]))
    return MemoryStore()


@hookimpl
def tornado_sessions_add_stores() -> Mapping[str, StoreFactory]:
    return {"memory": _memory_from_url}


@hookimpl
def tornado_sessions_add_serializers() -> Mapping[str, Serializer]:
    return {"msgpack": MsgpackSerializer(), "json": JSONSerializer()}
