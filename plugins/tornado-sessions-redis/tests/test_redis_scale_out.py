"""Scale-out: several Tornado processes on one Redis Cluster (or one Redis), through faults.

Each test starts real Tornado processes (:class:`TornadoProcesses`) that share one
store URL, and drives them with concurrent HTTP clients, each with its own session,
spread round-robin over the processes; each request changes the client's own key
and the session's write counter ``n`` (see :func:`make_app`).  What every test
checks, request by request and at the end:

- every answer is a 200 or a 503: a store failure is never a 500, nor a 200 whose
  write was lost;
- a client never sees another client's key, and its counter only goes up (a
  session that started over would show a counter back at 1);
- at the end, each session holds the client's last acknowledged write (or a later
  one that was answered 503 after it landed): acknowledged writes lost: 0.

Waiting is on events (a response arriving, the cluster's own state), never on a
fixed sleep.  The failover and restart tests print their figures (503 window and
count), which the plugin's README reports.
"""

from __future__ import annotations

import asyncio
import collections
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import tornado.httpclient
import tornado.simple_httpclient
from tornado_sessions_redis import RedisStore
from tornado_sessions_redis.testing import (
    RedisServer,
    TornadoProcesses,
    start_cluster,
)

from tornado_sessions import Record

REQUEST_TIMEOUT = 10.0
NODE_FAILED = re.compile(r"Redis 127\.0\.0\.1:\d+: (load|save|save_changes|touch) failed: \S")


@dataclass
class Client:
    """One visitor: its own cookie, key and counters."""

    name: str
    cookie: str | None = None
    value: int = 0
    acked_value: int = 0
    acked_n: int = 0
    attempted: set[int] = field(default_factory=set)
    codes: collections.Counter[int] = field(default_factory=collections.Counter)
    #: (when, which process) of each 200.
    acked_at: list[tuple[float, int]] = field(default_factory=list)
    failed_at: list[float] = field(default_factory=list)


