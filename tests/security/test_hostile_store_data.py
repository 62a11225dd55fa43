"""Hostile bytes in the store: corrupt, truncated, oversized and malicious records.

Owns the "deserialization attacks" and "stolen/corrupted store" evidence of
SECURITY.md.  Each test writes hostile bytes straight into the MemoryStore record of
a session id, then requests with the matching signed cookie over real HTTP.  The
contract: a 200 with a fresh, empty session, a warning in the log, the hostile
record deleted, bounded memory while decoding, and never a crash or a hang.

Payloads that could take the whole interpreter down (a C stack overflow in the
decoder) are first decoded in a subprocess; if that subprocess dies the test fails
instead of killing the test run.
"""

from __future__ import annotations

import math
import random
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
import tracemalloc
import uuid
from typing import Any

import msgpack
import pytest

from tornado_sessions import CorruptRecordError, MemoryStore, Record, SessionOptions
from tornado_sessions.meta import Meta, pack_meta

SESSION_ID = "H" * 43
GOOD_META = pack_meta(Meta(time.time()))


def _nested_ext(depth: int, code: int = 6) -> bytes:
    data = msgpack.packb(1)
    for _ in range(depth):
        data = msgpack.packb(msgpack.ExtType(code, msgpack.packb([msgpack.ExtType(code, data)])))
    return data


def _len32(prefix: bytes, length: int, tail: bytes = b"") -> bytes:
    return prefix + struct.pack(">I", length) + tail


HOSTILE_MSGPACK: dict[str, bytes] = {
    **{f"random_bytes_{seed}": random.Random(seed).randbytes(64 + seed * 50) for seed in range(6)},
    "truncated_map": msgpack.packb({"user": "alice", "cart": [1, 2, 3]})[:-3],
    "truncated_str": msgpack.packb("x" * 100)[:50],
    "empty": b"",
    "trailing_data": msgpack.packb(1) + b"\x01\x02",
    "str32_claims_4gib": _len32(b"\xdb", 0xFFFFFFFF, b"abc"),
    "bin32_claims_4gib": _len32(b"\xc6", 0xFFFFFFFF, b"abc"),
    "array32_claims_4g_items": _len32(b"\xdd", 0xFFFFFFFF, b"\x01"),
    "map32_claims_4g_items": _len32(b"\xdf", 0xFFFFFFFF, b"\xa1a\x01"),
    "ext32_claims_4gib": _len32(b"\xc9", 0xFFFFFFFF, b"\x05"),
    "unknown_ext_code": msgpack.packb(msgpack.ExtType(99, b"payload")),
    "negative_ext_code": b"\xd4\x9c\x00",  # fixext1, code -100 (reserved range)
    "ext_code_127": msgpack.packb(msgpack.ExtType(127, b"")),
    "int_map_key": b"\x81\x01\x02",
    "nil_map_key": b"\x81\xc0\x02",
    "deep_array_nesting": b"\x91" * 100_000 + b"\x01",
    "deep_map_nesting": b"\x81\xa1k" * 100_000 + b"\x01",
    "deep_ext_nesting_40": _nested_ext(40),
    "deep_ext_nesting_200": _nested_ext(200),
    "deep_ext_nesting_3000": _nested_ext(3000),
    "deep_set_nesting_500": _nested_ext(500, code=5),
    "over_max_bytes": _len32(b"\xc6", 2 << 20, b"\x00" * (2 << 20)),
    "datetime_ext_not_text": msgpack.packb(msgpack.ExtType(1, b"\xff\xfe")),
    "datetime_ext_not_a_date": msgpack.packb(msgpack.ExtType(1, b"yesterday")),
    "date_ext_garbage": msgpack.packb(msgpack.ExtType(2, b"2024-13-45")),
    "uuid_ext_3_bytes": msgpack.packb(msgpack.ExtType(3, b"abc")),
    "decimal_ext_garbage": msgpack.packb(msgpack.ExtType(4, b"one million")),
    "set_of_unhashables": msgpack.packb(msgpack.ExtType(5, msgpack.packb([[1], [2]]))),
    # 4,000 UUIDs that hash alike (their ints differ by 2**61 - 1): a set of them takes
    # seconds to build, so a planted one must be refused, not built.
    "set_of_colliding_members": msgpack.packb(
        msgpack.ExtType(
            5,
            msgpack.packb(
                [
                    msgpack.ExtType(3, uuid.UUID(int=7 + k * (2**61 - 1)).bytes)
                    for k in range(4000)
                ]
            ),
        )
    ),
    "tuple_ext_not_an_array": msgpack.packb(msgpack.ExtType(6, msgpack.packb({"a": 1}))),
    "timedelta_overflow": msgpack.packb(msgpack.ExtType(8, msgpack.packb([10**12, 0, 0]))),
    "timedelta_too_many_args": msgpack.packb(msgpack.ExtType(8, msgpack.packb(list(range(50))))),
}

