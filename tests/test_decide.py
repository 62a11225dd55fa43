"""The commit decision as a table: one row per rule of :func:`tornado_sessions.decide.decide`.

Each row names the rule (after express-session's ``shouldSave``, ``shouldTouch``,
``shouldSetCookie`` and ``shouldDestroy``, or where this library differs), the
facts and options that differ from a plain stored session read within
``touch_after``, and the plan that must come out.
"""

from __future__ import annotations

from typing import Any

import pytest

from tornado_sessions.decide import Cookie, Facts, Plan, Rules, Stage, Write, decide

NOW = 1_000_000.0

#: A stored, unmodified session with a persistent cookie, read 10 s after its last write.
BASE_FACTS = Facts(
    stage=Stage.STORED,
    changed=False,
    meta_changed=False,
    empty=False,
    had_data=True,
    forced=False,
    touch_requested=False,
    persistent=True,
    cookie=Cookie.KEEP,
    resign=False,
    expires_at=NOW + 3590,
    next_expiry=NOW + 3600,
)
BASE_RULES = Rules(
    save_uninitialized=False, resave=False, rolling=False, unset_destroy=False, touch_after=60
)

NEW_EMPTY: dict[str, Any] = {
    "stage": Stage.NEW,
    "empty": True,
    "had_data": False,
    "expires_at": 0.0,
}

ROWS: list[tuple[str, dict[str, Any], dict[str, Any], Plan]] = [
    # -- new sessions: express-session's shouldSave with saveUninitialized --------------
    (
        "new and empty: no store call, no cookie (saveUninitialized=false)",
        NEW_EMPTY,
        {},
        (Write.NONE, Cookie.KEEP),
    ),
    (
        "new and empty with save_uninitialized: created, cookie set",
        NEW_EMPTY,
        {"save_uninitialized": True},
        (Write.CREATE, Cookie.SET),
    ),
    (
        "new with a key: created, cookie set (isModified)",
        {**NEW_EMPTY, "empty": False, "changed": True},
        {},
        (Write.CREATE, Cookie.SET),
    ),
    (
        "new after regenerate(), keys carried over: created, cookie set",
        {**NEW_EMPTY, "empty": False, "cookie": Cookie.CLEAR},
        {},
        (Write.CREATE, Cookie.SET),
    ),
    (
        "new after regenerate() of an empty session: nothing stored, old cookie cleared",
        {**NEW_EMPTY, "cookie": Cookie.CLEAR},
        {},
        (Write.NONE, Cookie.CLEAR),
    ),
    (
        "new after destroy(): nothing stored, cookie cleared",
        {**NEW_EMPTY, "cookie": Cookie.CLEAR},
        {"resave": True, "rolling": True},
        (Write.NONE, Cookie.CLEAR),
    ),
    (
        "new, emptied again in the same request (set then deleted): nothing",
        {**NEW_EMPTY, "changed": False},
        {},
        (Write.NONE, Cookie.KEEP),
    ),
    (
        "new with only a lifetime set: created (the choice is remembered)",
        {**NEW_EMPTY, "meta_changed": True},
        {},
        (Write.CREATE, Cookie.SET),
    ),
    (
        "new and save() called: created even if empty",
        {**NEW_EMPTY, "forced": True},
        {},
        (Write.CREATE, Cookie.SET),
    ),
    (
        "new: rolling alone sets no cookie for an empty session (express-session #239)",
        NEW_EMPTY,
        {"rolling": True},
        (Write.NONE, Cookie.KEEP),
    ),
    # -- stored sessions: writes are conditional --------------------------------------
    (
        "stored, unmodified, within touch_after: no write, no cookie",
        {},
        {},
        (Write.NONE, Cookie.KEEP),
    ),
    (
        "stored, unmodified, with rolling: no write, cookie re-sent",
        {},
        {"rolling": True},
        (Write.NONE, Cookie.SET),
    ),
    (
        "stored, unmodified, touch_after passed: touch, cookie re-sent (its date moved)",
        {"expires_at": NOW + 3500},
        {},
        (Write.TOUCH, Cookie.SET),
    ),
    (
        "stored, unmodified, touch_after=0: touch on every request",
        {},
        {"touch_after": 0},
        (Write.TOUCH, Cookie.SET),
    ),
    (
        "stored, touch_after passed, browser-session cookie: touch, no cookie",
        {"expires_at": NOW + 3500, "persistent": False},
        {},
        (Write.TOUCH, Cookie.KEEP),
    ),
    (
        "stored, browser-session cookie, rolling: touch and cookie",
        {"expires_at": NOW + 3500, "persistent": False},
        {"rolling": True},
        (Write.TOUCH, Cookie.SET),
    ),
    (
        "stored, touch() called: touch whatever touch_after says",
        {"touch_requested": True},
        {},
        (Write.TOUCH, Cookie.SET),
    ),
    (
        "stored, expiry capped by absolute_timeout (cannot move): no touch",
        {"expires_at": NOW + 100, "next_expiry": NOW + 100},
        {"touch_after": 0},
        (Write.NONE, Cookie.KEEP),
    ),
    (
        "stored and modified: a delta write, cookie re-sent (Max-Age moved)",
        {"changed": True},
        {},
        (Write.UPDATE, Cookie.SET),
    ),
    (
        "stored and modified, browser-session cookie: a delta write, no cookie",
        {"changed": True, "persistent": False},
        {},
        (Write.UPDATE, Cookie.KEEP),
    ),
    (
        "stored, lifetime changed ('remember me'): written, cookie re-sent always",
        {"meta_changed": True, "persistent": False},
        {},
        (Write.UPDATE, Cookie.SET),
    ),
    (
        "stored with resave: every key written back, conditionally",
        {},
        {"resave": True},
        (Write.UPDATE_ALL, Cookie.SET),
    ),
    (
        "stored with resave, browser-session cookie: written, no cookie",
        {"persistent": False},
        {"resave": True},
        (Write.UPDATE_ALL, Cookie.KEEP),
    ),
    (
        "stored and save() called: every key written, conditionally",
        {"forced": True},
        {},
        (Write.UPDATE_ALL, Cookie.SET),
    ),
    # -- unset="destroy" (express-session's shouldDestroy) ----------------------------
    (
        "stored, emptied by the request, unset=destroy: destroyed, cookie cleared",
        {"empty": True, "changed": True},
        {"unset_destroy": True},
        (Write.DESTROY, Cookie.CLEAR),
    ),
    (
        "stored, emptied by the request, unset=keep: the empty session is written",
        {"empty": True, "changed": True},
        {},
        (Write.UPDATE, Cookie.SET),
    ),
    (
        "stored and empty from the start (save_uninitialized), unset=destroy: kept",
        {"empty": True, "had_data": False},
        {"unset_destroy": True},
        (Write.NONE, Cookie.KEEP),
    ),
    # -- gone: a conditional write found the record missing -----------------------------
    (
        "gone: never written again, whatever changed or the options say",
        {"stage": Stage.GONE, "changed": True, "forced": True, "touch_requested": True},
        {"resave": True, "rolling": True, "touch_after": 0},
        (Write.NONE, Cookie.CLEAR),
    ),
    # -- secret rotation ----------------------------------------------------------------
    (
        "stored, verified by an older secret, nothing else to send: cookie re-signed",
        {"resign": True},
        {},
        (Write.NONE, Cookie.SET),
    ),
    (
        "stored, older secret, browser-session cookie touched: cookie re-signed",
        {"resign": True, "persistent": False, "expires_at": NOW + 3500},
        {},
        (Write.TOUCH, Cookie.SET),
    ),
    (
        "new session with a stale resign flag: nothing (only stored sessions are re-signed)",
        {**NEW_EMPTY, "resign": True},
        {},
        (Write.NONE, Cookie.KEEP),
    ),
]


