"""Property-based tests of cookie reading and signature verification.

Owns the evidence for "forged cookies": whatever bytes arrive in the ``Cookie``
header (arbitrary text, truncations, bit flips, appended data, values signed with
a rotated-out key or for another cookie name), reading and verifying never raises
and never yields a session other than the one the server signed.  Also owns the
constant-time property: every configured key is compared with
:func:`hmac.compare_digest`, whichever key matches and whether any does.

These run against the signing and loading code directly (hundreds of examples
per property); ``test_forged_cookies.py`` replays the same attacks over HTTP.
"""

from __future__ import annotations

import ast
import asyncio
import hmac
import inspect
import string
import time
from types import SimpleNamespace
from typing import Any

import pytest
import tornado.web
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from tornado.httputil import HTTPHeaders

from tornado_sessions import Record, SessionOptions, open_sessions, signing
from tornado_sessions.cookies import read_cookie
from tornado_sessions.ids import generate_id, store_key
from tornado_sessions.loading import load_session
from tornado_sessions.meta import Meta, pack_meta
from tornado_sessions.runtime import SessionRuntime
from tornado_sessions.signing import Signer
from tornado_sessions.stores.memory import MemoryStore

NAME = "sessionid"
B64URL = string.ascii_letters + string.digits + "-_"

ids = st.text(alphabet=B64URL, min_size=22, max_size=128)
# 32-byte keys: shorter HMAC keys are zero-padded, so b"k" and b"k\x00" would be the
# same key; fixed-length keys keep "a different key" meaning a different key.
keys = st.binary(min_size=32, max_size=32)
key_lists = st.lists(keys, min_size=1, max_size=5, unique=True)
# Any code point, lone surrogates included: a header decoded with errors="surrogateescape".
any_text = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()))
cookie_names = st.text(alphabet=B64URL + "!#$%&'*+.^`|~", min_size=1, max_size=20)
cookie_values = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=';"'),
    max_size=60,
)


class RawHeaders:
    """Headers as read_cookie sees them, holding text Tornado's parser would refuse."""

    def __init__(self, *values: str) -> None:
        self.values = list(values)

    def get_list(self, name: str) -> list[str]:
        return self.values if name == "Cookie" else []


def flip(value: str, index: int, bit: int) -> str:
    return value[:index] + chr(ord(value[index]) ^ (1 << bit)) + value[index + 1 :]


# -- verification never raises, never accepts what it did not sign ---------------


@given(value=any_text)
@settings(database=None, max_examples=500)
def test_arbitrary_text_never_raises_and_never_verifies(value: str) -> None:
    assert Signer([b"k" * 32], NAME).unsign(value) is None


@given(data=st.binary(max_size=400))
@settings(database=None, max_examples=500)
def test_arbitrary_bytes_never_raise_and_never_verify(data: bytes) -> None:
    # Tornado hands header bytes over as latin-1 text; every byte maps to a character.
    signer = Signer([b"k" * 32], NAME)
    assert signer.unsign(data.decode("latin-1")) is None
    assert signer.unsign(data.decode("utf-8", "surrogateescape")) is None


@given(session_id=ids, secrets=key_lists)
@settings(database=None)
def test_a_signed_value_verifies_to_its_own_id(session_id: str, secrets: list[bytes]) -> None:
    signer = Signer(secrets, NAME)
    assert signer.unsign(signer.sign(session_id)) == session_id


@given(session_id=ids, secret=keys, data=st.data())
@settings(database=None, max_examples=300)
def test_any_bit_flip_is_rejected(session_id: str, secret: bytes, data: st.DataObject) -> None:
    signer = Signer([secret], NAME)
    value = signer.sign(session_id)
    index = data.draw(st.integers(0, len(value) - 1), label="index")
    bit = data.draw(st.integers(0, 20), label="bit")
    assert signer.unsign(flip(value, index, bit)) is None


def test_every_single_bit_flip_of_one_value_is_rejected() -> None:
    signer = Signer([b"s" * 32], NAME)
    value = signer.sign(generate_id())
    flipped = {flip(value, i, bit) for i in range(len(value)) for bit in range(8)}
    assert len(flipped) == len(value) * 8
    assert [v for v in flipped if signer.unsign(v) is not None] == []


@given(session_id=ids, secret=keys, data=st.data())
@settings(database=None, max_examples=300)
def test_truncated_and_extended_values_are_rejected(
    session_id: str, secret: bytes, data: st.DataObject
) -> None:
    signer = Signer([secret], NAME)
    value = signer.sign(session_id)
    cut = data.draw(st.integers(0, len(value) - 1), label="cut")
    assert signer.unsign(value[:cut]) is None
    assert signer.unsign(value[cut + 1 :]) is None
    extra = data.draw(st.text(min_size=1, max_size=64), label="extra")
    assert signer.unsign(value + extra) is None
    # Prepending changes the id (or breaks its alphabet): it must fail too.
    assert signer.unsign(extra + value) is None


