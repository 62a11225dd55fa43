"""Finding plugins: the pluggy manager, store URLs and serializer names.

The manager is built once, on first use (``open_sessions`` at start-up): it
registers the core's own plugin (:mod:`tornado_sessions.builtin`) and then every
module named in the ``tornado_sessions`` entry-point group of the installed
distributions.  Plugin modules should import their driver only when a store is
created, so that discovery stays cheap for an application that uses ``memory://``.

Mistakes get messages that say what to do: an unknown scheme or serializer name
suggests the nearest known one, and a scheme served by a distribution of this
project that is not installed names the package to install.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import cast
from urllib.parse import urlsplit

import pluggy

from . import builtin, hooks
from .errors import ConfigurationError
from .hooks import StoreFactory
from .serializers import Serializer
from .stores.base import Store

__all__ = [
    "KNOWN_PLUGINS",
    "create_store",
    "get_plugin_manager",
    "get_serializer",
    "serializer_names",
    "store_schemes",
]

#: URL schemes served by this project's plugin distributions, to name the one to install.
KNOWN_PLUGINS: Mapping[str, str] = {
    "redis": "tornado-sessions-redis",
    "rediss": "tornado-sessions-redis",
    "unix": "tornado-sessions-redis",
    "redis+cluster": "tornado-sessions-redis",
    "rediss+cluster": "tornado-sessions-redis",
    "mongodb": "tornado-sessions-mongo",
    "mongodb+srv": "tornado-sessions-mongo",
    "postgresql": "tornado-sessions-postgres",
    "postgres": "tornado-sessions-postgres",
    "sqlite": "tornado-sessions-sqlite",
}

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


def _label(impl: pluggy.HookImpl) -> str:
    plugin = impl.plugin
    label = getattr(plugin, "__name__", None) or type(plugin).__qualname__
    if impl.plugin_name != label and not impl.plugin_name.isdigit():
        label = f"{impl.plugin_name} ({label})"
    return label


def _claims() -> dict[str, list[tuple[str, StoreFactory]]]:
    """Every scheme the installed plugins serve, with each claimant's name and factory."""
    claims: dict[str, list[tuple[str, StoreFactory]]] = {}
    for impl in get_plugin_manager().hook.tornado_sessions_add_stores.get_hookimpls():
        contributed = cast(Mapping[str, StoreFactory], impl.function())
        for scheme, factory in contributed.items():
            owners = claims.setdefault(scheme.lower(), [])
            if all(existing is not factory for _, existing in owners):
                owners.append((_label(impl), factory))
    return claims


def store_schemes() -> dict[str, StoreFactory]:
    """Every URL scheme exactly one installed plugin serves, mapped to its factory.

    A scheme two plugins claim is left out; :func:`create_store` names both.
    """
    return {scheme: owners[0][1] for scheme, owners in _claims().items() if len(owners) == 1}


def create_store(url: str, *, timeout: float = 2.0) -> Store:
    """Build a store from a URL, choosing the plugin by the URL's scheme.

    ``create_store("redis://127.0.0.1:6379/0")`` needs ``tornado-sessions-redis``
    installed; ``memory://`` is always there.  The store is not opened yet: the
    core awaits ``store.open()`` before using it.

    :raises ConfigurationError: for an unknown scheme (the message suggests the
        nearest known one, or names the package that serves it), one that two
        installed plugins claim (naming both), or a URL its plugin refuses.
    """
    if not isinstance(url, str):
        raise ConfigurationError(f"a store URL must be a str, not {type(url).__name__}")
    scheme = urlsplit(url).scheme.lower()
    claims = _claims()
    owners = claims.get(scheme)
    if not owners:
        raise ConfigurationError(_unknown_scheme(url, scheme, sorted(claims)))
    if len(owners) > 1:
        names = " and ".join(label for label, _ in owners)
        raise ConfigurationError(
            f"store scheme {scheme!r} is claimed by both {names}; uninstall one of them "
            "or pass a Store instance instead of a URL"
        )
    store = owners[0][1](url, timeout=timeout)
    if not isinstance(store, Store):
        raise ConfigurationError(
            f"the plugin serving {scheme}:// returned {type(store).__name__}, not a Store"
        )
    return store


def _unknown_scheme(url: str, scheme: str, known: list[str]) -> str:
    listed = ", ".join(f"{name}://" for name in known)
    if not scheme:
        return f"store URL {url!r} has no scheme (known: {listed}); write e.g. 'memory://'"
    package = KNOWN_PLUGINS.get(scheme)
    if package is not None:
        return (
            f"no installed store plugin serves {scheme}:// URLs: install it with "
            f"'pip install {package}' (installed: {listed})"
        )
    message = f"no installed store plugin serves {scheme}:// URLs (known: {listed})"
    near = difflib.get_close_matches(scheme, [*known, *KNOWN_PLUGINS], n=1, cutoff=0.6)
    if near:
        message += f"; did you mean {near[0]}://?"
    return message


def serializer_names() -> dict[str, Serializer]:
    """Every serializer the installed plugins register, by name."""
    found: dict[str, Serializer] = {}
    for result in get_plugin_manager().hook.tornado_sessions_add_serializers():
        found.update(result)
    return found


def get_serializer(name: str) -> Serializer:
    """The serializer registered under ``name`` (``"msgpack"``, ``"json"``, or a plugin's)."""
    found = serializer_names()
    try:
        return found[name]
    except KeyError:
        known = sorted(found)
        message = f"unknown serializer {name!r} (known: {', '.join(known)})"
        near = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        if near:
            message += f"; did you mean {near[0]!r}?"
        raise ConfigurationError(message) from None
