"""The plugin as the core finds it: entry point, schemes, URL options, errors, lazy import."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import textwrap

import pytest
import redis.asyncio
import tornado.web
from tornado_sessions_redis import RedisStore, plugin
from tornado_sessions_redis.multiplexed import MultiplexedClient
from tornado_sessions_redis.urls import CLIENT_OPTIONS, STORE_OPTIONS, parse_url

from tornado_sessions import (
    ConfigurationError,
    SessionOptions,
    StoreError,
    create_store,
    get_plugin_manager,
    open_sessions,
)
from tornado_sessions.registry import store_schemes


def test_the_entry_point_registers_the_plugin_module():
    manager = get_plugin_manager()
    assert manager.get_plugin("redis") is plugin
    schemes = store_schemes()
    for scheme in ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster"):
        assert schemes[scheme] is plugin._FACTORY


@pytest.mark.parametrize(
    ("url", "settings"),
    [
        ("redis://127.0.0.1:6390/2", {"host": "127.0.0.1", "port": 6390, "db": 2, "path": None}),
        ("rediss://example.invalid:6390/0", {"host": "example.invalid", "path": None}),
        ("unix:///run/redis.sock?db=3", {"path": "/run/redis.sock", "db": 3}),
        ("redis://u:p%40ss@h:1/0?client_name=app", {"username": "u", "password": "p@ss"}),
    ],
)
def test_create_store_builds_the_multiplexed_client_for_each_single_node_scheme(url, settings):
    store = create_store(url, timeout=1.5)
    assert isinstance(store, RedisStore) and not store.is_cluster
    assert isinstance(store.client, MultiplexedClient)
    built = store.client.settings
    for name, value in settings.items():
        assert getattr(built, name) == value
    assert (built.tls is not None) == url.startswith("rediss:")
    assert store.enforces_timeout and built.socket_timeout == 1.5
    assert built.socket_connect_timeout == 1.5
    assert "p@ss" not in repr(built) and "p@ss" not in repr(store.client)


@pytest.mark.parametrize(
    ("url", "connection", "options"),
    [
        (
            "redis://127.0.0.1:6390/2?client=redis-py",
            "Connection",
            {"host": "127.0.0.1", "port": 6390, "db": 2},
        ),
        (
            "rediss://example.invalid:6390/0?client=redis-py",
            "SSLConnection",
            {"host": "example.invalid"},
        ),
        (
            "unix:///run/redis.sock?db=3&client=redis-py",
            "UnixDomainSocketConnection",
            {"path": "/run/redis.sock", "db": 3},
        ),
        (  # an option of redis-py's pool selects redis-py
            "redis://u:p%40ss@h:1/0?max_connections=7",
            "Connection",
            {"username": "u", "password": "p@ss", "max_connections": 7},
        ),
        ("redis://h:1/0?protocol=3", "Connection", {"protocol": 3}),
        ("redis://h:1/0?health_check_interval=5", "Connection", {"health_check_interval": 5}),
    ],
)
def test_client_redis_py_builds_a_redis_py_client_for_each_scheme(url, connection, options):
    store = create_store(url, timeout=1.5)
    assert isinstance(store, RedisStore) and not store.is_cluster
    assert isinstance(store.client, redis.asyncio.Redis)
    pool = store.client.connection_pool
    assert pool.connection_class.__name__ == connection
    for name, value in options.items():
        if name == "max_connections":
            assert pool.max_connections == value
        else:
            assert pool.connection_kwargs[name] == value
    assert store.enforces_timeout and pool.connection_kwargs["socket_timeout"] == 1.5


def test_an_unknown_client_is_refused():
    with pytest.raises(ConfigurationError, match="client='hiredis': use one of multiplexed"):
        create_store("redis://h:1/0?client=hiredis", timeout=1.0)


def test_create_store_builds_a_cluster_client_for_cluster_urls():
    store = create_store("redis+cluster://127.0.0.1:7000?prefix=app:", timeout=1.0)
    assert isinstance(store, RedisStore) and store.is_cluster and store.prefix == "app:"
    assert isinstance(store.client, redis.asyncio.RedisCluster)


def test_store_options_are_removed_before_redis_py_sees_the_url():
    parsed = parse_url("redis://h:1/0?prefix=a%3Ab:&cluster=0&socket_timeout=3")
    assert parsed.prefix == "a:b:" and parsed.cluster is False
    assert parsed.client_url == "redis://h:1/0?socket_timeout=3"
    assert parsed.client_options == {"socket_timeout"}
    assert RedisStore.from_url("redis://h:1/0?prefix=", timeout=1).prefix == ""


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("memcached://h:1", "not 'memcached' URLs"),
        ("redis://h:1?cluster=maybe", "not a boolean"),
        ("redis://h:1?decode_responses=1", "session values are bytes"),
        ("redis://h:1?socket_timeout=soon", "invalid Redis store URL"),
        ("redis://h:1?no_such_option=1", "unknown Redis store URL option 'no_such_option'"),
        ("redis+cluster://h:1?no_such_option=1", "unknown Redis store URL option"),
        ("redis://h:1?ssl_ca_certs=/ca.pem", "applies to TLS URLs"),
        ("redis://h:1?retry_on_timeout=true", "does not retry"),
        ("redis://h:port", "invalid Redis store URL"),
        # Zero or negative seconds would fail every command, not the start-up.
        ("redis://h:1?socket_timeout=0", "socket_timeout='0': a positive number of seconds"),
        ("redis://h:1?socket_connect_timeout=-1", "positive number of seconds"),
        ("redis://h:1?socket_timeout=nan&client=redis-py", "positive number of seconds"),
        # redis-py ignores a path that is not a number: database 0, silently.
        ("redis://h:1/sessions", "'/sessions' is not a database number"),
        ("rediss://h:1/-1", "'/-1' is not a database number"),
        ("redis://h:1/2x?client=redis-py", "not a database number"),
    ],
)
def test_bad_urls_are_configuration_errors(url, message):
    with pytest.raises(ConfigurationError, match=message):
        RedisStore.from_url(url, timeout=1.0)


@pytest.mark.parametrize("scheme", ["redis", "rediss", "unix", "redis+cluster"])
def test_a_misspelt_option_is_refused_by_the_factory_naming_every_valid_option(scheme):
    where = "/run/redis.sock" if scheme == "unix" else "h:1"
    with pytest.raises(ConfigurationError) as caught:
        create_store(f"{scheme}://{where}?prefx=app:", timeout=1.0)
    message = str(caught.value)
    assert "unknown Redis store URL option 'prefx' (did you mean 'prefix'?)" in message
    for option in (*STORE_OPTIONS, *CLIENT_OPTIONS):
        assert option in message
    assert ("ssl_ca_certs" in message) == (scheme == "rediss")


@pytest.mark.gen_test
async def test_a_misspelt_option_fails_open_sessions_before_any_request():
    options = SessionOptions(secret="x" * 32, store="redis://127.0.0.1:1/0?prefx=app:")
    app = tornado.web.Application([], sessions=options)
    with pytest.raises(ConfigurationError, match="did you mean 'prefix'"):
        await open_sessions(app)


def test_tls_options_reach_redis_py_on_tls_urls():
    url = "rediss://h:1/0?ssl_cert_reqs=none&ssl_check_hostname=false&client=redis-py"
    store = create_store(url, timeout=1)
    kwargs = store.client.connection_pool.connection_kwargs
    assert kwargs["ssl_cert_reqs"] == "none" and kwargs["ssl_check_hostname"] is False


def test_tls_options_reach_the_multiplexed_clients_tls_context():
    store = create_store("rediss://h:1/0?ssl_cert_reqs=none&ssl_check_hostname=false", timeout=1)
    tls = store.client.settings.tls
    assert tls is not None
    context = tls()
    assert context.verify_mode == ssl.CERT_NONE and context.check_hostname is False
    checked = create_store("rediss://h:1/0", timeout=1).client.settings.tls()
    assert checked.verify_mode == ssl.CERT_REQUIRED and checked.check_hostname is True


def test_a_missing_ca_file_is_reported_when_connecting_as_before():
    # As with redis-py, certificate files are read when connecting, not when building.
    store = create_store("rediss://h:1/0?ssl_ca_certs=/nonexistent/ca.pem", timeout=1)
    assert isinstance(store.client, MultiplexedClient)


def test_repr_names_the_kind_address_and_prefix_but_no_credentials():
    store = RedisStore.from_url("redis://user:secret@h:1/0?prefix=p:", timeout=1.0)
    assert repr(store) == "<RedisStore single node h:1 prefix='p:' timeout=1.0>"
    cluster = RedisStore.from_url("redis+cluster://:pw@h:7000", timeout=1.0)
    assert repr(cluster) == "<RedisStore cluster h:7000 prefix='tornado_sessions:' timeout=1.0>"


def test_an_ipv6_address_is_named_in_brackets():
    store = RedisStore.from_url("redis://[::1]:6380/0", timeout=1.0)
    assert store.address == "[::1]:6380" == store.client.settings.address
    assert "[::1]:6380" in repr(store.client)


@pytest.mark.parametrize("path", ["", "/", "/0", "/15", "/15/"])
def test_a_database_number_or_no_path_is_accepted(path):
    assert isinstance(RedisStore.from_url(f"redis://h:1{path}", timeout=1.0), RedisStore)


@pytest.mark.parametrize(
    "url", ["redis://h:1/2?db=5", "redis://h:1/?db=1&db=2", "rediss://h:1/0?db=3"]
)
def test_a_url_naming_two_databases_is_refused(url):
    # redis-py would let ?db= win over the path without a word.
    with pytest.raises(ConfigurationError, match="more than one database"):
        RedisStore.from_url(url, timeout=1.0)


@pytest.mark.parametrize(
    ("url", "db"), [("redis://h:1/4?db=4", 4), ("redis://h:1?db=7", 7), ("unix:///s?db=2", 2)]
)
def test_a_database_named_once_or_twice_alike_is_the_one_selected(url, db):
    store = RedisStore.from_url(url, timeout=1.0)
    assert store.client.settings.db == db


@pytest.mark.parametrize(
    "query", ["db=sessions", "db=", "db=-1", "db=%203", "db=1_000", "db=%D9%A1", "db=x&db=3"]
)
def test_a_db_option_that_is_not_a_database_number_is_refused(query):
    # As a path that is not one is: digits 0-9 only.
    with pytest.raises(ConfigurationError, match="not a database number") as raised:
        RedisStore.from_url(f"redis://h:1/?{query}", timeout=1.0)
    assert "'3'" not in str(raised.value), "the valid value is not the one named"


def test_discovering_the_plugin_does_not_import_redis_py():
    # A fresh interpreter: the plugin module is found and asked for its schemes, a
    # memory:// store is built, and redis-py is still not imported; building a
    # Redis store imports it.
    code = textwrap.dedent(
        """
        import sys
        from tornado_sessions import create_store, get_plugin_manager
        from tornado_sessions.registry import store_schemes
        assert get_plugin_manager().get_plugin("redis") is not None
        assert "redis+cluster" in store_schemes()
        create_store("memory://", timeout=1.0)
        assert "redis" not in sys.modules, sorted(m for m in sys.modules if "redis" in m)
        create_store("redis://127.0.0.1:1/0", timeout=1.0)
        assert "redis" in sys.modules
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.gen_test
@pytest.mark.parametrize("scheme", ["redis", "redis+cluster"])
async def test_open_connects_and_names_the_host_and_the_cause(scheme):
    port = _closed_port()
    store = create_store(f"{scheme}://127.0.0.1:{port}", timeout=1.0)
    try:
        with pytest.raises(redis.exceptions.ConnectionError) as caught:
            await store.open()
        assert f"Redis 127.0.0.1:{port}: open failed: connection refused" in str(caught.value)
    finally:
        await store.close()


@pytest.mark.gen_test
async def test_open_sessions_reports_an_unreachable_redis_with_host_and_cause():
    port = _closed_port()
    options = SessionOptions(secret="x" * 32, store=f"redis://127.0.0.1:{port}/0")
    app = tornado.web.Application([], sessions=options)
    with pytest.raises(StoreError) as caught:
        await open_sessions(app)
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert "connection refused" in str(caught.value)
