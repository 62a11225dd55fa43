"""The session cookie: signature checks, secret rotation, attributes, prefixes, tossing."""

from __future__ import annotations

from typing import Any

import pytest
import tornado.web

from tests.conftest import SECRET, Client, CountingStore, use_options
from tests.handlers import HANDLERS
from tornado_sessions import ConfigurationError, SessionOptions
from tornado_sessions.signing import Signer


async def signed_in(client: Client) -> str:
    response = await client.fetch("/set?user=alice")
    assert response.cookie is not None
    return response.cookie["value"]


@pytest.mark.gen_test
@pytest.mark.parametrize(
    "tamper",
    [
        lambda v: v[:-1] + ("A" if v[-1] != "A" else "B"),  # flipped signature character
        lambda v: v.split(".")[0],  # no signature
        lambda v: v + "x",  # appended byte
        lambda v: v[:-5],  # truncated
        lambda v: "garbage",
        lambda v: "",
        lambda v: "." * 80,
        lambda v: "é" * 50 + "." + "x" * 43,
        lambda v: ("a" * 43) + "." + v.split(".")[1],  # other id, real signature
        lambda v: "x" * 5000,
    ],
)
async def test_bad_cookie_means_fresh_session_without_store_read(
    client: Client, store: CountingStore, tamper: Any
) -> None:
    good = await signed_in(client)
    store.calls.clear()
    response = await client.fetch("/get", cookie=tamper(good))
    assert response.code == 200
    assert response.json() == {"data": {}, "new": True, "id": response.json()["id"]}
    assert store.total() == 0


@pytest.mark.gen_test
async def test_cookie_signed_for_another_name_is_refused(
    client: Client, store: CountingStore
) -> None:
    other = Signer([SECRET.encode()], "othername").sign("a" * 43)
    response = await client.fetch("/get", cookie=other)
    assert response.json()["new"] is True
    assert store.total() == 0


@pytest.mark.gen_test
async def test_two_cookies_with_our_name_count_as_none(
    client: Client, store: CountingStore
) -> None:
    good = await signed_in(client)
    store.calls.clear()
    response = await client.fetch(
        "/get", headers={"Cookie": f"sessionid={good}; sessionid={good}"}, cookie=""
    )
    assert response.json()["new"] is True
    assert store.total() == 0


def make_app(store: CountingStore, **kwargs: Any) -> tornado.web.Application:
    return tornado.web.Application(HANDLERS, sessions=SessionOptions(store=store, **kwargs))


@pytest.mark.gen_test
async def test_secret_rotation_old_cookies_verify_new_ones_use_the_first_secret(
    http_server: Any, base_url: str, app: tornado.web.Application, store: CountingStore
) -> None:
    client = Client(app, base_url)
    old_cookie = await signed_in(client)  # signed with SECRET
    # Deploy a new secret in front of the old one (as a restart with new settings would).
    rotated = SessionOptions(secret=["n" * 32, SECRET], store=store)
    await use_options(app, rotated)
    response = await client.fetch("/set?more=1", cookie=old_cookie)
    assert response.json()["data"] == {"user": "alice", "more": "1"}
    assert response.cookie is not None
    new_value = response.cookie["value"]
    assert Signer([b"n" * 32], "sessionid").unsign(new_value) is not None
    assert Signer([SECRET.encode()], "sessionid").unsign(new_value) is None
    # Once the old secret is dropped, the old cookie no longer verifies.
    dropped = SessionOptions(secret=["n" * 32], store=store)
    await use_options(app, dropped)
    assert (await client.fetch("/get", cookie=old_cookie)).json()["new"] is True
    assert (await client.fetch("/get", cookie=new_value)).json()["new"] is False


def test_app_cookie_secret_dict_signs_with_key_version() -> None:
    options = SessionOptions()
    assert options.secrets({1: "old" * 11, 2: "new" * 11}, 2) == [b"new" * 11, b"old" * 11]
    with pytest.raises(ConfigurationError, match="key_version"):
        options.secrets({1: "old" * 11}, None)
    with pytest.raises(ConfigurationError, match="secret"):
        options.secrets(None)


@pytest.mark.gen_test
@pytest.mark.options(
    cookie_path="/", cookie_domain="example.test", cookie_samesite="strict", cookie_secure=True
)
async def test_cookie_attributes_are_all_emitted(client: Client) -> None:
    response = await client.fetch("/set?a=1")
    cookie = response.cookie
    assert cookie is not None
    assert cookie["path"] == "/"
    assert cookie["domain"] == "example.test"
    assert cookie["samesite"] == "Strict"
    assert "httponly" in cookie and "secure" in cookie
    assert 0 < int(cookie["max-age"]) <= 14 * 24 * 3600
    assert cookie["expires"].endswith("GMT")
    assert response.headers["Cache-Control"] == "no-store"
    assert "Cookie" in response.headers.get_list("Vary")