HOSTILE_JSON: dict[str, bytes] = {
    "invalid_utf8": b'"\xff\xfe"',
    "truncated": b'{"user": "ali',
    "deep_nesting": b"[" * 100_000 + b"]" * 100_000,
    "huge_integer": b"9" * 5000,
    "over_max_bytes": b'"' + b"a" * (2 << 20) + b'"',
    "random_bytes": random.Random(7).randbytes(300),
}

HUGE_LENGTH_CLAIMS = [name for name in HOSTILE_MSGPACK if "claims" in name]


def _crashers(payloads: dict[str, bytes], serializer: str) -> set[str]:
    """Names of the payloads whose decoding kills a Python process (decoded in a child)."""
    script = textwrap.dedent(
        """
        import sys
        from tornado_sessions.serializers import JSONSerializer, MsgpackSerializer
        s = MsgpackSerializer() if sys.argv[1] == "msgpack" else JSONSerializer()
        for path in sys.argv[2:]:
            data = open(path, "rb").read()
            try:
                s.loads(data)
            except ValueError:
                pass
            print(path, flush=True)
        """
    )
    crashed: set[str] = set()
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for name, data in payloads.items():
            path = f"{tmp}/{name}"
            with open(path, "wb") as f:
                f.write(data)
            paths[path] = name
        pending = list(paths)
        while pending:
            result = subprocess.run(
                [sys.executable, "-c", script, serializer, *pending],
                capture_output=True,
                text=True,
                timeout=120,
            )
            done = set(result.stdout.split())
            if result.returncode == 0:
                break
            # The first payload not reported done is the one that killed the child.
            first = next(p for p in pending if p not in done)
            crashed.add(paths[first])
            pending = [p for p in pending if p not in done and p != first]
    return crashed


@pytest.fixture(scope="module")
def msgpack_crashers() -> set[str]:
    return _crashers(HOSTILE_MSGPACK, "msgpack")


@pytest.fixture(scope="module")
def json_crashers() -> set[str]:
    return _crashers(HOSTILE_JSON, "json")


@pytest.fixture
def session_options(request: pytest.FixtureRequest, store: Any) -> SessionOptions:
    serializer = getattr(request, "param", "msgpack")
    return SessionOptions(
        secret="security-suite-secret-0123456789abcdef", store=store, serializer=serializer
    )


async def _plant(store: Any, key_of: Any, fields: dict[str, bytes], meta: bytes = GOOD_META) -> str:
    key = key_of(SESSION_ID)
    await store.save(key, Record(fields, meta, time.time() + 600))
    return key


def _assert_fresh_and_logged(reply: Any, caplog: pytest.LogCaptureFixture) -> None:
    assert reply.status == 200, reply.body
    assert reply.json["new"] is True
    assert reply.json["id"] != SESSION_ID
    warnings = [
        r for r in caplog.records if r.name == "tornado_sessions" and r.levelname == "WARNING"
    ]
    assert warnings, "no warning was logged for the hostile record"
    assert SESSION_ID not in caplog.text  # the live id is never logged, only a hash


def _assert_value_dropped_and_logged(reply: Any, caplog: pytest.LogCaptureFixture) -> None:
    """A hostile *value* reads as absent; the session and its healthy keys survive."""
    assert reply.status == 200, reply.body
    assert reply.json["new"] is False and reply.json["id"] == SESSION_ID
    assert reply.json["data"] == {"ok": 1}
    warnings = [
        r for r in caplog.records if r.name == "tornado_sessions" and r.levelname == "WARNING"
    ]
    assert warnings, "no warning was logged for the hostile value"
    assert "corrupt value of key 'evil'" in caplog.text
    assert SESSION_ID not in caplog.text  # the live id is never logged, only a hash


