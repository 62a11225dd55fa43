"""The core's own plugin: the memory store and the two serializers.

Registered through the same hooks a third-party plugin implements, so the
built-in pieces are found exactly the way everyone else's are.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlsplit

from .errors import ConfigurationError
from .hooks import StoreFactory, hookimpl
from .serializers import JSONSerializer, MsgpackSerializer, Serializer
from .stores.base import Store
from .stores.memory import MemoryStore

_MEMORY_OPTIONS = ("max_entries",)


def memory_from_url(url: str, *, timeout: float) -> Store:
    """``memory://`` takes one optional query option: ``max_entries`` (a positive integer)."""
    parts = urlsplit(url)
    if parts.netloc or parts.path not in ("", "/"):
        raise ConfigurationError(
            f"memory:// takes no host or path ({url!r}); write memory:// or memory://?max_entries=N"
        )
    options: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name not in _MEMORY_OPTIONS:
            message = f"unknown memory:// option {name!r} (valid: {', '.join(_MEMORY_OPTIONS)})"
            near = difflib.get_close_matches(name, _MEMORY_OPTIONS, n=1, cutoff=0.5)
            if near:
                message += f"; did you mean {near[0]!r}?"
            raise ConfigurationError(message)
        options[name] = value
    if "max_entries" not in options:
        return MemoryStore()
    text = options["max_entries"]
    if not text.isdigit() or int(text) < 1:
        raise ConfigurationError(
            f"memory:// max_entries must be a positive whole number of sessions, not {text!r}"
        )
    return MemoryStore(max_entries=int(text))


@hookimpl
def tornado_sessions_add_stores() -> Mapping[str, StoreFactory]:
    return {"memory": memory_from_url}


@hookimpl
def tornado_sessions_add_serializers() -> Mapping[str, Serializer]:
    return {"msgpack": MsgpackSerializer(), "json": JSONSerializer()}
