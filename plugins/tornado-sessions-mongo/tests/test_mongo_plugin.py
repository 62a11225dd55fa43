"""Discovery and configuration: the entry point, store URLs, and the objects a store accepts."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from typing import Any

import pymongo
import pytest
from tornado_sessions_mongo import MongoStore, plugin
from tornado_sessions_mongo.urls import STORE_OPTIONS, parse_store_url

from tornado_sessions import ConfigurationError, Record, create_store
from tornado_sessions.registry import get_plugin_manager, store_schemes


def test_mongo_plugin_is_found_through_the_entry_point() -> None:
    names = {name for name, _ in get_plugin_manager().list_name_plugin()}
    assert "mongodb" in names  # the entry point's name in the tornado_sessions group
    schemes = store_schemes()
    assert schemes["mongodb"] is plugin.create
    assert schemes["mongodb+srv"] is plugin.create


def test_mongo_plugin_discovery_does_not_import_pymongo() -> None:
    """Importing the package and discovering plugins (as every application does) loads no
    driver; building a MongoDB store does."""
    script = textwrap.dedent(
        """
        import sys
        import tornado_sessions_mongo, tornado_sessions_mongo.plugin
        from tornado_sessions.registry import get_plugin_manager, store_schemes
        get_plugin_manager()
        store_schemes()
        before = sorted(name for name in ("pymongo", "bson", "motor") if name in sys.modules)
        from tornado_sessions import create_store
        create_store("mongodb://127.0.0.1:1/app", timeout=1.0)
        print(before, "pymongo" in sys.modules)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["[]", "True"]


@pytest.mark.gen_test
async def test_mongo_create_store_reads_database_collection_and_timeout() -> None:
    store = create_store(
        "mongodb://127.0.0.1:1/app?collection=web_sessions&appname=shop", timeout=1.5
    )
    try:
        assert isinstance(store, MongoStore)
        assert store.collection.full_name == "app.web_sessions"
        assert store.enforces_timeout and store.timeout == 1.5
        options = store.collection.database.client.options
        # Half the store timeout to find a server: an unreachable one fails with its
        # cause before the store's deadline.  No timeoutMS: PyMongo's operation timeout
        # would replace the server selection timeout by the time left.
        assert options.server_selection_timeout == 0.75
        assert options.pool_options.connect_timeout == 0.75
        assert options.timeout is None
    finally:
        await store.close()


@pytest.mark.gen_test
async def test_mongo_url_defaults_and_driver_options_pass_through() -> None:
    store = MongoStore.from_url("mongodb://127.0.0.1:1?maxPoolSize=7&w=majority", timeout=2)
    try:
        assert store.collection.full_name == "tornado_sessions.sessions"
        client = store.collection.database.client
        assert client.options.pool_options.max_pool_size == 7
        assert client.write_concern.document == {"w": "majority"}
    finally:
        await store.close()