@pytest.mark.gen_test
@pytest.mark.parametrize("payload", list(HOSTILE_MSGPACK))
async def test_hostile_msgpack_value_reads_as_absent_and_is_removed(
    client: Any,
    store: Any,
    sign: Any,
    key_of: Any,
    caplog: pytest.LogCaptureFixture,
    msgpack_crashers: set[str],
    payload: str,
) -> None:
    assert payload not in msgpack_crashers, "decoding this record kills the Python process"
    key = await _plant(store, key_of, {"ok": msgpack.packb(1), "evil": HOSTILE_MSGPACK[payload]})
    tracemalloc.start()
    try:
        reply = await client.get("/peek", cookie=sign(SESSION_ID), request_timeout=5)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    if len(HOSTILE_MSGPACK[payload]) > SessionOptions().max_record_bytes:
        # Over the record-size cap: the whole record is refused before any decoding.
        _assert_fresh_and_logged(reply, caplog)
        assert await store.load(key) is None
    else:
        _assert_value_dropped_and_logged(reply, caplog)
        record = await store.load(key)
        assert record is not None and set(record.fields) == {"ok"}  # the hostile bytes are gone
    if payload in HUGE_LENGTH_CLAIMS:
        # A header claiming 4 GiB allocates nothing of the sort.
        assert peak < 4 << 20, f"decoding allocated {peak} bytes"


@pytest.mark.gen_test
@pytest.mark.parametrize("session_options", ["json"], indirect=True)
@pytest.mark.parametrize("payload", list(HOSTILE_JSON))
async def test_hostile_json_value_reads_as_absent_and_is_removed(
    client: Any,
    store: Any,
    sign: Any,
    key_of: Any,
    caplog: pytest.LogCaptureFixture,
    json_crashers: set[str],
    session_options: SessionOptions,
    payload: str,
) -> None:
    assert payload not in json_crashers, "decoding this record kills the Python process"
    key = await _plant(store, key_of, {"ok": b"1", "evil": HOSTILE_JSON[payload]})
    reply = await client.get("/peek", cookie=sign(SESSION_ID), request_timeout=5)
    if len(HOSTILE_JSON[payload]) > session_options.max_record_bytes:
        _assert_fresh_and_logged(reply, caplog)  # over the record-size cap: refused whole
        assert await store.load(key) is None
        return
    _assert_value_dropped_and_logged(reply, caplog)
    record = await store.load(key)
    assert record is not None and set(record.fields) == {"ok"}


HOSTILE_META: dict[str, bytes] = {
    "garbage": b"\xff\x00garbage",
    "empty": b"",
    "truncated": pack_meta(Meta(time.time()))[:-2],
    "not_a_tuple": msgpack.packb(42),
    "wrong_arity": msgpack.packb((1, time.time())),
    "unknown_version": msgpack.packb((99, time.time(), None)),
    "created_at_text": msgpack.packb((1, "yesterday", None)),
    "max_age_text": msgpack.packb((1, time.time(), "forever")),
    "deep_nesting": b"\x91" * 100_000,
    "max_age_huge": msgpack.packb((1, time.time(), 1e308)),
    "max_age_inf": msgpack.packb((1, time.time(), math.inf)),
    "max_age_nan": msgpack.packb((1, time.time(), math.nan)),
    "max_age_2_pow_63": msgpack.packb((1, time.time(), 2**63)),
    "max_age_negative": msgpack.packb((1, time.time(), -5.0)),
    "max_age_zero": msgpack.packb((1, time.time(), 0)),
    "created_at_inf": msgpack.packb((1, math.inf, None)),
    "created_at_nan": msgpack.packb((1, math.nan, None)),
    "created_at_30_years_ahead": msgpack.packb((1, time.time() + 1e9, None)),
}


@pytest.mark.gen_test(timeout=10)
@pytest.mark.parametrize("meta", list(HOSTILE_META))
async def test_hostile_record_meta_gives_a_fresh_session(
    client: Any,
    store: Any,
    sign: Any,
    key_of: Any,
    caplog: pytest.LogCaptureFixture,
    meta: str,
) -> None:
    key = await _plant(store, key_of, {"user": msgpack.packb("victim")}, HOSTILE_META[meta])
    # /put modifies the session, so the cookie (and its Max-Age) is computed too.
    reply = await client.get("/put?y=2", cookie=sign(SESSION_ID), request_timeout=3)
    _assert_fresh_and_logged(reply, caplog)
    assert reply.json["data"] == {"y": "2"}
    assert await store.load(key) is None
    # The new session's record expires within the configured max_age, as always.
    records = [await store.load(k) async for k in store.keys()]
    assert len(records) == 1 and records[0] is not None
    assert time.time() < records[0].expires_at <= time.time() + 14 * 24 * 3600 + 1