def test_every_truncation_and_every_appended_length_is_rejected() -> None:
    signer = Signer([b"s" * 32], NAME)
    value = signer.sign(generate_id())
    assert all(signer.unsign(value[:n]) is None for n in range(len(value)))
    assert all(signer.unsign(value[n:]) is None for n in range(1, len(value)))
    assert all(signer.unsign(value + "A" * n) is None for n in range(1, 65))
    assert all(signer.unsign("A" * n + value) is None for n in range(1, 65))
    assert signer.unsign(value.rsplit(".", 1)[0] + ".") is None  # empty signature
    assert signer.unsign(value.rsplit(".", 1)[0]) is None  # no signature at all


@given(session_id=ids, secrets=key_lists, data=st.data())
@settings(database=None)
def test_key_rotation_first_key_signs_every_key_verifies(
    session_id: str, secrets: list[bytes], data: st.DataObject
) -> None:
    rotated = Signer(secrets, NAME)
    assert rotated.sign(session_id) == Signer([secrets[0]], NAME).sign(session_id)
    old = data.draw(st.sampled_from(secrets), label="old key")
    assert rotated.unsign(Signer([old], NAME).sign(session_id)) == session_id


@given(session_id=ids, secrets=key_lists, retired=keys)
@settings(database=None)
def test_a_key_no_longer_configured_does_not_verify(
    session_id: str, secrets: list[bytes], retired: bytes
) -> None:
    assume(retired not in secrets)
    assert Signer(secrets, NAME).unsign(Signer([retired], NAME).sign(session_id)) is None


@given(session_id=ids, secret=keys, other=cookie_names)
@settings(database=None)
def test_a_value_signed_for_another_cookie_name_is_rejected(
    session_id: str, secret: bytes, other: str
) -> None:
    assume(other != NAME)
    assert Signer([secret], NAME).unsign(Signer([secret], other).sign(session_id)) is None


# -- constant time -----------------------------------------------------------------


class CompareSpy:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []
        self.real = hmac.compare_digest

    def __call__(self, a: Any, b: Any) -> bool:
        self.calls.append((len(a), len(b)))
        return bool(self.real(a, b))


@pytest.fixture
def compare_spy(monkeypatch: pytest.MonkeyPatch) -> CompareSpy:
    spy = CompareSpy()
    monkeypatch.setattr(hmac, "compare_digest", spy)
    return spy


@pytest.mark.parametrize("signed_with", ["first", "middle", "last", "unknown"])
def test_every_key_is_compared_with_compare_digest_whatever_the_outcome(
    compare_spy: CompareSpy, signed_with: str
) -> None:
    secrets = [bytes([i]) * 32 for i in range(1, 6)]
    verifier = Signer(secrets, NAME)
    key = {"first": secrets[0], "middle": secrets[2], "last": secrets[-1]}.get(
        signed_with, b"\xff" * 32
    )
    session_id = generate_id()
    result = verifier.unsign(Signer([key], NAME).sign(session_id))
    assert result == (None if signed_with == "unknown" else session_id)
    # One comparison per configured key, of equal-length digests, in every case: the
    # time taken does not depend on which key matched or on how many bytes matched.
    assert compare_spy.calls == [(43, 43)] * len(secrets)


