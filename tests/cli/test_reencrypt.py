"""``tornado-sessions reencrypt``: a store's values re-sealed with the first key.

Sessions are written through the library with an old key (as an application would),
the command runs as a separate process against the same Redis, and the values are
then read with only the new key.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import time
from typing import Any

from tornado_sessions import Record, create_store
from tornado_sessions.codec import ValueCodec
from tornado_sessions.encryption import ValueCipher, parse_encryption_keys
from tornado_sessions.meta import Meta, pack_meta
from tornado_sessions.serializers import MsgpackSerializer

OLD, NEW = (base64.urlsafe_b64encode(secrets.token_bytes(32)).decode() for _ in range(2))


def _codec(*keys: str) -> ValueCodec:
    return ValueCodec(MsgpackSerializer(), ValueCipher(parse_encryption_keys(list(keys))))


def _write(url: str, codec: ValueCodec, count: int) -> list[str]:
    async def go() -> list[str]:
        store = create_store(url)
        await store.open()
        try:
            keys = []
            for number in range(count):
                key = secrets.token_hex(32)
                fields = {"user": codec.encode(key, "user", f"user-{number}")}
                meta = pack_meta(Meta(created_at=time.time()))
                await store.save(key, Record(fields, meta, time.time() + 600))
                keys.append(key)
            return keys
        finally:
            await store.close()

    return asyncio.run(go())


def _read(url: str, codec: ValueCodec, keys: list[str]) -> list[Any]:
    async def go() -> list[Any]:
        store = create_store(url)
        await store.open()
        try:
            values = []
            for key in keys:
                record = await store.load(key)
                assert record is not None
                values.append(codec.decode(key, "user", record.fields["user"]))
            return values
        finally:
            await store.close()

    return asyncio.run(go())


def test_reencrypt_moves_every_value_to_the_first_key(run_cli: Any, redis_url: str) -> None:
    keys = _write(redis_url, _codec(OLD), 3)
    ran = run_cli("reencrypt", redis_url, env={"TORNADO_SESSIONS_ENCRYPTION_KEYS": f"{NEW},{OLD}"})
    assert ran.code == 0, ran.output
    assert "3 values re-sealed" in ran.stdout
    assert _read(redis_url, _codec(NEW), keys) == ["user-0", "user-1", "user-2"]
    assert OLD not in ran.output and NEW not in ran.output


def test_reencrypt_without_keys_exits_4_saying_where_they_go(run_cli: Any, redis_url: str) -> None:
    ran = run_cli("reencrypt", redis_url)
    assert ran.code == 4
    assert "TORNADO_SESSIONS_ENCRYPTION_KEYS" in ran.stderr


def test_values_no_key_opens_exit_1(run_cli: Any, redis_url: str) -> None:
    _write(redis_url, _codec(OLD), 1)
    ran = run_cli("reencrypt", redis_url, env={"TORNADO_SESSIONS_ENCRYPTION_KEYS": NEW})
    assert ran.code == 1
    assert "1 unreadable" in ran.stdout
