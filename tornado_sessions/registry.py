"""Finding plugins: the pluggy manager, store URLs and serializer names.

The manager is built once, on first use: it registers the core's own plugin
(:mod:`tornado_sessions.builtin`) and then every module named in the
``tornado_sessions`` entry-point group of the installed distributions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast
from urllib.parse import urlsplit

import pluggy

from . import builtin, hooks
from .errors import ConfigurationError
from .hooks import StoreFactory
from .serializers import Serializer
from .stores.base import Store

__all__ = ["create_store", "get_plugin_manager", "get_serializer", "store_schemes"]

_manager: pluggy.PluginManager | None = None


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager; register extra plugins on it with ``register``."""
    global _manager
    if _manager is None:
        manager = pluggy.PluginManager(hooks.PROJECT)
        manager.add_hookspecs(hooks)
        manager.register(builtin, name="tornado_sessions.builtin")
        manager.load_setuptools_entrypoints(hooks.PROJECT)
        _manager = manager
    return _manager


def store_schemes() -> dict[str, StoreFactory]:
    """Every URL scheme the installed plugins serve, mapped to its factory.

    :raises ConfigurationError: if two plugins claim one scheme.
    """
    manager = get_plugin_manager()
    factories: dict[str, StoreFactory] = {}
    owners: dict[str, str] = {}
    for impl in manager.hook.tornado_sessions_add_stores.get_hookimpls():
        contributed = cast(Mapping[str, StoreFactory], impl.function())
        for scheme, factory in contributed.items():
            scheme = scheme.lower()
            if scheme in factories and factories[scheme] is not factory:
                raise ConfigurationError(
                    f"store scheme {scheme!r} is claimed by both {owners[scheme]} "
                    f"and {impl.plugin_name}"
                )
            factories[scheme] = factory
            owners[scheme] = impl.plugin_name
    return factories


def create_store(url: str, *, timeout: float = 2.0) -> Store:
    """Build a store from a URL, choosing the plugin by the URL's scheme.

    ``create_store("redis://127.0.0.1:6379/0")`` needs ``tornado-sessions-redis``
    installed; ``memory://`` is always there.

    :raises ConfigurationError: for an unknown scheme (the message lists the known ones).
    """
    scheme = urlsplit(url).scheme.lower()
    factories = store_schemes()
    factory = factories.get(scheme)
    if factory is None:
        known = ", ".join(sorted(f"{name}://" for name in factories))
        raise ConfigurationError(
            f"no installed store plugin serves {scheme or url!r} URLs (known: {known}); "
            "install the plugin package that provides it"
        )
    return factory(url, timeout=timeout)


def get_serializer(name: str) -> Serializer:
    """The serializer registered under ``name`` (``"msgpack"``, ``"json"``, or a plugin's)."""
    found: dict[str, Serializer] = {}
    for result in get_plugin_manager().hook.tornado_sessions_add_serializers():
        found.update(result)
    try:
        return found[name]
    except KeyError:
        known = ", ".join(sorted(found))
        raise ConfigurationError(f"unknown serializer {name!r} (known: {known})") from None