@pytest.mark.parametrize(
    ("facts", "rules", "expected"),
    [pytest.param(facts, rules, plan, id=rule) for rule, facts, rules, plan in ROWS],
)
def test_decide(facts: dict[str, Any], rules: dict[str, Any], expected: Plan) -> None:
    assert decide(BASE_FACTS._replace(**facts), BASE_RULES._replace(**rules)) == expected


def test_a_finished_session_has_no_commit() -> None:
    with pytest.raises(ValueError, match="finished"):
        decide(BASE_FACTS._replace(stage=Stage.FINISHED), BASE_RULES)


def test_only_new_sessions_are_written_unconditionally() -> None:
    # Exhaustively: every combination of the boolean facts and options.
    import itertools

    flags = ["changed", "meta_changed", "empty", "had_data", "forced", "touch_requested"]
    options = ["save_uninitialized", "resave", "rolling", "unset_destroy"]
    for stage in (Stage.NEW, Stage.STORED, Stage.GONE):
        for values in itertools.product([False, True], repeat=len(flags) + len(options)):
            facts = BASE_FACTS._replace(stage=stage, **dict(zip(flags, values, strict=False)))
            rules = BASE_RULES._replace(**dict(zip(options, values[len(flags) :], strict=True)))
            write = decide(facts, rules)[0]
            if write is Write.CREATE:
                assert stage is Stage.NEW
            if stage is Stage.GONE:
                assert write is Write.NONE
            if stage is Stage.NEW:
                assert write in (Write.CREATE, Write.NONE)
