"""The Lua scripts that make each store operation one atomic command, and how they are run.

Every script declares exactly one key, ``KEYS[1]`` (the session's hash, or for
``INDEX_ADD`` an owner's index), so it runs unchanged on a single node and on Redis
Cluster.  The owner index (a sorted set per owner, see
:mod:`tornado_sessions_redis.store`) is kept in the same script on a single node:
the write scripts then receive the index prefix in ``ARGV`` and also update the
owner's sorted set, a key they derive (undeclared keys work on a single node, never
on a cluster).  On a cluster they receive an empty index prefix and touch only the
hash; the store updates the index with separate commands.

Scripts are sent with ``EVALSHA``; a server that does not know one yet (first use,
a restart, ``SCRIPT FLUSH``, a new cluster node) answers ``NOSCRIPT`` and the same
call is repeated once with ``EVAL``, which also caches the script on that server.

Hash layout (see :mod:`tornado_sessions_redis.store`): field ``m`` holds the core's
meta bytes, ``o`` the owner, ``e`` an owned session's expiry as written (Unix ms),
field ``f:<name>`` the value of session key ``<name>``.  The scripts
receive field names already prefixed, so they never interpret them.

Lua's ``unpack`` is limited to a few thousand values, so field lists are written
in chunks of :data:`CHUNK` arguments (an even number, so pairs are never split).

Write scripts share their first arguments: ``ARGV[1]`` ttl in ms (> 0), ``ARGV[2]``
the owner index prefix (empty: leave the index alone), ``ARGV[3]`` the new owner
(empty: none), ``ARGV[4]`` the new expiry as Unix milliseconds (the index score),
``ARGV[5]`` the current Unix milliseconds (the store's clock: index entries scored
below it are dropped), ``ARGV[6]`` the member (the store key).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable
from typing import Any, Protocol

from redis.exceptions import NoScriptError

__all__ = [
    "CHUNK",
    "DESTROY",
    "INDEX_ADD",
    "LOAD",
    "OWNED",
    "SAVE",
    "SAVE_CHANGES",
    "TOUCH",
    "WRONG_TYPE",
    "LuaScript",
]

#: Arguments handed to one HSET/HDEL inside a script (even: field/value pairs stay whole).
CHUNK = 1000


class _Executor(Protocol):
    def execute_command(self, *args: Any, **options: Any) -> Awaitable[Any]: ...


class LuaScript:
    """One Lua script over a single key, run with ``EVALSHA`` and ``EVAL`` as fallback."""

    __slots__ = ("name", "sha", "source")

    def __init__(self, name: str, source: str) -> None:
        self.name = name
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    async def __call__(self, client: _Executor, key: bytes, *args: bytes | int) -> Any:
        """Run the script on ``key``: one round trip (two the first time a server sees it)."""
        try:
            return await client.execute_command("EVALSHA", self.sha, 1, key, *args)
        except NoScriptError:
            return await client.execute_command("EVAL", self.source, 1, key, *args)

    def __repr__(self) -> str:
        return f"<LuaScript {self.name} {self.sha[:12]}>"


_INDEX = """
local function index_add(set, member, score, ttl, now)
  redis.call('ZREMRANGEBYSCORE', set, '-inf', '(' .. now)
  redis.call('ZADD', set, 'GT', score, member)
  local left = redis.call('PTTL', set)
  if left < tonumber(ttl) then redis.call('PEXPIRE', set, ttl) end
end
local function index_move(hash, old, new)
  local index = ARGV[2]
  if index == '' then return end
  if old and old ~= new then redis.call('ZREM', index .. old, ARGV[6]) end
  if new ~= '' then index_add(index .. new, ARGV[6], ARGV[4], ARGV[1], ARGV[5]) end
end
"""

_WRITE_PAIRS = f"""
local function write_pairs(key, first)
  local last = #ARGV
  local i = first
  while i <= last do
    local j = math.min(i + {CHUNK - 1}, last)
    redis.call('HSET', key, unpack(ARGV, i, j))
    i = j + 1
  end
end
"""

#: First element of LOAD's reply for a key that is not a hash (never a PTTL value).
WRONG_TYPE = -100

#: Whole record.  Returns ``false`` when the key is absent, else ``{pttl_ms, {field, value, ...}}``,
#: or ``{WRONG_TYPE, type}`` for a key of another type (instead of a WRONGTYPE error, so the
#: store can report it as a corrupt record).  The TTL comes from the same atomic step as the
#: fields, so they always agree.
LOAD = LuaScript(
    "load",
    f"""
