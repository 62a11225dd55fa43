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


def _claims() -> dict[str, list[tuple[str, StoreFactory]]]:
    """Every scheme the installed plugins serve, with each claimant's name and factory."""
    manager = get_plugin_manager()
    claims: dict[str, list[tuple[str, StoreFactory]]] = {}
    for impl in manager.hook.tornado_sessions_add_stores.get_hookimpls():
        plugin = impl.plugin
        label = getattr(plugin, "__name__", None) or type(plugin).__qualname__
        if impl.plugin_name != label and not impl.plugin_name.isdigit():
            label = f"{impl.plugin_name} ({label})"
        contributed = cast(Mapping[str, StoreFactory], impl.function())
        for scheme, factory in contributed.items():
            owners = claims.setdefault(scheme.lower(), [])
            if all(existing is not factory for _, existing in owners):
                owners.append((label, factory))
    return claims


def store_schemes() -> dict[str, StoreFactory]:
    """Every URL scheme exactly one installed plugin serves, mapped to its factory.

    A scheme two plugins claim is left out; :func:`create_store` names both.
    """
    return {scheme: owners[0][1] for scheme, owners in _claims().items() if len(owners) == 1}


def create_store(url: str, *, timeout: float = 2.0) -> Store:
    """Build a store from a URL, choosing the plugin by the URL's scheme.

    ``create_store("redis://127.0.0.1:6379/0")`` needs ``tornado-sessions-redis``
    installed; ``memory://`` is always there.

    :raises ConfigurationError: for an unknown scheme (the message lists the known
        ones), or one that two installed plugins claim (the message names both).
    """
    scheme = urlsplit(url).scheme.lower()
    claims = _claims()
    owners = claims.get(scheme)
    if not owners:
        known = ", ".join(f"{name}://" for name in sorted(claims))
        raise ConfigurationError(
            f"no installed store plugin serves {scheme or url!r} URLs (known: {known}); "
            "install the plugin package that provides it"
        )
    if len(owners) > 1:
        names = " and ".join(label for label, _ in owners)
        raise ConfigurationError(
            f"store scheme {scheme!r} is claimed by both {names}; uninstall one of them "
            "or pass a Store instance instead of a URL"
        )
    return owners[0][1](url, timeout=timeout)


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
