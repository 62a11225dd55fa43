"""One definition of a record's size, checked the same way before a write and after a load.

``record_size`` counts the meta, every field's UTF-8 name and every value.  The commit
refuses a write that would make a record larger than ``max_record_bytes`` (measured by
``size_after`` from the size the load measured, which must always agree); a load
refuses a larger record before decoding any of it (meta included), and nothing but
that limit bounds what is decoded.
"""

from __future__ import annotations

import random
import time
import tracemalloc

import msgpack
import pytest

from tests.conftest import Client, CountingStore
from tornado_sessions import Changes, CorruptRecordError, Record
from tornado_sessions.meta import Meta, pack_meta
from tornado_sessions.record import apply_changes, record_size, size_after
from tornado_sessions.record_checks import check_record

LIMIT = 1000
#: The meta of a new session: msgpack (2, float, None, None, float) is 22 bytes.
META = len(pack_meta(Meta(time.time())))


def _value_length_for(total: int) -> int:
    """The length of a string value ``v`` that makes the whole record ``total`` bytes."""
    # field name "v" (1 byte) + msgpack str 8/16 header (3 bytes for 256..65535) + text
    return total - META - 1 - 3


def test_the_meta_of_a_session_has_a_fixed_size() -> None:
    assert META == 22
    assert len(pack_meta(Meta(time.time(), 3600.0, "o" * 64, time.time()))) < 512


def test_record_size_counts_meta_names_in_utf8_and_values() -> None:
    assert record_size({"ü": b"12", "a": b""}, b"meta") == 4 + 2 + 2 + 1


def test_the_size_after_a_delta_is_the_record_size_of_the_merged_fields() -> None:
    # The commit measures only what a delta changes, from the size the load (or the
    # last write) measured; it must always agree with record_size of the whole result.
    rng = random.Random(1234)
    names = ["a", "bb", "ü", "é€", "\udcff", "", "key", "\U0001f600x"]
    for _ in range(2000):
        fields = {name: bytes(rng.randrange(40)) for name in rng.sample(names, rng.randrange(7))}
        changed = rng.sample(names, rng.randrange(len(names)))
        split = rng.randrange(len(changed) + 1)
        updated = {name: bytes(rng.randrange(40)) for name in changed[:split]}
        changes = Changes(updated, frozenset(changed[split:]))
        expected = record_size(apply_changes(fields, changes), b"")
        assert size_after(fields, record_size(fields, b""), changes) == expected


def test_a_checked_record_carries_the_size_of_its_fields() -> None:
    meta = pack_meta(Meta(time.time()))
    fields = {"ü": b"12", "a": b""}
    record = Record(fields, meta, time.time() + 60)
    checked = check_record(record, now=time.time(), max_bytes=LIMIT, absolute_timeout=None)
    assert checked.fields_size == record_size(fields, b"") == record.size() - len(meta)


@pytest.mark.gen_test
@pytest.mark.options(max_record_bytes=LIMIT)
async def test_a_stored_session_grown_to_the_limit_is_saved_and_one_byte_more_refused(
    client: Client, store: CountingStore
) -> None:
    # The limit holds for a write measured from a loaded record's size, not only for a
    # new session's: grow, shrink, delete and add keys, then reach the limit exactly.
    assert (await client.fetch("/put?a=x&b=yy&%C3%BC=zzz")).code == 200
    assert (await client.fetch("/put?a=" + "x" * 100)).code == 200
    assert (await client.fetch("/delete?b")).code == 200
    assert (await client.fetch("/put?a=")).code == 200
    (record,) = store._records.values()
    room = LIMIT - record.size()
    # a new key "v" holding a msgpack str of n characters costs 1 + 3 + n bytes (n >= 256)
    text = "v" * (room - 1 - 3)
    assert (await client.fetch(f"/put?v={text}")).code == 200
    (record,) = store._records.values()
    assert record.size() == LIMIT
    response = await client.fetch(f"/put?v={text}v")
    assert response.code == 500
    (record,) = store._records.values()
    assert record.size() == LIMIT
    assert (await client.fetch("/put?v=short")).code == 200


@pytest.mark.gen_test
@pytest.mark.options(max_record_bytes=LIMIT)
async def test_a_session_exactly_at_the_limit_is_saved_and_read_back(
    client: Client, store: CountingStore
) -> None:
    text = "x" * _value_length_for(LIMIT)
    assert (await client.fetch(f"/put?v={text}")).code == 200
    (record,) = store._records.values()
    assert record.size() == LIMIT
    assert (await client.fetch("/get")).json()["data"] == {"v": text}


@pytest.mark.gen_test
@pytest.mark.options(max_record_bytes=LIMIT)
async def test_a_session_whose_meta_tips_it_over_the_limit_is_refused_at_save(
    client: Client, store: CountingStore, caplog: pytest.LogCaptureFixture
) -> None:
    # The fields alone fit; with the meta the record would not.  It must be refused
    # now (500, nothing stored), not saved with a 200 and deleted as corrupt later.
    text = "x" * _value_length_for(LIMIT + 1)
    assert 1 + 3 + len(text) < LIMIT
    response = await client.fetch(f"/put?v={text}")
    assert response.code == 500 and response.raw_cookies == []
    assert store._records == {}
    assert f"over max_record_bytes={LIMIT}" in caplog.text


@pytest.mark.gen_test
@pytest.mark.options(max_record_bytes=4 << 20)
async def test_a_value_larger_than_one_mebibyte_round_trips_under_a_larger_limit(
    client: Client,
) -> None:
    text = "y" * (2 << 20)
    assert (await client.fetch("/put", method="POST", body=f"v={text}")).code == 200
    data = (await client.fetch("/get")).json()["data"]
    assert data == {"v": text}, "a value allowed by max_record_bytes was dropped on read"


def test_an_oversized_record_is_refused_before_its_meta_is_unpacked() -> None:
    # Ten million msgpack nils would unpack into a ten-million-item tuple.
    meta = msgpack.packb([None] * 10_000_000)
    record = Record({}, meta, time.time() + 60)
    tracemalloc.start()
    try:
        with pytest.raises(CorruptRecordError, match="max_record_bytes"):
            check_record(record, now=time.time(), max_bytes=1 << 20, absolute_timeout=None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_a_large_meta_is_refused_before_it_is_unpacked_even_under_a_large_limit() -> None:
    meta = msgpack.packb([None] * 10_000_000)
    record = Record({}, meta, time.time() + 60)
    tracemalloc.start()
    try:
        with pytest.raises(CorruptRecordError, match="meta"):
            check_record(record, now=time.time(), max_bytes=64 << 20, absolute_timeout=None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20