@pytest.mark.gen_test(timeout=60)
async def test_decoded_size_is_bounded_by_the_record_size(
    client: Any, store: Any, sign: Any, key_of: Any
) -> None:
    # The worst legitimate amplification msgpack allows: an array of 256 Ki empty arrays.
    count = 1 << 18
    data = _len32(b"\xdd", count, b"\x90" * count)
    await _plant(store, key_of, {"big": data})
    tracemalloc.start()
    try:
        await client.get("/health", cookie=sign(SESSION_ID))  # warm-up, no session
        tracemalloc.reset_peak()
        reply = await client.get("/keys", cookie=sign(SESSION_ID), request_timeout=50)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert reply.status == 200 and reply.json["id"] == SESSION_ID
    # Bounded, though not small: ~70 bytes of Python objects per byte of record.
    assert peak < 100 * len(data), f"{peak} bytes to decode a {len(data)}-byte record"


def test_hostile_payload_table_is_really_hostile() -> None:
    # Guard against a payload that decodes fine (then the tests above prove nothing).
    from tornado_sessions.serializers import JSONSerializer, MsgpackSerializer

    # (Payloads over the record-size cap are refused whole before decoding; on their
    # own, they fail a serializer given the same cap.)
    for name, data in HOSTILE_MSGPACK.items():
        if name.startswith("deep_"):
            continue  # decoded in a subprocess by the fixture
        with pytest.raises(ValueError):
            MsgpackSerializer(max_bytes=1 << 20).loads(data)
    for name, data in HOSTILE_JSON.items():
        if name == "deep_nesting":
            continue
        with pytest.raises(ValueError):
            JSONSerializer(max_bytes=1 << 20).loads(data)


# -- records the store cannot read ---------------------------------------------------


class _Shape:
    """Something a broken or hostile store hands back instead of a valid Record."""

    def __init__(self, value: Any) -> None:
        self.value = value


HOSTILE_SHAPES: dict[str, Any] = {
    "meta_is_an_int": Record({"user": b"\xa5alice"}, 800_000_000, 4e9),  # type: ignore[arg-type]
    "meta_is_text": Record({}, "meta", 4e9),  # type: ignore[arg-type]
    "value_is_an_int": Record({"user": 800_000_000}, GOOD_META, 4e9),  # type: ignore[dict-item]
    "value_is_text": Record({"user": "alice"}, GOOD_META, 4e9),  # type: ignore[dict-item]
    "name_is_bytes": Record({b"user": b"\xa5alice"}, GOOD_META, 4e9),  # type: ignore[dict-item]
    "fields_is_a_list": Record([("user", b"x")], GOOD_META, 4e9),  # type: ignore[arg-type]
    "fields_is_none": Record(None, GOOD_META, 4e9),  # type: ignore[arg-type]
    "expiry_is_nan": Record({}, GOOD_META, math.nan),
    "expiry_is_infinite": Record({}, GOOD_META, math.inf),
    "expiry_is_text": Record({}, GOOD_META, "tomorrow"),  # type: ignore[arg-type]
    "not_a_record": {"fields": {}, "meta": GOOD_META, "expires_at": 4e9},
    "store_says_corrupt": CorruptRecordError("WRONGTYPE: the key holds a list"),
}


class PlantingStore(MemoryStore):
    """Returns (or raises) a planted shape for one key, and records what was destroyed."""

    def __init__(self) -> None:
        super().__init__()
        self.planted: dict[str, Any] = {}
        self.destroyed: list[str] = []

    async def load(self, key: str) -> Any:
        if key in self.planted:
            shape = self.planted[key]
            if isinstance(shape, Exception):
                raise shape
            return shape
        return await super().load(key)

    async def destroy(self, key: str) -> None:
        self.destroyed.append(key)
        self.planted.pop(key, None)
        await super().destroy(key)


@pytest.fixture
def store() -> PlantingStore:
    """Every test here plants its records in this store (it is a MemoryStore otherwise)."""
    return PlantingStore()


@pytest.mark.gen_test
@pytest.mark.parametrize("shape", list(HOSTILE_SHAPES))
async def test_a_record_the_store_cannot_read_is_deleted_and_gives_a_fresh_session(
    client: Any,
    store: PlantingStore,
    sign: Any,
    key_of: Any,
    shape: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    key = key_of(SESSION_ID)
    store.planted[key] = HOSTILE_SHAPES[shape]
    tracemalloc.start()
    try:
        reply = await client.get("/put?y=2", cookie=sign(SESSION_ID), request_timeout=3)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    _assert_fresh_and_logged(reply, caplog)
    assert reply.json["data"] == {"y": "2"}
    assert store.destroyed == [key] and key not in store.planted
    assert peak < 16 << 20, "an allocation was sized by a number read from the store"
    # And it stays fixed: the next request with that cookie is simply anonymous.
    again = await client.get("/peek", cookie=sign(SESSION_ID))
    assert again.status == 200 and again.json["new"] is True
