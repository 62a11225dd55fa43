"""Forged, tampered, tossed and oversized cookies, through real HTTP requests.

Owns the HTTP half of the "forged cookies", "brute-forcing ids", "cookie tossing"
and "oversized and malformed input" lines of SECURITY.md: a victim's session is
created through the app, its cookie is read from the real ``Set-Cookie`` header,
and every mutation of it (bit flips, truncations, appended data, another key,
another cookie name, the bare id) is sent back.  Each must give a fresh anonymous
session (never the victim's, never an id the client chose), a 200, and, when the
signature is wrong, no store read at all.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import pytest

from tornado_sessions import SessionOptions
from tornado_sessions.signing import Signer

NAME = "sessionid"
SECRET = "security-suite-secret-0123456789abcdef"
OLD_SECRET = "security-suite-old-secret-0123456789ab"


@pytest.fixture
def session_options(request: pytest.FixtureRequest, store: Any) -> SessionOptions:
    secret = getattr(request, "param", SECRET)
    return SessionOptions(secret=secret, store=store)


async def _victim(client: Any) -> tuple[str, str]:
    reply = await client.get("/put?user=victim")
    assert reply.status == 200
    cookie = reply.session_cookie
    assert cookie is not None
    return cookie, reply.json["id"]


def _assert_anonymous(reply: Any, victim_id: str, sent: str = "") -> None:
    assert reply.status == 200, reply.body
    body = reply.json
    assert body["new"] is True
    assert body["data"] == {}
    assert body["id"] != victim_id
    assert body["id"] not in sent  # never an id the client supplied


def _sig(value: str) -> str:
    return value.rsplit(".", 1)[1]


FORGERIES: dict[str, Callable[[str, str], str]] = {
    "garbage": lambda value, sid: "garbage",
    "bare_id_unsigned": lambda value, sid: sid,
    "empty_signature": lambda value, sid: sid + ".",
    "signature_only": lambda value, sid: _sig(value),
    "appended_char": lambda value, sid: value + "A",
    "appended_signature": lambda value, sid: value + "." + _sig(value),
    "prepended_char": lambda value, sid: "A" + value,
    "truncated_by_one": lambda value, sid: value[:-1],
    "wrong_secret": lambda value, sid: Signer([b"not-the-secret" * 3], NAME).sign(sid),
    "other_cookie_name": lambda value, sid: Signer([SECRET.encode()], "other").sign(sid),
    "tornado_v2_signed_value": lambda value, sid: (
        "2|1:0|10:1700000000|9:sessionid|4:YWJj|" + "0" * 64
    ),
    "tornado_v1_signed_value": lambda value, sid: "YWJj|1700000000|" + "0" * 40,
    "nosql_operator": lambda value, sid: '{"$gt":""}',
    "wildcard": lambda value, sid: "*",
    "path_traversal": lambda value, sid: "../../" + sid,
    "percent_encoded": lambda value, sid: value.replace(".", "%2E"),
    "swapped_case_signature": lambda value, sid: sid + "." + _sig(value).swapcase(),
    "oversized_10k": lambda value, sid: "A" * 10_000 + value,
    "latin1_bytes": lambda value, sid: value[:-2] + "\xe9\xff",
}


@pytest.mark.gen_test
@pytest.mark.parametrize("forgery", list(FORGERIES))
async def test_forged_cookie_gives_a_fresh_session_and_no_store_read(
    client: Any, store: Any, forgery: str
) -> None:
    value, victim_id = await _victim(client)
    forged = FORGERIES[forgery](value, victim_id)
    assert forged != value
    loads_before = store.calls.get("load", 0)
    reply = await client.get("/peek", cookie=forged)
    _assert_anonymous(reply, victim_id, forged)
    # The signature is checked before the store is asked: forging costs no store I/O.
    assert store.calls.get("load", 0) == loads_before
    assert reply.session_cookie is None  # an unmodified new session sends no cookie
    # And the victim's session is intact.
    assert (await client.get("/peek", cookie=value)).json["data"] == {"user": "victim"}


@pytest.mark.gen_test(timeout=30)
async def test_every_bit_flip_of_a_real_cookie_is_refused(client: Any, store: Any) -> None:
    value, victim_id = await _victim(client)
    loads_before = store.calls.get("load", 0)
    for index in range(len(value)):
        # Flipping the low bit keeps every base64url character (and '.') printable.
        flipped = value[:index] + chr(ord(value[index]) ^ 1) + value[index + 1 :]
        _assert_anonymous(await client.get("/peek", cookie=flipped), victim_id, flipped)
    assert store.calls.get("load", 0) == loads_before
    assert (await client.get("/peek", cookie=value)).json["data"] == {"user": "victim"}


@pytest.mark.gen_test(timeout=30)
async def test_every_truncation_of_a_real_cookie_is_refused(client: Any, store: Any) -> None:
    value, victim_id = await _victim(client)
    loads_before = store.calls.get("load", 0)
    for length in range(1, len(value)):
        _assert_anonymous(await client.get("/peek", cookie=value[:length]), victim_id)
        _assert_anonymous(await client.get("/peek", cookie=value[length:]), victim_id)
    assert store.calls.get("load", 0) == loads_before


@pytest.mark.gen_test(timeout=30)
async def test_guessed_ids_never_reach_the_store(client: Any, store: Any) -> None:
    _, victim_id = await _victim(client)
    loads_before = store.calls.get("load", 0)
    for _ in range(100):
        guess = secrets.token_urlsafe(32)
        for cookie in (guess, guess + "." + secrets.token_urlsafe(32)):
            _assert_anonymous(await client.get("/peek", cookie=cookie), victim_id, cookie)
    assert store.calls.get("load", 0) == loads_before
    assert await store.count() == 1  # only the victim's record


@pytest.mark.gen_test
async def test_a_validly_signed_but_unknown_id_is_never_adopted(
    client: Any, store: Any, sign: Callable[[str], str], key_of: Callable[[str], str]
) -> None:
    # What an attacker holding the secret (or replaying a destroyed session) could send.
    planted = "planted" + "x" * 36
    reply = await client.get("/put?user=mallory", cookie=sign(planted))
    assert reply.status == 200
    assert reply.json["new"] is True and reply.json["id"] != planted
    assert reply.session_cookie is not None and planted not in reply.session_cookie
    assert await store.load(key_of(planted)) is None
    assert [k async for k in store.keys()] == [key_of(reply.json["id"])]


@pytest.mark.gen_test
async def test_session_id_in_query_string_or_custom_header_is_ignored(client: Any) -> None:
    value, victim_id = await _victim(client)
    for path, headers in [
        (f"/peek?{NAME}={value}", None),
        (f"/peek?session={victim_id}&sid={value}", None),
        ("/peek", {"X-Session-Id": value, "Authorization": f"Session {value}"}),
    ]:
        reply = await client.get(path, headers=headers)
        _assert_anonymous(reply, victim_id)


# -- nameless cookies (tossing itself: test_cookie_tossing.py) ---------------------


@pytest.mark.gen_test
async def test_a_nameless_cookie_cannot_pose_as_the_session_cookie(client: Any) -> None:
    # Werkzeug CVE-2023-23934: "=sessionid=x" from a sibling domain read as sessionid=x.
    victim, victim_id = await _victim(client)
    attacker, attacker_id = await _victim(client)
    reply = await client.get("/peek", raw_cookie_header=f"={NAME}={attacker}; {NAME}={victim}")
    assert reply.json["id"] == victim_id
    reply = await client.get("/peek", raw_cookie_header=f"={NAME}={attacker}")
    _assert_anonymous(reply, victim_id)
    assert reply.json["id"] != attacker_id


# -- oversized input -----------------------------------------------------------------


@pytest.mark.gen_test
async def test_a_60k_cookie_header_is_handled(client: Any, store: Any) -> None:
    victim, victim_id = await _victim(client)
    junk = "; ".join(f"c{i}=" + "v" * 40 for i in range(1300))  # ~60 KB, under Tornado's 64 KiB
    assert 55_000 < len(junk) < 64_000
    reply = await client.get("/peek", raw_cookie_header=f"{junk}; {NAME}={victim}")
    assert reply.status == 200 and reply.json["id"] == victim_id
    reply = await client.get("/peek", raw_cookie_header=f"{junk}; {NAME}=" + "A" * 2000)
    _assert_anonymous(reply, victim_id)


@pytest.mark.gen_test
async def test_a_60k_session_cookie_value_is_refused_without_a_store_read(
    client: Any, store: Any
) -> None:
    _, victim_id = await _victim(client)
    loads_before = store.calls.get("load", 0)
    reply = await client.get("/peek", cookie="A" * 60_000)
    _assert_anonymous(reply, victim_id)
    assert store.calls.get("load", 0) == loads_before


# -- key rotation over HTTP ----------------------------------------------------------


@pytest.mark.gen_test
@pytest.mark.parametrize("session_options", [[SECRET, OLD_SECRET]], indirect=True)
async def test_a_cookie_signed_with_the_previous_secret_still_works_during_rotation(
    client: Any, session_options: SessionOptions
) -> None:
    value, victim_id = await _victim(client)
    assert Signer([SECRET.encode()], NAME).unsign(value) == victim_id  # the new key signs
    old = Signer([OLD_SECRET.encode()], NAME).sign(victim_id)
    reply = await client.get("/peek", cookie=old)
    assert reply.json["id"] == victim_id and reply.json["data"] == {"user": "victim"}
    # ... and comes back re-signed with the current secret, so the old one can retire.
    assert reply.session_cookie == value


@pytest.mark.gen_test
async def test_a_cookie_signed_with_a_retired_secret_is_refused(client: Any) -> None:
    _, victim_id = await _victim(client)
    old = Signer([OLD_SECRET.encode()], NAME).sign(victim_id)
    _assert_anonymous(await client.get("/peek", cookie=old), victim_id)