class Load:
    """Clients writing in a loop over the processes until stopped; every answer checked."""

    def __init__(self, urls: list[str], clients: int) -> None:
        self.urls = urls
        self.clients = [Client(f"c{i}") for i in range(clients)]
        self.http = tornado.simple_httpclient.SimpleAsyncHTTPClient(
            force_instance=True, max_clients=clients * 2
        )
        self.stop = asyncio.Event()
        self.changed = asyncio.Condition()
        self.errors: list[str] = []
        self.tasks: list[asyncio.Task[None]] = []

    async def request(self, client: Client, url: str) -> tuple[int, dict[str, int] | None]:
        headers = {"Cookie": f"sessionid={client.cookie}"} if client.cookie else {}
        reply = await self.http.fetch(
            url, headers=headers, raise_error=False, request_timeout=REQUEST_TIMEOUT
        )
        for header in reply.headers.get_list("Set-Cookie"):
            if header.startswith("sessionid="):
                value = header.split(";", 1)[0].split("=", 1)[1]
                client.cookie = value or None
        data = json.loads(reply.body)["data"] if reply.code == 200 else None
        return reply.code, data

    async def write(self, client: Client, index: int) -> int:
        client.value += 1
        client.attempted.add(client.value)
        url = f"{self.urls[index % len(self.urls)]}/w?k={client.name}&v={client.value}"
        code, data = await self.request(client, url)
        client.codes[code] += 1
        if code == 200:
            assert data is not None
            if set(data) != {client.name, "n"} or data[client.name] != client.value:
                self.errors.append(f"{client.name} saw {data} after writing {client.value}")
            elif data["n"] <= client.acked_n:
                self.errors.append(f"{client.name}'s session started over: {data}")
            else:
                client.acked_value, client.acked_n = client.value, data["n"]
            client.acked_at.append((time.monotonic(), index % len(self.urls)))
        elif code == 503:
            client.failed_at.append(time.monotonic())
        else:
            self.errors.append(f"{client.name} got {code}")
        async with self.changed:
            self.changed.notify_all()
        return code

    async def _run(self, client: Client, first: int) -> None:
        index = first
        while not self.stop.is_set():
            await self.write(client, index)
            index += 1

    def start(self) -> None:
        for i, client in enumerate(self.clients):
            self.tasks.append(asyncio.ensure_future(self._run(client, i)))

    async def until(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        """Wait, answer by answer, until ``condition()`` holds."""
        async with asyncio.timeout(timeout):
            async with self.changed:
                await self.changed.wait_for(lambda: condition() or bool(self.errors))
        assert not self.errors, self.errors[:5]
        assert condition(), what

    async def finish(self) -> None:
        self.stop.set()
        await asyncio.gather(*self.tasks)
        assert not self.errors, self.errors[:5]

    async def check_nothing_acknowledged_was_lost(self) -> None:
        """Each session, read through every process, holds its last acknowledged write."""
        for i, client in enumerate(self.clients):
            if not client.acked_value:
                continue
            for j in range(len(self.urls)):
                code, data = await self.request(client, f"{self.urls[(i + j) % len(self.urls)]}/r")
                assert code == 200, (client.name, code)
                assert data is not None and set(data) == {client.name, "n"}, (client.name, data)
                stored = data[client.name]
                assert stored >= client.acked_value and stored in client.attempted, (
                    f"{client.name}: acknowledged {client.acked_value}, stored {stored}"
                )
                assert data["n"] >= client.acked_n

    def codes(self) -> collections.Counter[int]:
        total: collections.Counter[int] = collections.Counter()
        for client in self.clients:
            total.update(client.codes)
        return total

    def close(self) -> None:
        self.http.close()


def acked_since(load: Load, moment: float, count: int) -> Callable[[], bool]:
    """Every client had ``count`` writes acknowledged after ``moment``."""
    return lambda: all(
        sum(1 for t, _ in client.acked_at if t > moment) >= count for client in load.clients
    )


def served_by_every_process_since(load: Load, moment: float) -> Callable[[], bool]:
    """Every process acknowledged a write of every client after ``moment``."""
    everyone = set(range(len(load.urls)))
    return lambda: all(
        {process for t, process in client.acked_at if t > moment} == everyone
        for client in load.clients
    )


def failure_window(load: Load) -> tuple[float, int]:
    failed = sorted(t for client in load.clients for t in client.failed_at)
    return (failed[-1] - failed[0] if failed else 0.0), len(failed)


def logged_failures(processes: TornadoProcesses) -> list[str]:
    """The store-failure lines the processes logged (each opens a burst, with its cause)."""
    return [
        line
        for i in range(processes.count)
        for line in processes.log(i).splitlines()
        if line.startswith("ERROR tornado_sessions session store failed")
    ]


@pytest.fixture
def processes(tmp_path):
    """``start(url, count, **options)``: Tornado processes, all stopped at the end."""
    started: list[TornadoProcesses] = []

    def start(url: str, count: int, **options) -> TornadoProcesses:
        group = TornadoProcesses(url, count, tmp_path / f"web{len(started)}", **options)
        started.append(group)
        group.start()
        return group

    yield start
    for group in started:
        group.stop()


# -- cold start -------------------------------------------------------------------------


@pytest.mark.gen_test(timeout=60)
async def test_concurrent_first_calls_on_a_freshly_opened_cluster_store_all_succeed(
    redis_cluster, key_prefix
):
    # redis-py 8.1's fresh cluster client failed most of these (connections closed
    # under concurrent first commands); open() initialises it once, before any.
    for _ in range(3):
        store = RedisStore.from_url(f"{redis_cluster.url}?prefix={key_prefix}", timeout=2.0)
        failures: list[BaseException] = []

        async def one(
            i: int, store: RedisStore = store, failures: list[BaseException] = failures
        ) -> None:
            for _ in range(5):
                try:
                    await store.save(f"k{i}", Record({"a": b"1"}, b"m", time.time() + 60))
                    assert await store.load(f"k{i}") is not None
                except Exception as exc:
                    failures.append(exc)

        try:
            await store.open()
            await asyncio.gather(*(one(i) for i in range(30)))
        finally:
            await store.close()
        assert failures == []


@pytest.mark.gen_test(timeout=90)
@pytest.mark.parametrize("open_first", [True, False], ids=["open_sessions", "first_request"])
async def test_a_burst_of_first_requests_to_fresh_processes_gets_no_503(
    redis_cluster, key_prefix, processes, open_first
):
    group = processes(f"{redis_cluster.url}?prefix={key_prefix}", 2, open_first=open_first)
    load = Load(group.urls, 40)
    try:
        codes = await asyncio.gather(*(load.write(c, i) for i, c in enumerate(load.clients)))
        assert collections.Counter(codes) == {200: 40}
        assert not load.errors
        await load.check_nothing_acknowledged_was_lost()
    finally:
        load.close()


# -- sharing ------------------------------------------------------------------------------


@pytest.mark.gen_test(timeout=90)
async def test_three_processes_share_every_session_and_no_client_sees_another(
    redis_cluster, key_prefix, processes
):
    group = processes(f"{redis_cluster.url}?prefix={key_prefix}", 3)
    load = Load(group.urls, 12)
    try:
        load.start()
        await load.until(acked_since(load, 0.0, 9), 60, "nine writes per client")
        await load.finish()
        assert set(load.codes()) == {200}
        # each client's writes went round-robin over the three processes
        await load.check_nothing_acknowledged_was_lost()
    finally:
        load.close()


# -- faults -------------------------------------------------------------------------------


@pytest.mark.gen_test(timeout=180)
async def test_a_master_killed_mid_run_gives_503s_until_its_replica_serves_then_recovers(
    redis_binary, tmp_path, processes, capsys
):
    # A cluster of its own (this test kills a node), with a short node timeout so the
    # failover takes about two seconds.
    cluster = start_cluster(redis_binary, tmp_path / "cluster", node_timeout_ms=1000)
    load: Load | None = None
    try:
        group = processes(cluster.url, 3, store_timeout=1.0)
        load = Load(group.urls, 24)
        load.start()
        await load.until(acked_since(load, 0.0, 3), 60, "three writes per client")

        killed = cluster.primaries[0]
        killed_at = time.monotonic()
        killed.kill()
        await asyncio.to_thread(cluster.wait_for_failover, killed)
        failed_over_at = time.monotonic()
        # Every client, on every process, writes again: no process is restarted.
        await load.until(
            served_by_every_process_since(load, failed_over_at), 60, "every process to recover"
        )
        await load.finish()

        codes = load.codes()
        assert set(codes) <= {200, 503}, codes
        window, failures = failure_window(load)
        assert failures > 0, "the killed master served no session?"
        late = sum(1 for c in load.clients for t in c.failed_at if t > failed_over_at)
        await load.check_nothing_acknowledged_was_lost()
        # What the operator reads names the node that failed, the operation and why.
        # The log is rate-limited (one line per interval while the store flaps), so
        # the first line may name the killed node's closed connection or its refusal.
        logged = logged_failures(group)
        assert logged and all(NODE_FAILED.search(line) for line in logged), logged[:3]
        killed_node = f"Redis {killed.host}:{killed.port}: "
        assert any(killed_node in line for line in logged), logged[:3]
        assert len(logged) <= 2 * group.count, logged  # a burst per process, not per request
        with capsys.disabled():
            print(
                f"\nfailover: election took {failed_over_at - killed_at:.2f}s; "
                f"{failures} requests got 503 over {window:.2f}s ({late} after the election); "
                f"{codes[200]} got 200; acknowledged writes lost: 0; "
                f"{len(logged)} failure bursts logged"
            )
    finally:
        if load is not None:
            load.close()
        cluster.stop()


@pytest.mark.gen_test(timeout=120)
async def test_a_single_redis_restarted_mid_run_loses_nothing_acknowledged(
    redis_binary, tmp_path, processes, capsys
):
    server = RedisServer(redis_binary, tmp_path / "redis", persistent=True)
    server.start()
    load: Load | None = None
    try:
        group = processes(server.url, 2, store_timeout=1.0)
        load = Load(group.urls, 16)
        load.start()
        await load.until(acked_since(load, 0.0, 3), 60, "three writes per client")

        server.kill()  # a crash: the append-only file has every acknowledged write
        down_at = time.monotonic()
        await load.until(lambda: all(c.failed_at for c in load.clients), 30, "503s while down")
        server.restart()
        up_at = time.monotonic()
        await load.until(served_by_every_process_since(load, up_at), 60, "every process to recover")
        await load.finish()

        codes = load.codes()
        assert set(codes) == {200, 503}, codes
        assert all(down_at <= t for c in load.clients for t in c.failed_at)
        await load.check_nothing_acknowledged_was_lost()
        logged = logged_failures(group)
        assert logged and all(f"Redis {server.host}:{server.port}: " in x for x in logged)
        window, failures = failure_window(load)
        with capsys.disabled():
            print(
                f"\nrestart: down {up_at - down_at:.2f}s; {failures} requests got 503 over "
                f"{window:.2f}s; {codes[200]} got 200; acknowledged writes lost: 0; "
                f"{len(logged)} failure bursts logged"
            )
    finally:
        if load is not None:
            load.close()
        server.stop()
