"""msgpack and JSON serializers, and what the core does with a record it cannot decode."""

from __future__ import annotations

import datetime
import decimal
import signal
import uuid
from typing import Any

import msgpack
import pytest

from tests.conftest import Client, CountingStore
from tornado_sessions import JSONSerializer, MsgpackSerializer, Record, SerializationError

VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -(2**63),
    2**64 - 1,
    1.5,
    "",
    "ünïcode",
    b"\x00bytes",
    [1, [2, [3]]],
    {"nested": {"dict": [1, "two"]}},
    datetime.datetime(2026, 11, 26, 12, 30, 15, 123456, tzinfo=datetime.UTC),
    datetime.datetime(
        2026, 11, 26, 12, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=5, minutes=30))
    ),
    datetime.datetime(2026, 11, 26, 12, 30),
    datetime.date(2026, 11, 26),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    decimal.Decimal("12.3400"),
    {1, 2, 3},
    frozenset({"a"}),
    (1, "two", (3.0,)),
    datetime.timedelta(days=2, seconds=5),
    {"mixed": [(1, 2), {3}, {"when": datetime.date(2020, 1, 1)}]},
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_msgpack_round_trips_the_types_sessions_hold(value: Any) -> None:
    serializer = MsgpackSerializer()
    decoded = serializer.loads(serializer.dumps(value))
    assert decoded == value and type(decoded) is type(value)
    if isinstance(value, datetime.datetime):
        assert decoded.tzinfo == value.tzinfo


@pytest.mark.parametrize(
    "value",
    [object(), {1: "int key"}, [{"a": {(1,): 2}}], 2**70, lambda: 1, type("X", (str,), {})("s")],
)
def test_msgpack_refuses_other_types_at_save_time(value: Any) -> None:
    with pytest.raises(SerializationError):
        MsgpackSerializer().dumps(value)


def _containing_itself(kind: str) -> Any:
    if kind == "shared":  # no cycle: 26 lists, written out as 2**26 references
        value: Any = []
        for _ in range(25):
            value = [value, value]
        return value
    if kind == "list":
        value = []
        value.append(value)
    elif kind == "dict":
        value = {}
        value["self"] = value
    else:  # a tuple whose list holds the tuple: the cycle runs through an extension type
        inner: list[Any] = []
        value = (inner,)
        inner.append(value)
    return value