@pytest.mark.gen_test
async def test_default_cookie_is_httponly_lax_and_not_secure_over_http(client: Client) -> None:
    cookie = (await client.fetch("/set?a=1")).cookie
    assert cookie is not None
    assert "httponly" in cookie and cookie["samesite"] == "Lax"
    assert "secure" not in cookie


@pytest.mark.gen_test
async def test_forwarded_proto_is_ignored_without_trust_proxy(client: Client) -> None:
    response = await client.fetch("/set?a=1", headers={"X-Forwarded-Proto": "https"})
    assert response.cookie is not None and "secure" not in response.cookie


@pytest.mark.gen_test
@pytest.mark.options(trust_proxy=True)
async def test_trust_proxy_honours_the_last_forwarded_proto(client: Client) -> None:
    # The nearest proxy appends its value last; earlier ones may come from the client.
    response = await client.fetch("/set?a=1", headers={"X-Forwarded-Proto": "http, HTTPS"})
    assert response.cookie is not None and "secure" in response.cookie
    response = await client.fetch("/set?a=2", headers={"X-Forwarded-Proto": "https, http"})
    assert response.cookie is not None and "secure" not in response.cookie


@pytest.mark.gen_test
@pytest.mark.options(cookie_secure=True)
async def test_secure_cookie_over_http_is_sent_with_a_warning(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    response = await client.fetch("/set?a=1")
    assert response.cookie is not None and "secure" in response.cookie
    assert "Secure session cookie over plain http" in caplog.text


@pytest.mark.gen_test
@pytest.mark.options(cookie_partitioned=True, cookie_secure=True, cookie_samesite="None")
async def test_partitioned_attribute_is_emitted(client: Client) -> None:
    cookie = (await client.fetch("/set?a=1")).cookie
    assert cookie is not None
    assert "partitioned" in cookie and cookie["samesite"] == "None" and "secure" in cookie


@pytest.mark.gen_test
@pytest.mark.options(name="__Host-sid", cookie_secure=True)
async def test_host_prefixed_cookie(client: Client) -> None:
    cookie = (await client.fetch("/set?a=1")).cookie
    assert cookie is not None
    assert cookie["path"] == "/" and "domain" not in cookie and "secure" in cookie
    assert (await client.fetch("/get")).json()["data"] == {"a": "1"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "__Host-sid"}, "__Host-"),
        ({"name": "__Host-sid", "cookie_secure": True, "cookie_path": "/app"}, "__Host-"),
        ({"name": "__Host-sid", "cookie_secure": True, "cookie_domain": "a.test"}, "__Host-"),
        ({"name": "__Secure-sid"}, "__Secure-"),
        ({"cookie_samesite": "None", "cookie_secure": False}, "Secure"),
        ({"cookie_samesite": "bogus"}, "cookie_samesite"),
        ({"cookie_partitioned": True, "cookie_secure": False}, "partitioned"),
        ({"name": "bad name"}, "cookie name"),
        ({"name": "a;b"}, "cookie name"),
        ({"cookie_path": "/a;Domain=evil"}, "cookie_path"),
        ({"cookie_domain": "a.test; Secure"}, "cookie_domain"),
        ({"cookie_secure": "yes"}, "cookie_secure"),
    ],
)
def test_cookie_options_that_cannot_work_are_configuration_errors(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        SessionOptions(secret=SECRET, **kwargs)


def test_secret_is_not_shown_in_repr() -> None:
    assert SECRET not in repr(SessionOptions(secret=SECRET))


@pytest.mark.gen_test
@pytest.mark.options(browser_session_cookie=True)
async def test_cookie_verified_by_an_old_secret_is_re_signed_even_without_a_write(
    http_server: Any, base_url: str, app: tornado.web.Application, store: CountingStore
) -> None:
    client = Client(app, base_url)
    old_cookie = await signed_in(client)
    rotated = SessionOptions(secret=["n" * 32, SECRET], store=store, browser_session_cookie=True)
    await use_options(app, rotated)
    store.calls.clear()
    response = await client.fetch("/get", cookie=old_cookie)  # read-only, no Max-Age
    assert dict(store.calls) == {"load": 1}
    assert response.cookie is not None
    assert Signer([b"n" * 32], "sessionid").unsign(response.cookie["value"]) is not None
    # Signed with the current secret now: the next request does not re-send it.
    assert (await client.fetch("/get")).raw_cookies == []


@pytest.mark.gen_test
@pytest.mark.options(cookie_samesite="None")
async def test_samesite_none_over_plain_http_warns_why_browsers_reject_it(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    response = await client.fetch("/set?a=1")
    assert response.cookie is not None and "secure" not in response.cookie
    assert "browsers reject such a cookie" in caplog.text
