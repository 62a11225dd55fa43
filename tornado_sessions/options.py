"""``SessionOptions``: every setting of the session layer, validated when built.

Put one in the application's settings under ``"sessions"``::

    tornado.web.Application(handlers, sessions=SessionOptions(secret=["new", "old"]))

The options mirror express-session's where the two overlap (``rolling``,
``resave``, ``save_uninitialized``, ``unset``, ``genid``, the cookie attributes),
with defaults chosen to be safe: HttpOnly, SameSite=Lax, Secure on https,
nothing stored for a visitor who never puts anything in their session, and
expiry enforced on the server.

Every value is checked at construction and a mistake raises
:class:`~tornado_sessions.errors.ConfigurationError` with a message that names
the option, its unit and what to write instead.  Durations are seconds (not
express-session's milliseconds: a value that looks like milliseconds says so),
finite, and at most ten years.  What needs the application or the plugins (the
secret from ``cookie_secret``, the store's URL scheme, a serializer's name) is
checked by ``open_sessions(app)`` at start-up.

``repr()`` never shows the secret, and shows the store URL with its password
replaced by ``***``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from .encryption import parse_encryption_keys
from .errors import ConfigurationError
from .ids import generate_id
from .meta import MAX_LIFETIME
from .serializers import Serializer
from .stores.base import Store

__all__ = ["SessionOptions", "redact_url"]

Secret = str | bytes

# RFC 6265 cookie-name token: visible ASCII except separators.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Path and Domain: visible ASCII without ';' or ','.
_ATTRIBUTE = re.compile(r"[\x21-\x2b\x2d-\x3a\x3c-\x7e]+")
_SAMESITE = {"strict": "Strict", "lax": "Lax", "none": "None"}

DAY = 24 * 3600
#: The longest ``store_timeout``: a store call that may take longer is an outage.
MAX_STORE_TIMEOUT = 300.0
#: The largest ``max_record_bytes``: 64 MiB.
MAX_RECORD_LIMIT = 64 << 20


#: Query options whose values are secrets, whatever the store (``?password=``, ...).
_SECRET_QUERY_KEYS = frozenset({"password", "pass", "pwd", "secret", "token", "auth"})


def _seconds(limit: float) -> str:
    """A limit in words: ``315360000 seconds (10 years)``, ``300 seconds``."""
    years = limit / (365 * DAY)
    if years >= 1 and years.is_integer():
        return f"{limit:.0f} seconds ({years:.0f} years)"
    return f"{limit:.10g} seconds"


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for logs and ``repr``).

    Both places a URL can carry one are redacted: the userinfo
    (``redis://user:pw@host``) and secret-looking query options (``?password=pw``).
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    original = parts
    if parts.password is not None:
        userinfo, _, host = parts.netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        parts = parts._replace(netloc=f"{user}:***@{host}")
    if parts.query:
        pairs = [pair.partition("=") for pair in parts.query.split("&")]
        shown = [
            (name, eq, "***" if eq and name.lower() in _SECRET_QUERY_KEYS else value)
            for name, eq, value in pairs
        ]
        parts = parts._replace(query="&".join("".join(pair) for pair in shown))
    # urlunsplit() would turn "memory://" into "memory:": keep the URL's own spelling.
    if parts == original:
        return url
    if parts.netloc == original.netloc:
        return url.replace(f"?{original.query}", f"?{parts.query}", 1)
    return urlunsplit(parts)


@dataclass(frozen=True)
class SessionOptions:
    """Configuration of the session layer; see the guide for when to change each field.

    Durations are in seconds.  ``secret`` may be one key or a list: the first
    signs new cookies, all of them verify (rotate by putting the new key first and
    dropping the old one after ``max_age``).
    """

    secret: Secret | Sequence[Secret] | None = field(default=None, repr=False)
    store: Store | str = "memory://"
    name: str = "sessionid"
    max_age: float = 14 * DAY
    absolute_timeout: float | None = None
    browser_session_cookie: bool = False
    rolling: bool = False
    resave: bool = False
    save_uninitialized: bool = False
    touch_after: float = 60.0
    unset: Literal["keep", "destroy"] = "keep"
    genid: Callable[[], str] = field(default=generate_id, repr=False)
    cookie_path: str = "/"
    cookie_domain: str | None = None
    cookie_secure: bool | Literal["auto"] = "auto"
    cookie_httponly: bool = True
    cookie_samesite: Literal["Strict", "Lax", "None"] | None = "Lax"
    cookie_partitioned: bool = False
    trust_proxy: bool = False
    serializer: str | Serializer = "msgpack"
    hash_ids: bool = True
    store_timeout: float = 2.0
    max_record_bytes: int = 1 << 20
    clear_site_data: bool = False
    encryption_keys: Sequence[bytes | str] = field(default=(), repr=False)
    max_sessions_per_owner: int | None = None
    rotate_after: float | None = None
    rotate_grace: float = 30.0

    def __post_init__(self) -> None:
        self._check_flags()
        self._check_secret()
        self._check_encryption()
        self._check_cookie()
        self._check_durations()
        if self.unset not in ("keep", "destroy"):
            raise ConfigurationError(f"unset must be 'keep' or 'destroy', not {self.unset!r}")
        if not callable(self.genid):
            raise ConfigurationError("genid must be a callable returning a new id")
        if not isinstance(self.store, Store | str):
            raise ConfigurationError(
                "store must be a Store instance or a URL string such as 'memory://' or "
                f"'redis://127.0.0.1:6379/0', not {type(self.store).__name__}"
            )
        if not isinstance(self.serializer, str) and not isinstance(self.serializer, Serializer):
            raise ConfigurationError(
                "serializer must be a name ('msgpack', 'json') or an object with dumps() "
                "and loads()"
            )

    def __repr__(self) -> str:
        shown = []
        for spec in fields(self):
            if not spec.repr:
                continue
            value = getattr(self, spec.name)
            if spec.name == "store" and isinstance(value, str):
                value = redact_url(value)
            shown.append(f"{spec.name}={value!r}")
        return f"SessionOptions({', '.join(shown)})"

    # -- validation -------------------------------------------------------------

    def _check_flags(self) -> None:
        for name in (
            "browser_session_cookie",
            "rolling",
            "resave",
            "save_uninitialized",
            "cookie_httponly",
            "cookie_partitioned",
            "trust_proxy",
            "hash_ids",
            "clear_site_data",
        ):
            value = getattr(self, name)
            if type(value) is not bool:
                raise ConfigurationError(f"{name} must be True or False, not {value!r}")

    def _check_secret(self) -> None:
        if self.secret is None:
            return
        secrets = [self.secret] if isinstance(self.secret, str | bytes) else list(self.secret)
        if not secrets:
            raise ConfigurationError("secret must not be an empty list")
        for secret in secrets:
            if not isinstance(secret, str | bytes) or not secret:
                raise ConfigurationError("each secret must be a non-empty str or bytes")

    def _check_encryption(self) -> None:
        if not self.encryption_keys:
            return
        keys = self.encryption_key_bytes()
        secrets = [self.secret] if isinstance(self.secret, str | bytes) else list(self.secret or ())
        given = {*self.encryption_keys, *keys}
        for secret in secrets:
            if secret in given or (isinstance(secret, str) and secret.encode() in keys):
                raise ConfigurationError(
                    "an encryption key is also a signing secret: use separate random keys "
                    "for encryption_keys and secret"
                )
        try:
            import cryptography  # noqa: F401
        except ImportError:
            raise ConfigurationError(
                "encryption_keys needs the cryptography package: "
                "pip install 'tornado-sessions[encryption]'"
            ) from None

    def encryption_key_bytes(self) -> tuple[bytes, ...]:
        """The value-encryption keys as 32 raw bytes each, first one encrypting."""
        return parse_encryption_keys(self.encryption_keys) if self.encryption_keys else ()

    def _check_cookie(self) -> None:
        if not isinstance(self.name, str) or not _TOKEN.fullmatch(self.name):
            raise ConfigurationError(f"cookie name {self.name!r} is not a valid cookie token")
        if (
            not isinstance(self.cookie_path, str)
            or not self.cookie_path.startswith("/")
            or not _ATTRIBUTE.fullmatch(self.cookie_path)
        ):
            raise ConfigurationError(
                f"cookie_path {self.cookie_path!r} must start with '/' and hold no ';', ',' "
                "or control characters"
            )
        if self.cookie_domain is not None and (
            not isinstance(self.cookie_domain, str) or not _ATTRIBUTE.fullmatch(self.cookie_domain)
        ):
            raise ConfigurationError(f"cookie_domain {self.cookie_domain!r} is not a valid domain")
        if self.cookie_secure not in (True, False, "auto") or type(self.cookie_secure) is int:
            raise ConfigurationError(
                f"cookie_secure must be True, False or 'auto', not {self.cookie_secure!r}"
            )
        samesite = self.cookie_samesite
        if samesite is not None:
            normal = _SAMESITE.get(str(samesite).lower()) if isinstance(samesite, str) else None
            if normal is None:
                hint = ""
                if samesite is True:  # type: ignore[comparison-overlap]
                    hint = " (express-session's sameSite=true is 'Strict')"
                raise ConfigurationError(
                    f"cookie_samesite must be 'Strict', 'Lax', 'None' or None, not "
                    f"{samesite!r}{hint}"
                )
            object.__setattr__(self, "cookie_samesite", normal)
        if self.cookie_samesite == "None" and self.cookie_secure is False:
            raise ConfigurationError(
                "cookie_samesite='None' needs a Secure cookie: browsers reject it otherwise; "
                "set cookie_secure=True or 'auto'"
            )
        if self.cookie_partitioned and self.cookie_secure is False:
            raise ConfigurationError("cookie_partitioned needs cookie_secure=True or 'auto'")
        # Browsers match the prefixes case-insensitively (RFC 6265bis), so must we.
        prefix = self.name[:9].lower()
        if prefix.startswith("__host-"):
            if self.cookie_secure is not True or self.cookie_path != "/" or self.cookie_domain:
                raise ConfigurationError(
                    f"a '__Host-' cookie ({self.name}) requires cookie_secure=True, "
                    "cookie_path='/' and no cookie_domain"
                )
        elif prefix == "__secure-" and self.cookie_secure is not True:
            raise ConfigurationError(
                f"a '__Secure-' cookie ({self.name}) requires cookie_secure=True"
            )

    def _check_durations(self) -> None:
        _check_seconds("max_age", self.max_age)
        if self.absolute_timeout is not None:
            _check_seconds("absolute_timeout", self.absolute_timeout, none_allowed=True)
        _check_seconds("touch_after", self.touch_after, zero_allowed=True)
        _check_seconds("store_timeout", self.store_timeout, limit=MAX_STORE_TIMEOUT)
        value = self.max_record_bytes
        if type(value) is not int or not 0 < value <= MAX_RECORD_LIMIT:
            raise ConfigurationError(
                f"max_record_bytes must be a whole number of bytes from 1 to {MAX_RECORD_LIMIT} "
                f"(64 MiB), not {value!r}"
            )
        if self.rotate_after is not None:
            _check_seconds("rotate_after", self.rotate_after, none_allowed=True)
        _check_seconds("rotate_grace", self.rotate_grace, zero_allowed=True, limit=3600)
        cap = self.max_sessions_per_owner
        if cap is not None and (type(cap) is not int or cap < 1):
            raise ConfigurationError(
                f"max_sessions_per_owner must be a whole number of sessions (1 or more) or "
                f"None for no cap, not {cap!r}"
            )

    # -- derived ----------------------------------------------------------------

    def secrets(self, app_cookie_secret: object = None, key_version: object = None) -> list[bytes]:
        """The signing keys as bytes, first one signing.

        Falls back to the application's ``cookie_secret``; a dict there is read as
        ``{version: key}``, signing with ``key_version`` and verifying with all.
        """
        source: object = self.secret
        if source is None:
            source = app_cookie_secret
            if isinstance(source, dict):
                if key_version not in source:
                    raise ConfigurationError(
                        "cookie_secret is a dict, so the 'key_version' setting must name "
                        "one of its keys"
                    )
                ordered = [source[key_version]] + [
                    value for version, value in source.items() if version != key_version
                ]
                source = ordered
        if source is None:
            raise ConfigurationError(
                "sessions need a secret: set SessionOptions(secret=...) or the "
                "application's cookie_secret (at least 32 random bytes, e.g. "
                "secrets.token_bytes(32), kept outside the code)"
            )
        items: list[Any] = [source] if isinstance(source, str | bytes) else list(source)  # type: ignore[call-overload]
        keys = []
        for item in items:
            if not isinstance(item, str | bytes) or not item:
                raise ConfigurationError("each session secret must be a non-empty str or bytes")
            keys.append(item.encode() if isinstance(item, str) else bytes(item))
        if not keys:
            raise ConfigurationError("the session secret must not be empty")
        return keys


def _check_seconds(
    name: str,
    value: object,
    *,
    zero_allowed: bool = False,
    none_allowed: bool = False,
    limit: float = MAX_LIFETIME,
) -> None:
    """Refuse a duration that is not a finite number of seconds within ``(0, limit]``."""
    allowed = "a number of seconds" + (" or None" if none_allowed else "")
    if isinstance(value, bool) or not isinstance(value, int | float):
        hint = ""
        if isinstance(value, str):
            hint = " (a string, e.g. from an environment variable: convert it with float())"
        raise ConfigurationError(f"{name} must be {allowed}, not {value!r}{hint}")
    if not math.isfinite(value):
        raise ConfigurationError(f"{name} must be a finite number of seconds, not {value!r}")
    low_ok = value >= 0 if zero_allowed else value > 0
    if not low_ok:
        least = "zero or more" if zero_allowed else "positive"
        raise ConfigurationError(f"{name} must be {least} seconds, not {value!r}")
    if value > limit:
        message = f"{name} is at most {_seconds(limit)}, not {value!r}"
        if value / 1000 <= limit:
            message += (
                f"; durations are seconds, not milliseconds as in express-session: "
                f"did you mean {name}={value / 1000:.10g}?"
            )
        raise ConfigurationError(message)
