"""Session hijacking defences: what the cookie carries and who may read or cache it.

Owns the "session hijacking" line of SECURITY.md and most OWASP/ASVS cookie rows:
the attributes of the real ``Set-Cookie`` header (HttpOnly, SameSite, Secure,
host-only, ``Path=/``), caching headers on responses that carry the cookie,
configurations that would weaken the cookie being refused at construction, the
raw id never reaching a log, and, honestly, what is *not* done (no binding of a
session to a User-Agent or an IP address).
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
import tornado

from tornado_sessions import ConfigurationError, Record, SessionOptions
from tornado_sessions.ids import is_valid_id
from tornado_sessions.meta import Meta, pack_meta
from tornado_sessions.signing import Signer

SECRET = "security-suite-secret-0123456789abcdef"
NAME = "sessionid"


@pytest.fixture
def session_options(request: pytest.FixtureRequest, store: Any) -> SessionOptions:
    extra = getattr(request, "param", {})
    return SessionOptions(**{"secret": SECRET, "store": store, **extra})


async def _login(client: Any, **headers: str) -> Any:
    reply = await client.get("/login?user=alice", headers=headers or None)
    assert reply.status == 200 and reply.session_cookie
    return reply


# -- cookie attributes -------------------------------------------------------------


@pytest.mark.gen_test
async def test_session_cookie_is_httponly_lax_host_only_with_path_root(client: Any) -> None:
    attributes = (await _login(client)).cookie_attributes
    assert "httponly" in attributes  # not readable from JavaScript (XSS cannot steal it)
    assert attributes["samesite"] == "Lax"  # not sent on cross-site subrequests / POSTs
    assert attributes["path"] == "/"
    assert "domain" not in attributes  # host-only: sibling subdomains never receive it


@pytest.mark.gen_test
@pytest.mark.parametrize("session_options", [{"trust_proxy": True}], indirect=True)
async def test_cookie_is_secure_when_the_request_came_over_https(
    client: Any, session_options: SessionOptions
) -> None:
    reply = await _login(client, **{"X-Forwarded-Proto": "https"})
    assert "secure" in reply.cookie_attributes


@pytest.mark.gen_test
@pytest.mark.parametrize("session_options", [{"cookie_secure": True}], indirect=True)
async def test_cookie_secure_true_marks_the_cookie_secure_even_over_http(
    client: Any, session_options: SessionOptions, caplog: pytest.LogCaptureFixture
) -> None:
    reply = await _login(client)
    assert "secure" in reply.cookie_attributes
    assert "Secure session cookie over plain http" in caplog.text  # never dropped silently


@pytest.mark.gen_test
@pytest.mark.parametrize(
    "session_options", [{"name": "__Host-id", "cookie_secure": True}], indirect=True
)
async def test_a_host_prefixed_cookie_is_secure_host_only_and_path_root(
    client: Any, session_options: SessionOptions
) -> None:
    reply = await client.get("/login?user=alice")
    (header,) = [h for h in reply.set_cookies if h.startswith("__Host-id=")]
    attributes = [a.strip().lower() for a in header.split(";")[1:]]
    assert "secure" in attributes and "path=/" in attributes
    assert not any(a.startswith("domain") for a in attributes)


@pytest.mark.parametrize(
    "options",
    [
        {"name": "__Host-id"},  # cookie_secure="auto" is not enough for __Host-
        {"name": "__Host-id", "cookie_secure": True, "cookie_domain": "example.com"},
        {"name": "__Host-id", "cookie_secure": True, "cookie_path": "/app"},
        {"name": "__Secure-id", "cookie_secure": False},
        {"cookie_samesite": "None", "cookie_secure": False},
        {"cookie_samesite": "bogus"},
        {"cookie_samesite": "Lax; Domain=evil.example"},  # attribute injection
        {"cookie_path": "/;Domain=evil.example"},
        {"cookie_path": "relative"},
        {"cookie_domain": "example.com; Secure"},
        {"name": "session id"},
        {"name": "sid;x"},
        {"cookie_partitioned": True, "cookie_secure": False},
    ],
    ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()),
)
def test_cookie_settings_that_weaken_or_break_the_cookie_are_refused(
    options: dict[str, Any],
) -> None:
    with pytest.raises(ConfigurationError):
        SessionOptions(secret=SECRET, **options)


# -- what the cookie carries ---------------------------------------------------------


@pytest.mark.gen_test
async def test_the_cookie_carries_only_a_signed_random_id(client: Any) -> None:
    reply = await client.get("/put?user=alice&email=alice@example.com")
    value = reply.session_cookie
    assert value is not None
    session_id, _, signature = value.rpartition(".")
    assert is_valid_id(session_id) and len(session_id) == 43 and len(signature) == 43
    assert Signer([SECRET.encode()], NAME).unsign(value) == session_id
    assert "alice" not in value and "example" not in value


def test_the_default_cookie_name_does_not_fingerprint_the_stack() -> None:
    name = SessionOptions().name
    assert name == "sessionid"
    assert not any(word in name.lower() for word in ("tornado", "python", "tsess"))


# -- caching -------------------------------------------------------------------------


@pytest.mark.gen_test
async def test_a_response_that_sets_the_cookie_is_not_cacheable(client: Any) -> None:
    reply = await _login(client)
    assert reply.headers["Cache-Control"] == "no-store"
    assert "Cookie" in reply.headers.get_list("Vary")


@pytest.mark.gen_test
async def test_a_response_that_depends_on_the_session_varies_on_cookie(client: Any) -> None:
    cookie = (await _login(client)).session_cookie
    reply = await client.get("/peek", cookie=cookie)
    assert reply.set_cookies == []
    assert "Cookie" in reply.headers.get_list("Vary")


@pytest.mark.gen_test
async def test_a_handler_that_never_asks_sends_no_cookie_and_reads_no_store(
    client: Any, store: Any
) -> None:
    cookie = (await _login(client)).session_cookie
    calls = dict(store.calls)
    reply = await client.get("/health", cookie=cookie)
    assert reply.status == 200 and reply.set_cookies == []
    assert store.calls == calls


# -- logs ------------------------------------------------------------------------------


@pytest.mark.gen_test
async def test_raw_session_ids_never_reach_the_logs(
    client: Any, store: Any, sign: Any, key_of: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    reply = await _login(client)
    cookie = reply.session_cookie
    live_id = reply.json["id"]
    # Things that log: a bad signature, a duplicated cookie, a corrupt record, a store error.
    await client.get("/peek", cookie=cookie[:-1])
    await client.get("/peek", raw_cookie_header=f"{NAME}={cookie}; {NAME}={cookie}")
    corrupt = "C" * 43
    await store.save(key_of(corrupt), Record({"x": b"\xc1"}, pack_meta(Meta(0.0)), 4_000_000_000.0))
    await client.get("/peek", cookie=sign(corrupt))

    async def failing_write(*args: Any) -> Any:
        raise ConnectionError("store down")

    store.save = store.save_changes = failing_write
    assert (await client.get("/put?a=1", cookie=cookie)).status == 503
    text = caplog.text
    assert "corrupt session record" in text and "cookie tossed" in text and "store" in text
    for secret_value in (live_id, corrupt, cookie, cookie.rpartition(".")[2]):
        assert secret_value not in text


# -- what is not done ----------------------------------------------------------------


@pytest.mark.gen_test
async def test_a_session_is_not_bound_to_the_user_agent_or_ip(client: Any) -> None:
    # Documented gap (OWASP "binding the session ID to other user properties"): a
    # stolen cookie works from another browser and another address.
    cookie = (await _login(client, **{"User-Agent": "VictimBrowser/1.0"})).session_cookie
    reply = await client.get(
        "/peek",
        cookie=cookie,
        headers={"User-Agent": "curl/8.0", "X-Forwarded-For": "203.0.113.66"},
    )
    assert reply.json["new"] is False and reply.json["data"] == {"user": "alice"}


@pytest.mark.gen_test
async def test_the_default_cookie_is_persistent_and_browser_session_is_opt_in(
    client: Any,
) -> None:
    # OWASP prefers non-persistent session cookies; the default follows express-session
    # (Max-Age = max_age, 14 days) and browser_session_cookie=True is the opt-in.
    attributes = (await _login(client)).cookie_attributes
    assert 14 * 24 * 3600 - 5 <= int(attributes["max-age"]) <= 14 * 24 * 3600
    assert "expires" in attributes


@pytest.mark.gen_test
@pytest.mark.parametrize("session_options", [{"browser_session_cookie": True}], indirect=True)
async def test_browser_session_cookie_has_no_max_age_or_expires(
    client: Any, session_options: SessionOptions
) -> None:
    attributes = (await _login(client)).cookie_attributes
    assert "max-age" not in attributes and "expires" not in attributes


@pytest.mark.gen_test
@pytest.mark.parametrize("session_options", [{"touch_after": 0}], indirect=True)
async def test_the_id_is_not_rotated_periodically(
    client: Any, session_options: SessionOptions
) -> None:
    # Documented gap (OWASP "renewal timeout"): only regenerate() changes the id; an
    # active session keeps it, however long it lives.
    reply = await _login(client)
    cookie, session_id = reply.session_cookie, reply.json["id"]
    for _ in range(5):
        reply = await client.get("/peek", cookie=cookie)  # a touch (and a cookie) each time
        assert reply.json["id"] == session_id
        assert reply.session_cookie == cookie


@pytest.mark.gen_test
async def test_a_cacheable_page_that_sets_the_cookie_is_made_uncacheable(client: Any) -> None:
    # A shared cache must never store a Set-Cookie and hand it to the next visitor.
    reply = await client.get("/put?cart=apples&cache_control=public,max-age=600")
    assert reply.session_cookie
    assert reply.headers["Cache-Control"] == "no-store"
    assert reply.json["data"] == {"cart": "apples"}


@pytest.mark.gen_test
async def test_logout_sends_no_clear_site_data_by_default(client: Any) -> None:
    # Clear-Site-Data wipes the whole origin's storage, so it is opt-in.
    cookie = (await _login(client)).session_cookie
    reply = await client.get("/logout", cookie=cookie)
    assert reply.clears_cookie
    assert "Clear-Site-Data" not in reply.headers


@pytest.mark.gen_test
@pytest.mark.parametrize("session_options", [{"clear_site_data": True}], indirect=True)
async def test_logout_sends_clear_site_data_when_configured(
    client: Any, session_options: SessionOptions
) -> None:
    # OWASP caching / ASVS v5 14.3.1: clear what the browser holds for the site on logout.
    cookie = (await _login(client)).session_cookie
    reply = await client.get("/peek", cookie=cookie)
    assert "Clear-Site-Data" not in reply.headers  # only on logout
    reply = await client.get("/logout", cookie=cookie)
    assert reply.clears_cookie
    assert reply.headers["Clear-Site-Data"] == '"cookies", "storage"'


@pytest.mark.gen_test
async def test_the_session_cookie_fits_well_within_4096_bytes(client: Any) -> None:
    reply = await _login(client)
    (header,) = [h for h in reply.set_cookies if h.startswith(f"{NAME}=")]
    name_value = header.split(";", 1)[0]
    assert len(name_value.encode()) <= 100  # ASVS v5 3.3.5 allows 4096


def test_tornado_has_the_cookie_security_fixes() -> None:
    # CVE-2024-52804 (cookie parsing DoS, 6.4.2) and CVE-2026-35536 (cookie attribute
    # injection, 6.5.5): setup.py requires tornado>=6.5.5.
    assert tornado.version_info >= (6, 5, 5, 0)