local t = redis.call('TYPE', KEYS[1])['ok']
if t == 'none' then return false end
if t ~= 'hash' then return {{{WRONG_TYPE}, t}} end
return {{redis.call('PTTL', KEYS[1]), redis.call('HGETALL', KEYS[1])}}
""",
)

#: Replace the whole record.  ``ARGV[1..6]`` as above, ``ARGV[7..]`` = field/value
#: pairs, meta and owner included.  Delete, write and expire in one step; returns the
#: previous owner (``false`` if none), so a cluster caller can leave its index.
SAVE = LuaScript(
    "save",
    _INDEX
    + _WRITE_PAIRS
    + """
local old = false
if redis.call('TYPE', KEYS[1])['ok'] == 'hash' then old = redis.call('HGET', KEYS[1], 'o') end
redis.call('DEL', KEYS[1])
write_pairs(KEYS[1], 7)
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'e', ARGV[4]) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
index_move(KEYS[1], old, ARGV[3])
return old
""",
)

#: Apply a delta to an existing record, or do nothing and return 0.
#: ``ARGV[1..6]`` as above, ``ARGV[7]`` = n, ``ARGV[8 .. 7+n]`` = fields to delete,
#: then field/value pairs to set, meta included (the owner field ``o`` is among the
#: deleted fields when the session has no owner any more).  Returns ``{1, previous
#: owner or false}`` when written.
SAVE_CHANGES = LuaScript(
    "save_changes",
    _INDEX
    + _WRITE_PAIRS
    + f"""
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local old = redis.call('HGET', KEYS[1], 'o')
local last = 7 + tonumber(ARGV[7])
local i = 8
while i <= last do
  local j = math.min(i + {CHUNK - 1}, last)
  redis.call('HDEL', KEYS[1], unpack(ARGV, i, j))
  i = j + 1
end
write_pairs(KEYS[1], last + 1)
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'e', ARGV[4]) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
index_move(KEYS[1], old, ARGV[3])
return {{1, old}}
""",
)

#: Move the expiry of an existing record (0 if there is none).  ``ARGV[1..6]`` as
#: above, ``ARGV[3]`` ignored: the owner is the one the hash holds.  Every write of an
#: owned session also records the expiry it was asked for in field ``e`` (Unix ms):
#: listing reports it, the same in every process (a PTTL read back would differ by a
#: millisecond or two, and the core ranks an owner's sessions by it).
TOUCH = LuaScript(
    "touch",
    _INDEX
    + """
if redis.call('PEXPIRE', KEYS[1], ARGV[1]) == 0 then return 0 end
if redis.call('TYPE', KEYS[1])['ok'] ~= 'hash' then return 1 end
local owner = redis.call('HGET', KEYS[1], 'o')
if owner then
  redis.call('HSET', KEYS[1], 'e', ARGV[4])
  index_move(KEYS[1], owner, owner)
end
return 1
""",
)

#: Delete a record.  ``ARGV[1]`` = the owner index prefix (empty: leave the index
#: alone), ``ARGV[2]`` = the member.  Returns ``{deleted, owner or false}``.
DESTROY = LuaScript(
    "destroy",
    """
local owner = false
if redis.call('TYPE', KEYS[1])['ok'] == 'hash' then owner = redis.call('HGET', KEYS[1], 'o') end
local deleted = redis.call('DEL', KEYS[1])
if owner and ARGV[1] ~= '' then redis.call('ZREM', ARGV[1] .. owner, ARGV[2]) end
return {deleted, owner}
""",
)

#: Add (or move up) one member of an owner's index, ``KEYS[1]``: the cluster's index
#: step, run *before* the session write.  ``ARGV`` = member, score (expiry in Unix ms),
#: ttl in ms, now in Unix ms.  A score never moves down (``GT``), so it is never
#: earlier than the member's expiry, and the set lives at least as long as its
#: longest-lived member.
INDEX_ADD = LuaScript(
    "index_add",
    _INDEX
    + """
index_add(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
return 1
""",
)

#: What listing needs of one session: ``false`` if absent (or not a hash), else
#: ``{pttl_ms, meta or false, owner or false, expiry in Unix ms or false}``.
OWNED = LuaScript(
    "owned",
    """
if redis.call('TYPE', KEYS[1])['ok'] ~= 'hash' then return false end
local f = redis.call('HMGET', KEYS[1], 'm', 'o', 'e')
return {redis.call('PTTL', KEYS[1]), f[1], f[2], f[3]}
""",
)
