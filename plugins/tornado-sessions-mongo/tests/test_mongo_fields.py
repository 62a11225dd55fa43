"""Escaping session keys into MongoDB field names: reversible, and always a legal update path."""

from __future__ import annotations

import itertools

import pytest
from tornado_sessions_mongo.fields import escape_field, unescape_field

# Every character the escaping treats specially, plus ones that look like parts of escapes.
ALPHABET = ["%", ".", "$", "\x00", "2", "4", "5", "E", "e", "0", "a", "é"]


def all_keys(max_length: int) -> list[str]:
    return [
        "".join(chars)
        for length in range(max_length + 1)
        for chars in itertools.product(ALPHABET, repeat=length)
    ]


def is_legal_field_name(name: str) -> bool:
    """Usable as one component of an update path: non-empty, no '.', no '$', no NUL."""
    return bool(name) and not any(char in name for char in ".$\x00")


@pytest.mark.parametrize(
    ("key", "escaped"),
    [
        ("user", "user"),
        ("a.b", "a%2Eb"),
        ("$set", "%24set"),
        ("x$.y", "x%24%2Ey"),
        ("%", "%25"),
        ("%2E", "%252E"),
        ("nul\x00", "nul%00"),
        ("", "%"),
        ("ünï ćødé", "ünï%20ćødé"),
        ("user\t", "user%09"),
        ("user ", "user%20"),
    ],
)
def test_mongo_escape_examples(key: str, escaped: str) -> None:
    assert escape_field(key) == escaped
    assert unescape_field(escaped) == key


def test_mongo_escape_round_trips_every_short_key() -> None:
    keys = all_keys(3)
    assert len(keys) == 1 + 12 + 12**2 + 12**3
    for key in keys:
        assert unescape_field(escape_field(key)) == key, repr(key)


def test_mongo_escaped_names_are_legal_and_distinct() -> None:
    keys = all_keys(3)
    names = [escape_field(key) for key in keys]
    assert all(is_legal_field_name(name) for name in names)
    assert len(set(names)) == len(keys)
