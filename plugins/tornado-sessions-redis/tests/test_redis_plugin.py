"""The plugin as the core finds it: entry point, schemes, URL options, errors."""

from __future__ import annotations

import pytest
import redis.asyncio
from tornado_sessions_redis import RedisStore, plugin
from tornado_sessions_redis.urls import parse_url

from tornado_sessions import ConfigurationError, create_store, get_plugin_manager
from tornado_sessions.registry import store_schemes


def test_the_entry_point_registers_the_plugin_module():
    manager = get_plugin_manager()
    assert manager.get_plugin("redis") is plugin
    schemes = store_schemes()
    for scheme in ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster"):
        assert schemes[scheme] is plugin._FACTORY


@pytest.mark.parametrize(
    ("url", "connection", "options"),
    [
        ("redis://127.0.0.1:6390/2", "Connection", {"host": "127.0.0.1", "port": 6390, "db": 2}),
        ("rediss://example.invalid:6390/0", "SSLConnection", {"host": "example.invalid"}),
        (
            "unix:///run/redis.sock?db=3",
            "UnixDomainSocketConnection",
            {"path": "/run/redis.sock", "db": 3},
        ),
        (
            "redis://u:p%40ss@h:1/0?max_connections=7",
            "Connection",
            {"username": "u", "password": "p@ss"},
        ),
    ],
)
def test_create_store_builds_a_redis_store_for_each_scheme(url, connection, options):
    store = create_store(url, timeout=1.5)
    assert isinstance(store, RedisStore) and not store.is_cluster
    pool = store.client.connection_pool
    assert pool.connection_class.__name__ == connection
    for name, value in options.items():
        assert pool.connection_kwargs[name] == value
    assert store.enforces_timeout and pool.connection_kwargs["socket_timeout"] == 1.5


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
        ("redis://h:1?no_such_option=1", "invalid Redis store URL"),
        ("redis+cluster://h:1?no_such_option=1", "invalid Redis store URL"),
    ],
)
def test_bad_urls_are_configuration_errors(url, message):
    with pytest.raises(ConfigurationError, match=message):
        RedisStore.from_url(url, timeout=1.0)


def test_repr_names_the_kind_and_prefix_but_no_credentials():
    store = RedisStore.from_url("redis://user:secret@h:1/0?prefix=p:", timeout=1.0)
    assert repr(store) == "<RedisStore single node prefix='p:' timeout=1.0>"
