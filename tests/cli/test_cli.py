"""The ``tornado-sessions`` console script against real stores: results, exit codes, secrets."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

import tornado_sessions
from tornado_sessions import registry
from tornado_sessions.cli import ExitCode

REPO = Path(__file__).resolve().parents[2]


def parsed(stdout: str) -> dict[str, Any]:
    lines = stdout.strip().splitlines()
    assert len(lines) == 1, f"--json prints exactly one object, got {stdout!r}"
    result: dict[str, Any] = json.loads(lines[0])
    return result


# -- the script itself -----------------------------------------------------------


def test_version_of_the_script_and_of_the_distribution_agree(run_cli: Any) -> None:
    ran = run_cli("--version")
    assert ran.code == 0
    assert ran.stdout.strip() == f"tornado-sessions {tornado_sessions.__version__}"
    assert metadata.version("tornado-sessions") == tornado_sessions.__version__


def test_python_dash_m_runs_the_same_command_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tornado_sessions", "check", "memory://", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert parsed(done.stdout)["store"] == "MemoryStore"


def test_usage_errors_exit_2(run_cli: Any) -> None:
    assert run_cli().code == ExitCode.USAGE
    assert run_cli("count", "--timeout", "soon").code == ExitCode.USAGE
    ran = run_cli("count")  # no URL and no $TORNADO_SESSIONS_STORE
    assert ran.code == ExitCode.USAGE
    assert "TORNADO_SESSIONS_STORE" in ran.stderr


def test_exit_code_table_in_the_docs_matches_the_code() -> None:
    page = (REPO / "docs" / "operating.md").read_text(encoding="utf-8")
    documented = {
        int(code): name
        for code, name in re.findall(r"^\| (\d+) \| `(\w+)` \|", page, flags=re.MULTILINE)
    }
    assert documented == {code.value: code.name for code in ExitCode}


# -- plugins ---------------------------------------------------------------------------


def test_plugins_lists_each_scheme_and_serializer_with_its_distribution(run_cli: Any) -> None:
    ran = run_cli("plugins", "--json")
    assert ran.code == 0, ran.stderr
    found = parsed(ran.stdout)
    stores = {entry["scheme"]: entry["provided_by"] for entry in found["stores"]}
    core = f"tornado-sessions {tornado_sessions.__version__}"
    redis = f"tornado-sessions-redis {metadata.version('tornado-sessions-redis')}"
    assert stores["memory"] == [core]
    assert stores["redis"] == stores["rediss"] == [redis]
    serializers = {entry["name"]: entry["provided_by"] for entry in found["serializers"]}
    assert serializers == {"json": [core], "msgpack": [core]}
    postgres = f"tornado-sessions-postgres {metadata.version('tornado-sessions-postgres')}"
    assert stores["postgresql"] == stores["postgres"] == [postgres]
    # Every scheme of this project's plugins is either installed or named with its package.
    missing = {entry["scheme"]: entry["install"] for entry in found["not_installed"]}
    for scheme, package in registry.KNOWN_PLUGINS.items():
        assert scheme in stores or missing.get(scheme) == package, scheme

    text = run_cli("plugins")
    assert text.code == 0
    assert re.search(r"^  redis://\s+tornado-sessions-redis ", text.stdout, re.MULTILINE)


# -- check -----------------------------------------------------------------------------


def test_check_reports_the_round_trip_of_a_reachable_store(run_cli: Any, redis_url: str) -> None:
    ran = run_cli("check", redis_url, "--json")
    assert ran.code == 0, ran.stderr
    result = parsed(ran.stdout)
    assert result["ok"] is True
    assert result["store"] == "RedisStore"
    assert result["round_trip_ms"] > 0
    assert {"count", "clear", "keys"} <= set(result["capabilities"])
    text = run_cli("check", redis_url)
    assert text.code == 0
    assert text.stdout.startswith(f"ok: {redis_url} (RedisStore) answered in ")


def test_check_reads_the_url_from_the_environment(run_cli: Any, redis_url: str) -> None:
    ran = run_cli("check", "--json", env={"TORNADO_SESSIONS_STORE": redis_url})
    assert ran.code == 0, ran.stderr
    assert parsed(ran.stdout)["url"] == redis_url


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    "url",
    [
        "redis://:hunter2-secret@127.0.0.1:{port}/0",
        "redis://127.0.0.1:{port}/0?password=hunter2-secret",
        "redis://user:hunter2%2Dsecret@127.0.0.1:{port}/0",
    ],
)
def test_an_unreachable_store_exits_3_and_never_prints_its_password(run_cli: Any, url: str) -> None:
    url = url.format(port=_closed_port())
    for args in (("check", url), ("check", url, "--json"), ("count", url, "--json")):
        ran = run_cli(*args)
        assert ran.code == ExitCode.UNREACHABLE, ran.output
        assert "unreachable" in ran.stderr
        assert "hunter2" not in ran.output
        assert "***" in ran.stderr
    result = parsed(run_cli("check", url, "--json").stdout)
    assert result["ok"] is False
    assert result["exit_code"] == 3


def test_a_url_no_plugin_serves_exits_4_with_the_nearest_scheme(run_cli: Any) -> None:
    ran = run_cli("check", "reddis://:hunter2@127.0.0.1/0")
    assert ran.code == ExitCode.CONFIGURATION
    assert "did you mean redis://?" in ran.stderr
    assert "hunter2" not in ran.output
    option = run_cli("check", "memory://?max_entry=5")
    assert option.code == ExitCode.CONFIGURATION
    assert "max_entries" in option.stderr


# -- count, purge, clear -----------------------------------------------------------------


def test_count_counts_the_live_sessions_in_redis(run_cli: Any, redis_url: str, seed: Any) -> None:
    seed(redis_url, 3)
    seed(redis_url, 2, ttl=0.001)  # already expired: Redis dropped them
    ran = run_cli("count", redis_url, "--json")
    assert ran.code == 0, ran.stderr
    assert parsed(ran.stdout) == {"ok": True, "sessions": 3, "url": redis_url}
    assert run_cli("count", redis_url).stdout.strip() == f"3 live sessions in {redis_url}"


def test_count_on_memory_is_the_commands_own_empty_store(run_cli: Any) -> None:
    ran = run_cli("count", "memory://", "--json")
    assert ran.code == 0
    assert parsed(ran.stdout)["sessions"] == 0


def test_purge_runs_on_a_store_that_implements_it(run_cli: Any) -> None:
    ran = run_cli("purge", "memory://", "--json", "--progress")
    assert ran.code == 0, ran.stderr
    assert parsed(ran.stdout)["purged"] == 0
    assert re.search(r"^purge: done, \d+\.\ds$", ran.stderr, re.MULTILINE)


def test_purge_on_a_store_with_native_expiry_exits_5_saying_why(
    run_cli: Any, redis_url: str
) -> None:
    ran = run_cli("purge", redis_url)
    assert ran.code == ExitCode.UNSUPPORTED
    assert "RedisStore does not implement purge_expired()" in ran.stderr
    assert "nothing to purge" in ran.stderr


def test_clear_asks_first_and_deletes_nothing_without_yes(
    run_cli: Any, redis_url: str, seed: Any
) -> None:
    seed(redis_url, 4)
    for answer in ("no\n", "", "y\n"):
        ran = run_cli("clear", redis_url, stdin=answer)
        assert ran.code == ExitCode.NOT_CONFIRMED, ran.output
        assert "This deletes all 4 live sessions" in ran.stderr
        assert "nothing was deleted" in ran.stderr
    assert parsed(run_cli("count", redis_url, "--json").stdout)["sessions"] == 4


def test_clear_deletes_every_session_when_confirmed(
    run_cli: Any, redis_url: str, seed: Any
) -> None:
    seed(redis_url, 4)
    ran = run_cli("clear", redis_url, stdin="yes\n")
    assert ran.code == 0, ran.output
    assert ran.stdout.strip() == f"cleared 4 sessions from {redis_url}"
    assert parsed(run_cli("count", redis_url, "--json").stdout)["sessions"] == 0

    seed(redis_url, 2)
    quiet = run_cli("clear", redis_url, "--yes", "--json", "--progress")
    assert quiet.code == 0, quiet.output
    assert parsed(quiet.stdout)["cleared"] == 2
    assert "Type 'yes'" not in quiet.stderr
    assert re.search(r"^clear: done, \d+\.\ds$", quiet.stderr, re.MULTILINE)


def test_clear_leaves_other_prefixes_alone(
    run_cli: Any, redis_url: str, redis_server: Any, seed: Any
) -> None:
    neighbour = f"{redis_server.url}?prefix=neighbour-{redis_url[-13:]}"
    seed(redis_url, 2)
    seed(neighbour, 3)
    assert run_cli("clear", redis_url, "--yes").code == 0
    assert parsed(run_cli("count", neighbour, "--json").stdout)["sessions"] == 3


# -- Ctrl-C ---------------------------------------------------------------------------------


def test_ctrl_c_exits_130(cli_script: Path) -> None:
    """SIGINT while the store does not answer (a socket that accepts and never replies)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(30)
        port = listener.getsockname()[1]
        with subprocess.Popen(
            [str(cli_script), "check", f"redis://127.0.0.1:{port}/0", "--timeout", "60"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as process:
            try:
                connection, _ = listener.accept()  # the command is now waiting for the store
                with connection:
                    process.send_signal(signal.SIGINT)
                    _, stderr = process.communicate(timeout=30)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
    assert process.returncode == ExitCode.INTERRUPTED, stderr
    assert "interrupted" in stderr
