"""The example store plugin of docs/writing-a-store.md: built, installed, found and tested.

``examples/store_plugin`` is copied to a scratch directory, built with pip and
installed with ``--target`` into another one, which is put on ``sys.path`` for
this module only: the running environment's site-packages are never touched.
Against that installed copy, the tests check that the core finds ``filestore://``
through the entry point, that the plugin's own test suite (the store contract)
passes, and that an application on ``filestore://`` logs a user in and out over
real HTTP and keeps the session across a restart.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
import tornado.httpclient
import tornado.web

from tests.test_docs_examples import serve
from tornado_sessions import SessionMixin, SessionOptions, close_sessions, create_store, registry

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "examples" / "store_plugin"
PACKAGE = "tornado_sessions_filestore"


def _build_flags() -> list[str]:
    """Build offline when setuptools can make wheels here; else let pip fetch the build tools."""
    if importlib.util.find_spec("setuptools") is None:
        return []
    if importlib.util.find_spec("wheel") is not None:
        return ["--no-build-isolation"]
    import setuptools

    major, minor = (int(part) for part in setuptools.__version__.split(".")[:2])
    return ["--no-build-isolation"] if (major, minor) >= (70, 1) else []


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The example plugin, pip-installed into a scratch directory that is on sys.path."""
    scratch = tmp_path_factory.mktemp("store_plugin")
    source = scratch / "source"
    target = scratch / "site"
    shutil.copytree(
        PLUGIN, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
    )
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--disable-pip-version-check",
        *_build_flags(),
        "--target",
        str(target),
        str(source),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, f"pip install failed:\n{result.stdout}\n{result.stderr}"
    sys.path.insert(0, str(target))
    importlib.invalidate_caches()
    registry._manager = None  # the plugin manager is built once; make it look again
    try:
        yield target
    finally:
        sys.path.remove(str(target))
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]
        importlib.invalidate_caches()
        registry._manager = None


def test_the_core_finds_the_installed_plugin(installed: Path, tmp_path: Path) -> None:
    store = create_store(f"filestore://{tmp_path}/sessions", timeout=2.0)
    assert type(store).__name__ == "FileStore"
    module = sys.modules[type(store).__module__]
    assert module.__file__ is not None and Path(module.__file__).is_relative_to(installed)
    assert not (tmp_path / "sessions").exists()  # the factory touches nothing; open() does
    asyncio.run(store.open())
    assert (tmp_path / "sessions").is_dir()


def test_the_plugin_passes_its_own_tests_and_the_store_contract(installed: Path) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(installed), env.get("PYTHONPATH")]))
    # Run from the repository root, so that the source tree is not importable and
    # the installed copy is what gets tested; the plugin's pyproject.toml configures pytest.
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "examples/store_plugin/tests"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout and "skipped" not in result.stdout, result.stdout


class Home(SessionMixin, tornado.web.RequestHandler):
    async def get(self) -> None:
        session = await self.get_session()
        self.write({"user": session.get("user")})


class Login(SessionMixin, tornado.web.RequestHandler):
    async def post(self) -> None:
        session = await self.get_session()
        await session.regenerate()
        session["user"] = self.get_argument("user")
        self.redirect("/")


class Logout(SessionMixin, tornado.web.RequestHandler):
    async def post(self) -> None:
        session = await self.get_session()
        await session.destroy()
        self.redirect("/")


def make_app(directory: Path) -> tornado.web.Application:
    return tornado.web.Application(
        [(r"/", Home), (r"/login", Login), (r"/logout", Logout)],
        sessions=SessionOptions(secret="s" * 32, store=f"filestore://{directory}"),
    )


class Browser:
    """Just enough of a browser: one cookie jar, no redirects followed."""

    def __init__(self) -> None:
        self.cookies: dict[str, str] = {}
        self.http = tornado.httpclient.AsyncHTTPClient(force_instance=True)

    async def fetch(
        self, port: int, path: str, method: str = "GET"
    ) -> tornado.httpclient.HTTPResponse:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        response = await self.http.fetch(
            f"http://127.0.0.1:{port}{path}",
            method=method,
            body="user=alice" if method == "POST" else None,
            headers=headers if self.cookies else None,
            follow_redirects=False,
            raise_error=False,
        )
        for header in response.headers.get_list("Set-Cookie"):
            for name, morsel in SimpleCookie(header).items():
                if morsel["max-age"] == "0":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return response


def test_login_and_logout_over_http_with_the_file_store(installed: Path, tmp_path: Path) -> None:
    directory = tmp_path / "sessions"

    async def scenario() -> None:
        browser = Browser()
        first = make_app(directory)
        served = await serve(first, "first app")
        try:
            response = await browser.fetch(served.port, "/login", "POST")
            assert response.code == 302 and "sessionid" in browser.cookies
            assert len(list(directory.glob("*.json"))) == 1  # one session, one file
            response = await browser.fetch(served.port, "/")
            assert response.body == b'{"user": "alice"}'
        finally:
            served.server.stop()
            await served.server.close_all_connections()
            await close_sessions(first)

        restarted = make_app(directory)  # a new process would see the same files
        served = await serve(restarted, "restarted app")
        try:
            response = await browser.fetch(served.port, "/")
            assert response.body == b'{"user": "alice"}'
            response = await browser.fetch(served.port, "/logout", "POST")
            assert response.code == 302 and "sessionid" not in browser.cookies
            assert list(directory.glob("*.json")) == []
            response = await browser.fetch(served.port, "/")
            assert response.body == b'{"user": null}'
        finally:
            served.server.stop()
            await served.server.close_all_connections()
            await close_sessions(restarted)
            browser.http.close()

    asyncio.run(scenario())
