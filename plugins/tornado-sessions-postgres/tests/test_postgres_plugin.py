"""The plugin as the core finds it: entry point, schemes, URL options, errors, lazy import."""

from __future__ import annotations

import subprocess
import sys

import pytest
from tornado_sessions_postgres import PostgresStore, plugin
from tornado_sessions_postgres.urls import DRIVER_OPTIONS, STORE_OPTIONS, parse_url

from tornado_sessions import ConfigurationError, create_store, get_plugin_manager
from tornado_sessions.registry import store_schemes


def test_the_entry_point_registers_the_plugin_module():
    assert get_plugin_manager().get_plugin("postgres") is plugin
    schemes = store_schemes()
    assert schemes["postgresql"] is plugin._FACTORY
    assert schemes["postgres"] is plugin._FACTORY


def test_create_store_builds_a_postgres_store_from_either_scheme():
    for scheme in ("postgresql", "postgres", "POSTGRES"):
        store = create_store(f"{scheme}://u:p@h:5/db?table=s&max_size=3", timeout=1.5)
        assert isinstance(store, PostgresStore)
        assert store.table == "s" and store.timeout == 1.5 and not store.enforces_timeout
        assert store.pool is None  # nothing connects before open()


def test_store_options_are_removed_before_asyncpg_sees_the_url():
    parsed = parse_url(
        "postgres://u:p%40ss@h:5432/app?table=web_sessions&create_table=off&min_size=0"
        "&max_size=4&purge_interval=60&purge_batch=500&sslmode=require&application_name=web"
    )
    assert parsed.dsn == "postgresql://u:p%40ss@h:5432/app?sslmode=require&application_name=web"
    assert (parsed.table, parsed.create_table, parsed.min_size, parsed.max_size) == (
        "web_sessions",
        False,
        0,
        4,
    )
    assert (parsed.purge_interval, parsed.purge_batch) == (60.0, 500)


def test_an_unknown_option_is_refused_when_the_store_is_built_naming_the_valid_ones():
    with pytest.raises(ConfigurationError) as caught:
        create_store("postgresql://h/db?tabel=x", timeout=1.0)
    message = str(caught.value)
    assert "'tabel'" in message
    for name in (*STORE_OPTIONS, *DRIVER_OPTIONS):
        assert name in message


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://h/db", "not 'mysql' URLs"),
        ("postgresql://h/db?table=x;drop", "letters, digits or _"),
        ("postgresql://h/db?table=1abc", "letters, digits or _"),
        ('postgresql://h/db?table=a"b', "letters, digits or _"),
        ("postgresql://h/db?table=" + "x" * 41, "letters, digits or _"),
        ("postgresql://h/db?create_table=maybe", "not a boolean"),
        ("postgresql://h/db?max_size=0", "at least 1"),
        ("postgresql://h/db?min_size=many", "not an integer"),
        ("postgresql://h/db?min_size=5&max_size=2", "above max_size"),
        ("postgresql://h/db?purge_interval=-1", "at least 0"),
    ],
)
def test_bad_urls_are_configuration_errors(url, message):
    with pytest.raises(ConfigurationError, match=message):
        PostgresStore.from_url(url, timeout=1.0)


def test_bad_arguments_are_configuration_errors():
    with pytest.raises(ConfigurationError, match=r"asyncpg\.Pool"):
        PostgresStore(object())
    with pytest.raises(ConfigurationError, match="letters, digits"):
        PostgresStore("postgresql://h/db", table="a b")
    with pytest.raises(ConfigurationError, match="timeout must be positive"):
        PostgresStore("postgresql://h/db", timeout=0)


def test_asyncpg_is_imported_only_when_a_store_opens():
    code = (
        "import sys, tornado_sessions_postgres\n"
        "from tornado_sessions import create_store\n"
        "create_store('postgresql://h/db', timeout=1.0)\n"
        "assert 'asyncpg' not in sys.modules, 'asyncpg imported too early'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_repr_names_the_table_but_no_credentials():
    store = PostgresStore.from_url("postgresql://user:secret@h/db?table=s", timeout=1.0)
    assert repr(store) == "<PostgresStore table='s'>"
