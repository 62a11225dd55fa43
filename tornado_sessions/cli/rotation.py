"""The ``reencrypt`` command: re-seal a store's values with the first encryption key.

After putting a new key first in ``SessionOptions.encryption_keys``, values are
re-sealed as requests write them; ``reencrypt`` does the rest in one walk
(:func:`tornado_sessions.reencrypt_store`), after which older keys can be dropped.
The keys come from the environment, never from the command line (where ``ps`` and
shell histories would show them): ``TORNADO_SESSIONS_ENCRYPTION_KEYS``, comma-separated,
first one sealing, as in the application's settings.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from ..errors import ConfigurationError
from ..reencrypt import reencrypt_store
from .connect import opened_store, operation_failed, resolve_url
from .exits import CommandError, ExitCode
from .output import Output

__all__ = ["KEYS_VARIABLE", "add_parser"]

#: Where the command reads the keys.
KEYS_VARIABLE = "TORNADO_SESSIONS_ENCRYPTION_KEYS"


def _keys() -> list[str]:
    keys = [key.strip() for key in os.environ.get(KEYS_VARIABLE, "").split(",") if key.strip()]
    if not keys:
        raise CommandError(
            ExitCode.CONFIGURATION,
            f"set {KEYS_VARIABLE} to the application's encryption_keys, comma-separated, "
            "the new key first",
        )
    return keys


async def run_reencrypt(args: argparse.Namespace, output: Output) -> ExitCode:
    keys = _keys()
    url = resolve_url(args.url)
    async with opened_store(url, timeout=args.timeout) as connection:
        try:
            report = await reencrypt_store(
                connection.store, keys, seal_cleartext=args.seal_cleartext
            )
        except ConfigurationError as exc:
            code = ExitCode.UNSUPPORTED if "cannot list" in str(exc) else ExitCode.CONFIGURATION
            raise CommandError(code, str(exc)) from exc
        except Exception as exc:
            raise operation_failed(exc, "reencrypt", url) from exc
        output.result(
            {
                "url": connection.shown_url,
                "records": report.records,
                "resealed": report.resealed,
                "sealed_cleartext": report.sealed_cleartext,
                "unreadable": report.unreadable,
            },
            [
                f"{report.records} records in {connection.shown_url}: "
                f"{report.resealed} values re-sealed with the first key, "
                f"{report.sealed_cleartext} cleartext values sealed, "
                f"{report.unreadable} unreadable (no configured key opens them)"
            ],
        )
    return ExitCode.FAILURE if report.unreadable else ExitCode.OK


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "reencrypt",
        parents=[common],
        help=f"re-seal every value with the first key of ${KEYS_VARIABLE}",
    )
    parser.add_argument("url", nargs="?", help="store URL (default: $TORNADO_SESSIONS_STORE)")
    parser.add_argument(
        "--seal-cleartext",
        action="store_true",
        help="also seal values stored before encryption was turned on",
    )
    parser.set_defaults(run=run_reencrypt, asynchronous=True)
