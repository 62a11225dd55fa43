"""The Lua scripts that make each store operation one atomic command, and how they are run.

Every script touches exactly one key, ``KEYS[1]`` (the session's hash), so it runs
unchanged on a single node and on Redis Cluster.  Scripts are sent with ``EVALSHA``;
a server that does not know one yet (first use, a restart, ``SCRIPT FLUSH``, a new
cluster node) answers ``NOSCRIPT`` and the same call is repeated once with ``EVAL``,
which also caches the script on that server.

Hash layout (see :mod:`tornado_sessions_redis.store`): field ``m`` holds the core's
meta bytes, field ``f:<name>`` the value of session key ``<name>``.  The scripts
receive field names already prefixed, so they never interpret them.

Lua's ``unpack`` is limited to a few thousand values, so field lists are written
in chunks of :data:`CHUNK` arguments (an even number, so pairs are never split).
"""

from __future__ import annotations

import hashlib
from typing import Any, Protocol

from redis.exceptions import NoScriptError

__all__ = ["CHUNK", "LOAD", "SAVE", "SAVE_CHANGES", "WRONG_TYPE", "LuaScript"]

#: Arguments handed to one HSET/HDEL inside a script (even: field/value pairs stay whole).
CHUNK = 1000


class _Executor(Protocol):
    async def execute_command(self, *args: Any, **options: Any) -> Any: ...


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

#: Replace the whole record.  ``ARGV[1]`` = ttl in ms (> 0), ``ARGV[2..]`` = field/value
#: pairs, meta included.  Delete, write and expire in one step.
SAVE = LuaScript(
    "save",
    _WRITE_PAIRS
    + """
redis.call('DEL', KEYS[1])
write_pairs(KEYS[1], 2)
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
""",
)

#: Apply a delta to an existing record, or do nothing and return 0.
#: ``ARGV[1]`` = ttl in ms (> 0), ``ARGV[2]`` = n, ``ARGV[3 .. 2+n]`` = fields to delete,
#: then field/value pairs to set, meta included.
SAVE_CHANGES = LuaScript(
    "save_changes",
    _WRITE_PAIRS
    + f"""
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local last = 2 + tonumber(ARGV[2])
local i = 3
while i <= last do
  local j = math.min(i + {CHUNK - 1}, last)
  redis.call('HDEL', KEYS[1], unpack(ARGV, i, j))
  i = j + 1
end
write_pairs(KEYS[1], last + 1)
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
""",
)
