"""Session ids, what a stolen store dump is worth, and what an operator can do with one.

Owns the "brute-forcing ids" (entropy) and "stolen store dumps" lines of
SECURITY.md.  Ids are 256 bits from the OS CSPRNG; the store is keyed by the
SHA-256 of the id (``hash_ids``, the default), so a dump of the store (keys, fields
and meta) holds nothing that can be sent back as a cookie, even by someone who also
holds the signing secret.  The values themselves are *not* encrypted (a documented
gap), and there is no per-user index: ending every session of one user means
scanning the store, which the last test shows is possible with the public API.
"""

from __future__ import annotations

import base64
import random
import re
from typing import Any

import pytest

from tornado_sessions import ConfigurationError
from tornado_sessions.ids import checked_id, generate_id
from tornado_sessions.signing import Signer

SECRET = "security-suite-secret-0123456789abcdef"
NAME = "sessionid"


def test_ids_carry_256_bits_from_the_os_csprng() -> None:
    ids = [generate_id() for _ in range(100_000)]
    assert len(set(ids)) == len(ids)
    for session_id in ids[:1000]:
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", session_id)
        assert len(base64.urlsafe_b64decode(session_id + "=")) == 32
    # Every character position varies: no fixed prefix, counter or timestamp inside.
    assert all(len({s[i] for s in ids[:2000]}) > 32 for i in range(42))


def test_ids_do_not_come_from_the_random_module() -> None:
    random.seed(1234)
    first = [generate_id() for _ in range(5)]
    random.seed(1234)
    assert [generate_id() for _ in range(5)] != first


@pytest.mark.parametrize(
    "bad", ["short", "x" * 21, "x" * 129, "has space" * 3, "semi;colon" * 3, "é" * 30, 12345]
)
def test_a_custom_genid_cannot_produce_a_weak_or_unsafe_id(bad: object) -> None:
    with pytest.raises(ConfigurationError):
        checked_id(bad)


async def _sessions(client: Any, count: int) -> list[tuple[str, str]]:
    """Create ``count`` sessions over HTTP; return (id, cookie) pairs."""
    made = []
    for i in range(count):
        reply = await client.get(f"/put?user=user{i}&role=admin")
        made.append((reply.json["id"], reply.session_cookie))
    return made


@pytest.mark.gen_test
async def test_a_store_dump_holds_no_session_id(client: Any, store: Any, key_of: Any) -> None:
    made = await _sessions(client, 20)
    dump = b""
    keys = []
    async for key in store.keys():
        keys.append(key)
        record = await store.load(key)
        dump += (
            key.encode()
            + record.meta
            + b"".join(name.encode() + value for name, value in record.fields.items())
        )
    assert sorted(keys) == sorted(key_of(session_id) for session_id, _ in made)
    assert all(re.fullmatch(r"[0-9a-f]{64}", key) for key in keys)  # fixed shape, no injection
    for session_id, cookie in made:
        assert session_id.encode() not in dump
        assert cookie.encode() not in dump


@pytest.mark.gen_test
async def test_store_keys_replayed_as_cookies_are_refused_even_with_the_secret(
    client: Any, store: Any
) -> None:
    await _sessions(client, 5)
    keys = [key async for key in store.keys()]
    signer = Signer([SECRET.encode()], NAME)
    for key in keys:
        for cookie in (key, signer.sign(key)):  # without and with the signing secret
            reply = await client.get("/peek", cookie=cookie)
            assert reply.status == 200
            assert reply.json["new"] is True and reply.json["data"] == {}
    assert sorted([key async for key in store.keys()]) == sorted(keys)  # nothing touched


@pytest.mark.gen_test
async def test_session_values_are_stored_unencrypted(client: Any, store: Any) -> None:
    # Documented gap (OWASP "protect the session repository"): no encryption at rest;
    # protect the store itself (network, authentication, disk).
    await client.get("/put?email=alice@example.com")
    (key,) = [k async for k in store.keys()]
    record = await store.load(key)
    assert b"alice@example.com" in record.fields["email"]


@pytest.mark.gen_test
async def test_an_operator_can_end_every_session_of_one_user_by_scanning_the_store(
    client: Any, store: Any
) -> None:
    from tornado_sessions.serializers import MsgpackSerializer

    alice = [(await client.get("/login?user=alice")).session_cookie for _ in range(3)]
    bob = (await client.get("/login?user=bob")).session_cookie
    loads = MsgpackSerializer().loads
    for key in [k async for k in store.keys()]:
        record = await store.load(key)
        if record is not None and loads(record.fields["user"]) == "alice":
            await store.destroy(key)
    for cookie in alice:
        assert (await client.get("/peek", cookie=cookie)).json["new"] is True
    assert (await client.get("/peek", cookie=bob)).json["data"] == {"user": "bob"}
