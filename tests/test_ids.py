"""Session ids: entropy, shape, and the hashed store key."""

from __future__ import annotations

import hashlib

import pytest

from tests.conftest import Client, CountingStore
from tornado_sessions import ConfigurationError
from tornado_sessions.ids import checked_id, generate_id, is_valid_id, store_key


def test_generated_ids_carry_256_bits() -> None:
    ids = {generate_id() for _ in range(1000)}
    assert len(ids) == 1000
    for value in ids:
        assert len(value) == 43 and is_valid_id(value)  # 43 base64url chars = 256 bits


@pytest.mark.gen_test
async def test_store_never_sees_the_raw_id(client: Client, store: CountingStore) -> None:
    session_id = (await client.fetch("/set?a=1")).json()["id"]
    (key,) = store._records
    assert session_id not in key
    assert key == hashlib.sha256(session_id.encode()).hexdigest()


@pytest.mark.gen_test
@pytest.mark.options(hash_ids=False)
async def test_hash_ids_off_stores_under_the_id(client: Client, store: CountingStore) -> None:
    session_id = (await client.fetch("/set?a=1")).json()["id"]
    assert list(store._records) == [session_id]


def test_store_key_does_not_depend_on_the_secret() -> None:
    assert store_key("a" * 43, True) == store_key("a" * 43, True)
    assert len(store_key("a" * 43, True)) == 64


@pytest.mark.parametrize("bad", ["short", "has space" * 5, "dot.in.it" * 5, 42, None, "x" * 200])
def test_custom_genid_output_is_checked(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="genid"):
        checked_id(bad)


@pytest.mark.gen_test
@pytest.mark.options(genid=lambda: "custom-id-" + "0" * 30)
async def test_custom_genid_is_used(client: Client) -> None:
    assert (await client.fetch("/set?a=1")).json()["id"] == "custom-id-" + "0" * 30