def test_mongo_url_parsing_keeps_driver_options_verbatim() -> None:
    parsed = parse_store_url(
        "MONGODB://u:p%40ss@h1:1,h2:2/app%2Dx?replicaSet=rs0&collection=s&"
        "authMechanismProperties=SERVICE_NAME:x&cleanup_interval=30"
    )
    assert parsed.client_url == (
        "mongodb://u:p%40ss@h1:1,h2:2/app%2Dx?replicaSet=rs0&authMechanismProperties=SERVICE_NAME:x"
    )
    assert parsed.database == "app-x"
    assert parsed.collection == "s"
    assert parsed.cleanup_interval == 30.0
    assert parsed.driver_options == {"replicaset", "authmechanismproperties"}
    assert parsed.hosts == "h1:1,h2:2"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://h/app", "mongodb://"),
        ("mongodb:///app", "no host"),
        ("mongodb://h/app?collection=", "collection"),
        ("mongodb://h/app?cleanup_interval=soon", "cleanup_interval"),
        ("mongodb://h/app?cleanup_interval=0", "cleanup_interval"),
        ("mongodb://h/a.b", "database"),
        ("mongodb://h/app?collection=$bad", "collection"),
        ("mongodb://h/app?collection=system.sessions", "system"),
        ("mongodb://h/app?collection=a&collection=b", "twice"),
        ("mongodb://h/app?cleanup_interval=inf", "cleanup_interval"),
        ("mongodb://h/app?maxPoolSize=many", "maxpoolsize must be an integer"),
        ("mongodb://h/app?readPreference=fastest", "read preference"),
        ("mongodb://h/app?tls=maybe", "tls"),
    ],
)
def test_mongo_bad_urls_are_configuration_errors(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        MongoStore.from_url(url, timeout=2)


@pytest.mark.parametrize(
    ("option", "suggestion"),
    [("colection", "collection"), ("cleanup_intervall", "cleanup_interval"),
     ("maxPoolSise", "maxpoolsize"), ("prefix", None)],
)
def test_mongo_unknown_url_options_are_refused_listing_the_valid_ones(
    option: str, suggestion: str | None
) -> None:
    """PyMongo only warns about an unknown option and ignores it; the store refuses it."""
    with pytest.raises(ConfigurationError) as raised:
        create_store(f"mongodb://h/app?{option}=x", timeout=2)
    message = str(raised.value)
    assert f"unknown MongoDB store URL option {option!r}" in message
    if suggestion is not None:
        assert f"did you mean {suggestion!r}" in message
    for valid in [*STORE_OPTIONS, "maxpoolsize", "replicaset", "appname", "authsource"]:
        assert valid in message


def test_mongo_driver_options_are_case_insensitive_and_kept() -> None:
    parsed = parse_store_url("mongodb://h/app?MAXPOOLSIZE=3&appName=x&collection=c")
    assert parsed.client_url == "mongodb://h/app?MAXPOOLSIZE=3&appName=x"
    assert parsed.collection == "c"


def test_mongo_bad_arguments_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="timeout"):
        MongoStore("mongodb://h/app", timeout=0)
    with pytest.raises(ConfigurationError, match="timeout"):
        MongoStore("mongodb://h/app", timeout=float("inf"))
    with pytest.raises(ConfigurationError, match="asyncio client"):
        MongoStore(pymongo.MongoClient("mongodb://h/", connect=False))
    with pytest.raises(ConfigurationError, match="not dict"):
        MongoStore({"host": "h"})


@pytest.mark.gen_test
async def test_mongo_collection_object_excludes_database_and_collection_arguments() -> None:
    client: Any = pymongo.AsyncMongoClient("mongodb://127.0.0.1:1/")
    try:
        with pytest.raises(ConfigurationError, match="collection object"):
            MongoStore(client.app.sessions, collection="other")
        with pytest.raises(ConfigurationError, match="client_options"):
            MongoStore(client.app.sessions, client_options={"appname": "x"})
    finally:
        await client.close()


@pytest.mark.gen_test
async def test_mongo_store_accepts_a_client_a_database_or_a_collection(
    mongo_server: Any, collection_name: str, client_kind: str
) -> None:
    """Each target shape resolves to the same collection, and the store works through it."""
    if client_kind == "pymongo":
        client: Any = pymongo.AsyncMongoClient(mongo_server.client_url())
    else:
        from motor.motor_asyncio import AsyncIOMotorClient

        client = AsyncIOMotorClient(mongo_server.client_url())
    name = f"{mongo_server.database}.{collection_name}"
    try:
        stores = [
            MongoStore(client, collection=collection_name),  # the URL's database
            MongoStore(client, database=mongo_server.database, collection=collection_name),
            MongoStore(client[mongo_server.database], collection=collection_name),
            MongoStore(client[mongo_server.database][collection_name]),
        ]
        for index, store in enumerate(stores):
            assert store.collection.full_name == name
            await store.save(f"k{index}", Record({"i": b"%d" % index}, b"m", time.time() + 60))
        for index, store in enumerate(stores):
            loaded = await store.load(f"k{(index + 1) % len(stores)}")
            assert loaded is not None
            await store.close()
        # The store never closes a client it was handed.
        assert await client[mongo_server.database][collection_name].count_documents({}) == 4
    finally:
        result = client.close()
        if result is not None:
            await result


@pytest.mark.gen_test
async def test_mongo_client_without_default_database_uses_tornado_sessions() -> None:
    client: Any = pymongo.AsyncMongoClient("mongodb://127.0.0.1:1/")
    try:
        assert MongoStore(client).collection.full_name == "tornado_sessions.sessions"
    finally:
        await client.close()
