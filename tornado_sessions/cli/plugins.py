"""``tornado-sessions plugins``: every installed store scheme and serializer, and who provides it.

Read from the same plugin manager the application uses
(:func:`~tornado_sessions.registry.get_plugin_manager`), so what it lists is what
``SessionOptions(store=...)`` and ``SessionOptions(serializer=...)`` can name.  The
distribution of each plugin comes from its entry point; the core's own plugin is
``tornado-sessions``.  Schemes served by this project's plugins that are not
installed are listed with the package to install; a scheme two plugins claim is
flagged, since using it is a configuration error.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from importlib import metadata
from typing import Any, cast

import pluggy

from .. import builtin
from ..registry import KNOWN_PLUGINS, get_plugin_manager
from .exits import CommandError, ExitCode
from .output import Output

__all__ = ["add_parser", "installed"]

CORE = "tornado-sessions"


def _core_version() -> str:
    try:
        return metadata.version(CORE)
    except metadata.PackageNotFoundError:
        from .. import __version__

        return __version__


def _providers(manager: pluggy.PluginManager) -> dict[int, str]:
    """``id(plugin)`` -> "distribution version" for every plugin loaded from an entry point."""
    found = {id(builtin): f"{CORE} {_core_version()}"}
    for plugin, dist in manager.list_plugin_distinfo():
        found[id(plugin)] = f"{dist.project_name} {dist.version}"
    return found


def installed() -> dict[str, Any]:
    """``{"stores": [...], "serializers": [...], "not_installed": [...]}`` as the command prints."""
    manager = get_plugin_manager()
    providers = _providers(manager)
    stores: dict[str, list[str]] = {}
    for impl in manager.hook.tornado_sessions_add_stores.get_hookimpls():
        provider = providers.get(id(impl.plugin), f"{impl.plugin_name} (registered in-process)")
        for scheme in cast(Mapping[str, Any], impl.function()):
            claimants = stores.setdefault(scheme.lower(), [])
            if provider not in claimants:
                claimants.append(provider)
    serializers: dict[str, list[str]] = {}
    for impl in manager.hook.tornado_sessions_add_serializers.get_hookimpls():
        provider = providers.get(id(impl.plugin), f"{impl.plugin_name} (registered in-process)")
        for name in cast(Mapping[str, Any], impl.function()):
            serializers.setdefault(name, []).append(provider)
    return {
        "stores": [
            {"scheme": scheme, "provided_by": owners, "conflict": len(owners) > 1}
            for scheme, owners in sorted(stores.items())
        ],
        "serializers": [
            {"name": name, "provided_by": owners, "conflict": len(owners) > 1}
            for name, owners in sorted(serializers.items())
        ],
        "not_installed": [
            {"scheme": scheme, "install": package}
            for scheme, package in sorted(KNOWN_PLUGINS.items())
            if scheme not in stores
        ],
    }


def _lines(found: Mapping[str, Any]) -> list[str]:
    lines = ["store schemes:"]
    for entry in found["stores"]:
        owners = " and ".join(entry["provided_by"])
        flag = "  (conflict: using it is an error)" if entry["conflict"] else ""
        lines.append(f"  {entry['scheme'] + '://':<20} {owners}{flag}")
    lines.append("serializers:")
    for entry in found["serializers"]:
        owners = " and ".join(entry["provided_by"])
        lines.append(f"  {entry['name']:<20} {owners}")
    if found["not_installed"]:
        lines.append("not installed:")
        for entry in found["not_installed"]:
            lines.append(f"  {entry['scheme'] + '://':<20} pip install {entry['install']}")
    return lines


def run(args: argparse.Namespace, output: Output) -> ExitCode:
    try:
        found = installed()
    except Exception as exc:  # a plugin that fails to import or to answer its hook
        raise CommandError(
            ExitCode.CONFIGURATION, f"a plugin failed to load: {type(exc).__name__}: {exc}"
        ) from exc
    output.result(found, _lines(found))
    return ExitCode.OK


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "plugins",
        parents=[common],
        help="list installed store schemes and serializers, with their distributions",
        description=__doc__.split("\n\n", 1)[0] if __doc__ else None,
    )
    parser.set_defaults(run=run, asynchronous=False)
