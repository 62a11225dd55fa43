"""What a commit does: :func:`decide`, a pure function of a session's state and the options.

At the end of a request (and at ``save()``, and at the first ``flush()`` of a
streamed response) the core asks one question: which store call, if any, and
what to tell the browser.  The answer depends only on the facts gathered in
:class:`Facts` and the options in :class:`Rules`, so it is computed here without
I/O and tested as a table (``tests/test_decide.py``), one row per rule.

The rules, after express-session's ``shouldSave``/``shouldTouch``/``shouldSetCookie``
(see ``docs/from-express-session.md`` for where they differ):

========  ==========================================================  ============  ==========
stage     condition (first match wins)                                write         cookie
========  ==========================================================  ============  ==========
gone      (a conditional write found the record missing)              none          clear
new       ``save()``, or it holds keys, or its lifetime or owner      create        set
          was set, or ``save_uninitialized``
new       otherwise (an empty visitor: no store call, no cookie)      none          as before
stored    ``unset="destroy"`` and the request emptied it              destroy       clear
stored    ``save()`` or ``resave``                                    update all    refresh
stored    a key changed, or its lifetime or owner                     update        refresh
stored    ``touch()``, or ``touch_after`` has passed since the last   touch         refresh
          write (and the expiry can still move)
stored    otherwise                                                   none          rolling
========  ==========================================================  ============  ==========

"refresh" sends the cookie when it carries ``Max-Age`` (its date moved with the
write) or with ``rolling``, and always when the lifetime changed (the browser
must learn the new one).  "rolling" sends it only with ``rolling``.  "as before"
keeps what an earlier step decided (a ``destroy()`` or ``regenerate()`` left a
cookie to clear).  Finally, a cookie signed by an older secret is re-sent,
re-signed, whenever nothing else sends it.

Writes to a *stored* session are always conditional on its record still
existing (``touch``, ``save_changes``); only a *new* one is created
unconditionally, and a *gone* one is never written: a request that learns its
session was destroyed elsewhere (a logout) cannot bring it back.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

__all__ = [
    "CLEAR",
    "CREATE",
    "DESTROY",
    "FINISHED",
    "GONE",
    "KEEP",
    "NEW",
    "NO_WRITE",
    "SET",
    "STORED",
    "TOUCH",
    "UPDATE",
    "UPDATE_ALL",
    "Cookie",
    "Facts",
    "Plan",
    "Rules",
    "Stage",
    "Write",
    "decide",
]


class Stage(enum.Enum):
    """Where a session is in its life; owned by :class:`~tornado_sessions.session.Session`."""

    #: Never stored (a first visit, or just regenerated or destroyed): written unconditionally.
    NEW = "new"
    #: Its record exists in the store: written only conditionally on that.
    STORED = "stored"
    #: Its record was found gone by a conditional write: never written again.
    GONE = "gone"
    #: The response is finished: nothing can change any more.
    FINISHED = "finished"


class Write(enum.Enum):
    """The store call of a commit."""

    NONE = "none"
    #: ``store.save``: the whole record, unconditionally (a new session only).
    CREATE = "create"
    #: ``store.save_changes`` with the keys this request changed.
    UPDATE = "update"
    #: ``store.save_changes`` with every key (``save()``, ``resave``).
    UPDATE_ALL = "update_all"
    #: ``store.touch``: the expiry only.
    TOUCH = "touch"
    #: ``store.destroy`` (``unset="destroy"``).
    DESTROY = "destroy"


class Cookie(enum.Enum):
    """What the response tells the browser about the session cookie."""

    KEEP = "keep"
    SET = "set"
    CLEAR = "clear"


# Enum members are slow to look up on Python 3.11 (about 1 µs each, through the
# enum's metaclass); the per-request code compares against these aliases instead.
NEW, STORED, GONE, FINISHED = Stage.NEW, Stage.STORED, Stage.GONE, Stage.FINISHED
NO_WRITE, CREATE, UPDATE, UPDATE_ALL, TOUCH, DESTROY = (
    Write.NONE,
    Write.CREATE,
    Write.UPDATE,
    Write.UPDATE_ALL,
    Write.TOUCH,
    Write.DESTROY,
)
KEEP, SET, CLEAR = Cookie.KEEP, Cookie.SET, Cookie.CLEAR


class Rules(NamedTuple):
    """The options :func:`decide` reads (see ``SessionOptions``)."""

    save_uninitialized: bool
    resave: bool
    rolling: bool
    unset_destroy: bool
    touch_after: float


class Facts(NamedTuple):
    """A session's state at commit time, as :func:`decide` needs it."""

    stage: Stage
    #: A key was set, deleted or changed in place.
    changed: bool
    #: ``set_max_age()`` was called, or the owner changed.
    meta_changed: bool
    #: The session holds no keys now.
    empty: bool
    #: The record held keys when it was loaded (``unset="destroy"`` needs both).
    had_data: bool
    #: ``save()``: write now, every key.
    forced: bool
    #: ``touch()`` was called.
    touch_requested: bool
    #: The cookie carries ``Max-Age`` (not a browser-session cookie).
    persistent: bool
    #: What an earlier step decided for the cookie (``destroy()`` leaves CLEAR).
    cookie: Cookie
    #: The cookie was verified by an older secret: re-sign it.
    resign: bool
    #: The stored record's expiry (0 for a new session).
    expires_at: float
    #: The expiry a write now would give.
    next_expiry: float


#: The outcome, ``(write, cookie)``: one store call and one cookie decision (a plain
#: tuple: one is made per request, and unpacked at once).
Plan = tuple[Write, Cookie]


def decide(facts: Facts, rules: Rules) -> Plan:
    """The commit for ``facts`` under ``rules``; see the table in the module docstring."""
    stage = facts.stage
    if stage is GONE:
        return NO_WRITE, CLEAR
    if stage is NEW:
        if facts.forced or not facts.empty or facts.meta_changed or rules.save_uninitialized:
            return CREATE, SET
        return NO_WRITE, facts.cookie
    if stage is not STORED:
        raise ValueError(f"no commit for a session in stage {stage.value!r}")
    if rules.unset_destroy and facts.empty and facts.had_data:
        return DESTROY, CLEAR
    # A cookie signed by an older secret is re-sent, re-signed, when nothing else sends it.
    otherwise = SET if facts.resign else KEEP
    refresh = SET if facts.persistent or rules.rolling or facts.meta_changed else otherwise
    if facts.forced or rules.resave:
        return UPDATE_ALL, refresh
    if facts.changed or facts.meta_changed:
        return UPDATE, refresh
    moved = facts.next_expiry - facts.expires_at
    if facts.touch_requested or (moved > 0 and moved >= rules.touch_after):
        return TOUCH, refresh
    return NO_WRITE, SET if rules.rolling else otherwise
