"""``SessionOptions``: every setting of the session layer, validated when built.

Put one in the application's settings under ``"sessions"``::

    tornado.web.Application(handlers, sessions=SessionOptions(secret=["new", "old"]))

The options mirror express-session's where the two overlap (``rolling``,
``resave``, ``save_uninitialized``, ``unset``, ``genid``, the cookie attributes),
with defaults chosen to be safe: HttpOnly, SameSite=Lax, Secure on https,
nothing stored for a visitor who never puts anything in their session, and
expiry enforced on the server.

Invalid combinations raise :class:`~tornado_sessions.errors.ConfigurationError`
at construction, with a message that says what to change.  Only a missing secret
is found later (the application's ``cookie_secret`` may supply it), at the first
request that needs the session.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from .errors import ConfigurationError
from .ids import generate_id
from .serializers import Serializer
from .stores.base import Store

__all__ = ["SessionOptions"]

Secret = str | bytes

# RFC 6265 cookie-name token: visible ASCII except separators.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Path and Domain: visible ASCII without ';' or ','.
_ATTRIBUTE = re.compile(r"[\x21-\x2b\x2d-\x3a\x3c-\x7e]+")
_SAMESITE = {"strict": "Strict", "lax": "Lax", "none": "None"}

DAY = 24 * 3600


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

    def __post_init__(self) -> None:
        self._check_secret()
        self._check_cookie()
        self._check_durations()
        if self.unset not in ("keep", "destroy"):
            raise ConfigurationError(f"unset must be 'keep' or 'destroy', not {self.unset!r}")
        if not callable(self.genid):
            raise ConfigurationError("genid must be a callable returning a new id")
        if not isinstance(self.store, Store | str):
            raise ConfigurationError(
                f"store must be a Store instance or a URL string, not {type(self.store).__name__}"
            )
        if not isinstance(self.serializer, str) and not isinstance(self.serializer, Serializer):
            raise ConfigurationError("serializer must be a name or have dumps() and loads()")

    # -- validation -------------------------------------------------------------

    def _check_secret(self) -> None:
        if self.secret is None:
            return
        secrets = [self.secret] if isinstance(self.secret, str | bytes) else list(self.secret)
        if not secrets:
            raise ConfigurationError("secret must not be an empty list")
        for secret in secrets:
            if not isinstance(secret, str | bytes) or not secret:
                raise ConfigurationError("each secret must be a non-empty str or bytes")

    def _check_cookie(self) -> None:
        if not _TOKEN.fullmatch(self.name):
            raise ConfigurationError(f"cookie name {self.name!r} is not a valid cookie token")
        if not self.cookie_path.startswith("/") or not _ATTRIBUTE.fullmatch(self.cookie_path):
            raise ConfigurationError(
                f"cookie_path {self.cookie_path!r} must start with '/' and hold no ';', ',' "
                "or control characters"
            )
        if self.cookie_domain is not None and not _ATTRIBUTE.fullmatch(self.cookie_domain):
            raise ConfigurationError(f"cookie_domain {self.cookie_domain!r} is not a valid domain")
        if self.cookie_secure not in (True, False, "auto"):
            raise ConfigurationError("cookie_secure must be True, False or 'auto'")
        samesite = self.cookie_samesite
        if samesite is not None:
            normal = _SAMESITE.get(str(samesite).lower())
            if normal is None:
                raise ConfigurationError(
                    f"cookie_samesite must be 'Strict', 'Lax', 'None' or None, not {samesite!r}"
                )
            object.__setattr__(self, "cookie_samesite", normal)
        if self.cookie_samesite == "None" and self.cookie_secure is False:
            raise ConfigurationError(
                "cookie_samesite='None' needs a Secure cookie: browsers reject it otherwise; "
                "set cookie_secure=True or 'auto'"
            )
        if self.cookie_partitioned and self.cookie_secure is False:
            raise ConfigurationError("cookie_partitioned needs cookie_secure=True or 'auto'")
        if self.name.startswith("__Host-"):
            if self.cookie_secure is not True or self.cookie_path != "/" or self.cookie_domain:
                raise ConfigurationError(
                    f"a '__Host-' cookie ({self.name}) requires cookie_secure=True, "
                    "cookie_path='/' and no cookie_domain"
                )
        elif self.name.startswith("__Secure-") and self.cookie_secure is not True:
            raise ConfigurationError(
                f"a '__Secure-' cookie ({self.name}) requires cookie_secure=True"
            )

    def _check_durations(self) -> None:
        if not self.max_age > 0:
            raise ConfigurationError("max_age must be a positive number of seconds")
        if self.absolute_timeout is not None and not self.absolute_timeout > 0:
            raise ConfigurationError("absolute_timeout must be positive seconds, or None")
        if not self.touch_after >= 0:
            raise ConfigurationError("touch_after must be zero or more seconds")
        if not self.store_timeout > 0:
            raise ConfigurationError("store_timeout must be a positive number of seconds")
        if not self.max_record_bytes > 0:
            raise ConfigurationError("max_record_bytes must be a positive number of bytes")

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
                "application's cookie_secret"
            )
        items = [source] if isinstance(source, str | bytes) else list(source)  # type: ignore[call-overload]
        keys = [item.encode() if isinstance(item, str) else bytes(item) for item in items]
        if not keys or not all(keys):
            raise ConfigurationError("the session secret must not be empty")
        return keys