@given(value=any_text)
@settings(
    database=None, max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_verification_compares_all_keys_or_none(compare_spy: CompareSpy, value: str) -> None:
    compare_spy.calls.clear()
    Signer([b"a" * 32, b"b" * 32, b"c" * 32], NAME).unsign(value)
    # Shape checks (length, alphabet) may reject before any MAC work; once MACs are
    # compared, all of them are.
    assert len(compare_spy.calls) in (0, 3)


def test_signing_module_never_compares_digests_with_eq() -> None:
    secretish = ("sig", "digest", "mac", "given", "expected")

    def mentions_a_digest(node: ast.AST) -> bool:
        names = [n.id for n in ast.walk(node) if isinstance(n, ast.Name)]
        names += [n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)]
        return any(word in name.lower() for name in names for word in secretish)

    tree = ast.parse(inspect.getsource(signing))
    eq_on_digests = [
        ast.unparse(node)
        for node in ast.walk(tree)
        if isinstance(node, ast.Compare)
        and any(isinstance(op, ast.Eq | ast.NotEq | ast.Is | ast.IsNot) for op in node.ops)
        and not ast.unparse(node.left).startswith("len(")  # lengths are public
        and any(mentions_a_digest(side) for side in [node.left, *node.comparators])
    ]
    assert eq_on_digests == []
    calls = {ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    assert "hmac.compare_digest" in calls


# -- cookie reading ----------------------------------------------------------------


@given(header=any_text)
@settings(database=None, max_examples=500)
def test_reading_an_arbitrary_cookie_header_never_raises(header: str) -> None:
    found = read_cookie(RawHeaders(header), NAME)  # type: ignore[arg-type]
    assert isinstance(found, tuple) and all(isinstance(value, str) for value in found)


junk_cookies = st.lists(
    st.tuples(cookie_names.filter(lambda n: n != NAME), cookie_values), max_size=12
)


@given(junk=junk_cookies, position=st.integers(0, 12), value=cookie_values)
@settings(database=None)
def test_our_cookie_is_found_among_any_others(
    junk: list[tuple[str, str]], position: int, value: str
) -> None:
    pairs = [f"{n}={v}" for n, v in junk]
    pairs.insert(min(position, len(pairs)), f"{NAME}={value}")
    headers = HTTPHeaders()
    headers.add("Cookie", "; ".join(pairs))
    assert read_cookie(headers, NAME) == (value.strip().strip('"'),)


@given(junk=junk_cookies, first=cookie_values, second=cookie_values, split=st.booleans())
@settings(database=None)
def test_our_cookie_twice_is_reported_as_duplicate(
    junk: list[tuple[str, str]], first: str, second: str, split: bool
) -> None:
    pairs = [f"{n}={v}" for n, v in junk]
    headers = HTTPHeaders()
    if split:  # two Cookie header lines (HTTP/2 style), one copy in each
        headers.add("Cookie", "; ".join([*pairs, f"{NAME}={first}"]))
        headers.add("Cookie", f"{NAME}={second}")
    else:
        headers.add("Cookie", "; ".join([f"{NAME}={first}", *pairs, f"{NAME}={second}"]))
    assert len(read_cookie(headers, NAME)) == 2


# -- the whole load path: no session but the signed one -------------------------


SECRET = b"p" * 32
VICTIM = generate_id()


async def _runtime() -> tuple[SessionRuntime, MemoryStore]:
    store = MemoryStore()
    app = tornado.web.Application([], sessions=SessionOptions(secret=SECRET, store=store))
    return await open_sessions(app, probe=False), store


def _handler(cookie_header: str | None) -> Any:
    headers = RawHeaders() if cookie_header is None else RawHeaders(cookie_header)
    return SimpleNamespace(request=SimpleNamespace(headers=headers, protocol="http", host="t"))


def _run(coroutine: Any) -> Any:
    """Run on a private loop, leaving the thread's current event loop alone."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


async def _load(cookie_header: str | None) -> tuple[Any, int]:
    runtime, store = await _runtime()
    meta = pack_meta(Meta(time.time()))
    await store.save(
        store_key(VICTIM, True), Record({"user": b"\xa6victim"}, meta, time.time() + 600)
    )
    session = await load_session(runtime, _handler(cookie_header))
    return session, await store.count()


VALID = Signer([SECRET], NAME).sign(VICTIM)


def _mutations() -> st.SearchStrategy[str]:
    index = st.integers(0, len(VALID) - 1)
    return st.one_of(
        st.builds(lambda i, b: flip(VALID, i, b), index, st.integers(0, 7)),
        st.builds(lambda i: VALID[:i], index),
        st.builds(lambda s: VALID + s, st.text(min_size=1, max_size=30)),
        st.builds(lambda k: Signer([k], NAME).sign(VICTIM), keys.filter(lambda k: k != SECRET)),
        st.builds(
            lambda n: Signer([SECRET], n).sign(VICTIM), cookie_names.filter(lambda n: n != NAME)
        ),
        st.builds(lambda i: Signer([SECRET], NAME).sign(i), ids.filter(lambda i: i != VICTIM)),
        st.just(VICTIM),
        any_text.filter(lambda t: ";" not in t),
    )


@given(value=_mutations(), junk=junk_cookies)
@settings(database=None, max_examples=300, deadline=None)
def test_load_never_yields_a_session_but_the_signed_one(
    value: str, junk: list[tuple[str, str]]
) -> None:
    # Surrounding blanks and quotes are not part of a cookie value (as browsers parse it).
    assume(value.strip().strip('"') != VALID)
    header = "; ".join([*(f"{n}={v}" for n, v in junk), f"{NAME}={value}"])
    session, count = _run(_load(header))
    assert session.is_new and dict(session) == {}
    assert session.id != VICTIM and session.id not in value
    assert count == 1  # the victim's record is untouched, nothing was added


@given(junk=junk_cookies)
@settings(database=None, max_examples=100, deadline=None)
def test_load_finds_the_signed_session_among_any_other_cookies(
    junk: list[tuple[str, str]],
) -> None:
    header = "; ".join([*(f"{n}={v}" for n, v in junk), f"{NAME}={VALID}"])
    session, _ = _run(_load(header))
    assert session.id == VICTIM and dict(session) == {"user": "victim"}


@given(header=any_text)
@settings(database=None, max_examples=200, deadline=None)
def test_load_of_an_arbitrary_cookie_header_never_raises(header: str) -> None:
    assume(VALID not in header)
    session, count = _run(_load(header))
    assert session.is_new and session.id != VICTIM and count == 1