@pytest.mark.parametrize(
    ("serializer", "kind"),
    [
        (MsgpackSerializer(), "list"),
        (MsgpackSerializer(), "dict"),
        (MsgpackSerializer(), "tuple"),
        (MsgpackSerializer(), "shared"),
        (JSONSerializer(), "list"),
        (JSONSerializer(), "dict"),
        (JSONSerializer(), "shared"),
    ],
    ids=lambda param: param if isinstance(param, str) else type(param).__name__,
)
def test_a_value_holding_itself_or_millions_of_shared_references_is_refused(
    serializer: Any, kind: str
) -> None:
    def hung(signum: int, frame: Any) -> None:
        raise AssertionError("dumps() was still running after 10 s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.setitimer(signal.ITIMER_REAL, 10.0)
    try:
        with pytest.raises(SerializationError):
            serializer.dumps(_containing_itself(kind))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize(
    "data",
    [
        b"\xc1",  # never-used byte
        b"\x92\x01",  # truncated array
        msgpack.packb(msgpack.ExtType(99, b"x")),  # unknown extension
        msgpack.packb(msgpack.ExtType(3, b"short")),  # bad UUID
        msgpack.packb(msgpack.ExtType(1, b"not a date")),
        msgpack.packb({1: 2}),  # non-str key
        b"\xdd\xff\xff\xff\xff",  # array claiming 4 G items
        b"\x91" * 100_000 + b"\x90",  # 100,000 levels of nesting
    ],
)
def test_msgpack_refuses_corrupt_or_hostile_bytes_with_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        MsgpackSerializer().loads(data)


def test_msgpack_refuses_input_over_max_bytes() -> None:
    serializer = MsgpackSerializer(max_bytes=100)
    with pytest.raises(ValueError, match="exceeds"):
        serializer.loads(serializer.dumps("x" * 200))


def test_json_refuses_dict_keys_that_are_not_strings_instead_of_turning_them_into_strings() -> None:
    # {1: "one", "1": "uno"} would come back as {"1": "uno"}: a value lost without a word.
    with pytest.raises(SerializationError, match="dict keys must be str"):
        JSONSerializer().dumps({"d": {1: "one", "1": "uno"}})


def _colliding_uuids(count: int) -> list[uuid.UUID]:
    # A UUID hashes as its 128-bit int, and ints that differ by 2**61 - 1 hash alike.
    return [uuid.UUID(int=7 + k * (2**61 - 1)) for k in range(count)]


@pytest.mark.parametrize("code", [5, 7], ids=["set", "frozenset"])
def test_msgpack_refuses_a_stored_set_of_colliding_members(code: int) -> None:
    members = [msgpack.ExtType(3, member.bytes) for member in _colliding_uuids(4000)]
    data = msgpack.packb(msgpack.ExtType(code, msgpack.packb(members)))
    with pytest.raises(ValueError, match="colliding hashes"):
        MsgpackSerializer().loads(data)


def test_msgpack_still_reads_sets_whose_members_share_a_hash_or_two() -> None:
    serializer = MsgpackSerializer()
    value = {-1, -2, *_colliding_uuids(3), *range(1000)}
    assert serializer.loads(serializer.dumps(value)) == value


def test_json_serializer_round_trips_plain_values_and_refuses_others() -> None:
    serializer = JSONSerializer()
    assert serializer.loads(serializer.dumps({"a": [1, "b", None]})) == {"a": [1, "b", None]}
    with pytest.raises(SerializationError):
        serializer.dumps({"when": datetime.date.today()})
    with pytest.raises(ValueError):
        serializer.loads(b"{not json")


@pytest.mark.gen_test
async def test_corrupt_value_reads_as_absent_is_logged_and_removed(
    client: Client, store: CountingStore, caplog: pytest.LogCaptureFixture
) -> None:
    await client.fetch("/set?user=alice&theme=dark")
    ((key, record),) = store._records.items()
    fields = {**record.fields, "user": b"\xc1garbage"}
    store._records[key] = Record(fields, record.meta, record.expires_at)
    response = await client.fetch("/get")
    assert response.code == 200
    assert response.json()["data"] == {"theme": "dark"} and response.json()["new"] is False
    assert "corrupt value of key 'user'" in caplog.text
    assert set(store._records[key].fields) == {"theme"}  # the bad bytes are gone


@pytest.mark.gen_test
async def test_values_are_decoded_only_when_read(
    client: Client, store: CountingStore, caplog: pytest.LogCaptureFixture
) -> None:
    await client.fetch("/set?user=alice&theme=dark")
    ((key, record),) = store._records.items()
    fields = {**record.fields, "theme": b"\xc1garbage"}
    store._records[key] = Record(fields, record.meta, record.expires_at)
    response = await client.fetch("/put?other=1")  # reads no value: decodes none
    assert response.code == 200 and "corrupt" not in caplog.text
    assert store._records[key].fields["theme"] == b"\xc1garbage"


@pytest.mark.gen_test
async def test_corrupt_meta_gives_a_fresh_session(client: Client, store: CountingStore) -> None:
    await client.fetch("/set?user=alice")
    ((key, record),) = store._records.items()
    store._records[key] = Record(record.fields, b"\x93\x09\x00\x00", record.expires_at)
    assert (await client.fetch("/get")).json()["new"] is True


@pytest.mark.gen_test
@pytest.mark.options(serializer="json")
async def test_json_serializer_by_name(client: Client, store: CountingStore) -> None:
    await client.fetch("/set?user=alice")
    (record,) = store._records.values()
    assert record.fields == {"user": b'"alice"'}
    assert (await client.fetch("/get")).json()["data"] == {"user": "alice"}


@pytest.mark.gen_test
@pytest.mark.options(max_record_bytes=1000)
async def test_session_over_max_record_bytes_is_refused_at_save_naming_the_key(
    client: Client, store: CountingStore, caplog: pytest.LogCaptureFixture
) -> None:
    await client.fetch("/set?small=1")
    response = await client.fetch("/set?big=" + "x" * 2000)
    assert response.code == 500 and response.raw_cookies == []
    assert "over max_record_bytes=1000" in caplog.text and "'big'" in caplog.text
    assert (await client.fetch("/get")).json()["data"] == {"small": "1"}


@pytest.mark.gen_test
@pytest.mark.options(max_record_bytes=1000)
async def test_stored_record_over_max_record_bytes_is_treated_as_corrupt(
    client: Client, store: CountingStore
) -> None:
    await client.fetch("/set?user=alice")
    ((key, record),) = store._records.items()
    fields = {**record.fields, "huge": b"\xa1x" * 1000}
    store._records[key] = Record(fields, record.meta, record.expires_at)
    assert (await client.fetch("/get")).json()["new"] is True
    assert key not in store._records
