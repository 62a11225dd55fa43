"""Cookie tossing: a sibling subdomain sets our cookie name for the parent domain.

The browser then sends two cookies of the same name, the victim's host-only one
and the attacker's, and nothing in the request tells which is which.  The rules
(SECURITY.md, "Cookie tossing"):

- a request carrying the name twice uses neither: it is anonymous, so a victim who
  had a session is never turned into the attacker;
- its response deletes the copies a sibling can set (each parent domain of the
  host, at the request path's prefixes) and leaves the host-only cookie, which may
  be the victim's own, alone: one request later the victim is themselves again;
- a logout (``destroy()``) in such a request deletes every validly signed session
  it carried, so the victim's own record dies even while a tossed cookie is present.

What the default configuration cannot do: a victim with *no* cookie of their own
who receives a tossed one sends only that one, and is logged in as the attacker
(a login-CSRF).  The ``__Host-`` cookie name prevents it; the browser suite proves
that in Chromium (tests/browser/test_cookie_tossing.py).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from tornado.httputil import HTTPHeaders

NAME = "sessionid"
HOST = "app.example.test"


async def _session(client: Any, user: str) -> tuple[str, str]:
    reply = await client.get(f"/put?user={user}", headers={"Host": HOST})
    assert reply.status == 200 and reply.session_cookie
    return reply.session_cookie, reply.json["id"]


def _deletions(reply: Any) -> list[dict[str, str]]:
    """The Set-Cookie headers that delete our cookie, as attribute dicts."""
    found = []
    for header in reply.set_cookies:
        first, *attributes = header.split(";")
        name, _, value = first.partition("=")
        if name.strip() != NAME or value:
            continue
        parsed = {}
        for attribute in attributes:
            key, _, val = attribute.strip().partition("=")
            parsed[key.lower()] = val
        assert parsed["max-age"] == "0"
        found.append(parsed)
    return found


@pytest.mark.gen_test
@pytest.mark.parametrize("victim_first", [True, False])
async def test_a_tossed_cookie_never_turns_a_logged_in_victim_into_the_attacker(
    client: Any, victim_first: bool
) -> None:
    victim, victim_id = await _session(client, "victim")
    attacker, attacker_id = await _session(client, "attacker")
    pair = [f"{NAME}={victim}", f"{NAME}={attacker}"]
    header = "; ".join(pair if victim_first else pair[::-1])
    reply = await client.get("/peek", raw_cookie_header=header, headers={"Host": HOST})
    assert reply.status == 200
    assert reply.json["new"] is True and reply.json["data"] == {}
    assert reply.json["id"] not in (victim_id, attacker_id)
    deletions = _deletions(reply)
    # The host-only cookie (no Domain) is left alone: it may be the victim's own.
    assert deletions and all(d.get("domain") == "example.test" for d in deletions)
    assert any(d["path"] == "/" for d in deletions)
    assert any(d["path"] == "/peek" for d in deletions)
    # Once the browser dropped the tossed copy, the victim is themselves again.
    again = await client.get("/peek", cookie=victim, headers={"Host": HOST})
    assert again.json["id"] == victim_id and again.json["data"] == {"user": "victim"}


@pytest.mark.gen_test
async def test_a_logout_with_a_tossed_cookie_present_ends_the_victims_own_session(
    client: Any, store: Any, key_of: Any
) -> None:
    victim, victim_id = await _session(client, "victim")
    attacker, attacker_id = await _session(client, "attacker")
    reply = await client.get(
        "/logout",
        raw_cookie_header=f"{NAME}={victim}; {NAME}={attacker}",
        headers={"Host": HOST},
    )
    assert reply.status == 200
    assert await store.load(key_of(victim_id)) is None  # the victim's record is gone
    assert await store.load(key_of(attacker_id)) is None  # so is the tossed one
    deletions = _deletions(reply)
    assert any("domain" not in d for d in deletions)  # the host-only cookie is cleared
    assert any(d.get("domain") == "example.test" for d in deletions)
    # Whatever the browser still sends afterwards is anonymous.
    for cookie in (victim, attacker):
        after = await client.get("/peek", cookie=cookie, headers={"Host": HOST})
        assert after.json["new"] is True and after.json["data"] == {}


@pytest.mark.gen_test
async def test_a_request_with_duplicates_costs_no_store_read(client: Any, store: Any) -> None:
    victim, _ = await _session(client, "victim")
    attacker, _ = await _session(client, "attacker")
    store.calls.clear()
    await client.get("/peek", raw_cookie_header=f"{NAME}={victim}; {NAME}={attacker}")
    assert store.calls.get("load", 0) == 0


@pytest.mark.gen_test
async def test_no_parent_domain_deletions_for_an_ip_host(client: Any) -> None:
    victim, _ = await _session(client, "victim")
    reply = await client.get("/peek", raw_cookie_header=f"{NAME}={victim}; {NAME}={victim}")
    assert _deletions(reply) == []


@pytest.mark.gen_test
async def test_a_hostile_path_cannot_inject_cookie_attributes(client: Any) -> None:
    victim, _ = await _session(client, "victim")
    reply = await client.get(
        "/peek;Domain=evil.test",
        raw_cookie_header=f"{NAME}={victim}; {NAME}={victim}",
        headers={"Host": HOST},
    )
    for header in reply.set_cookies:
        assert "evil" not in header


@pytest.mark.gen_test
async def test_default_configuration_cannot_tell_a_lone_tossed_cookie(client: Any) -> None:
    # Documented gap (SECURITY.md): a victim with no cookie of their own who receives a
    # tossed one sends only that one, indistinguishable from a real session cookie.
    attacker, attacker_id = await _session(client, "attacker")
    reply = await client.get("/peek", cookie=attacker, headers={"Host": HOST})
    assert reply.json["id"] == attacker_id


@pytest.mark.gen_test
async def test_two_cookie_headers_carrying_the_name_are_duplicates_too(client: Any) -> None:
    victim, victim_id = await _session(client, "victim")
    attacker, attacker_id = await _session(client, "attacker")
    headers = HTTPHeaders()
    headers.add("Cookie", f"{NAME}={victim}")
    headers.add("Cookie", f"{NAME}={attacker}")
    response = await client.http_client.fetch(
        client.base_url + "/peek", headers=headers, raise_error=False
    )
    assert response.code == 200
    body = json.loads(response.body)
    assert body["new"] is True and body["id"] not in (victim_id, attacker_id)
