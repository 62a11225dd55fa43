"""Fixtures of the browser suite: Debian's Chromium through Playwright, and the servers it visits.

This module owns:

- the launch policy: Chromium comes from Debian (``/usr/bin/chromium``, or the path in
  ``TORNADO_SESSIONS_CHROMIUM``) and is driven by Playwright for Python, which never
  downloads a browser.  When the browser cannot start (no ``playwright`` package, no
  Chromium, a launch error) every browser test **fails** under CI (``CI`` set, as
  ``.ci/run`` does) and is **skipped** with the reason everywhere else;
- the example app (``examples/app.py``), served in-process on a free port of 127.0.0.1
  by a thread with its own event loop, with a recorder of what the server received
  (method, path, ``Cookie``, ``Origin``, ``Sec-Fetch-Site``), and a second origin on
  ``localhost`` (a different site) whose page posts to and links to the app;
- the example app run as a script over https (``--https CERT KEY``), with a throwaway
  certificate made here by ``openssl`` and trusted by one browser through its SPKI hash;
- browser contexts, persistent profiles that can be closed and relaunched (a real
  browser restart), screenshots under ``test-artifacts/browser/`` (git-ignored), and a
  screenshot of the page of any test that fails.

Playwright's sync API is used throughout; the servers run in their own threads or
processes, so no asyncio loop is running in the test's thread.  The Playwright driver,
the shared browser and the servers are package-scoped (this folder is a package): they
are stopped as soon as the last browser test is done, before the rest of the run.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import html
import http.client
import importlib.util
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import pytest
import tornado.httpserver
import tornado.netutil
import tornado.web

from tornado_sessions.testing.servers import free_port, unavailable

try:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright
except ImportError:  # reported through the launch policy below
    sync_playwright = None  # type: ignore[assignment]
    PlaywrightError = Exception  # type: ignore[assignment,misc]

T = TypeVar("T")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
EXAMPLE_APP = ROOT / "examples" / "app.py"
ARTIFACTS = ROOT / "test-artifacts" / "browser"

#: Flags for Chromium as root on a machine with no network but loopback.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
#: Playwright waits at most this long (ms) for a page event before the test fails.
TIMEOUT_MS = 10_000

_FAILED_CALL = pytest.StashKey[bool]()


# -- launch policy ----------------------------------------------------------------


def browser_unavailable(reason: str) -> NoReturn:
    """Fail (under CI) or skip (elsewhere) the browser test that needed the browser."""
    unavailable(reason)


def start_chromium(launch: Callable[[], T]) -> T:
    """Run ``launch``; a browser that will not start goes through the policy above."""
    try:
        return launch()
    except PlaywrightError as exc:
        message = " ".join(str(exc).split())
        browser_unavailable(f"Chromium did not start: {message[:500]}")


def chromium_path() -> str:
    """Debian's Chromium, or the executable named by ``TORNADO_SESSIONS_CHROMIUM``."""
    configured = os.environ.get("TORNADO_SESSIONS_CHROMIUM")
    path = configured or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.access(path, os.X_OK):
        browser_unavailable(f"no Chromium executable at {path} (apt-get install chromium)")
    return path


@pytest.fixture(scope="package")
def playwright_driver() -> Iterator[Any]:
    """Playwright's driver for this package's tests only (it never downloads a browser).

    While it is alive, Playwright's sync API marks its event loop as running in this
    thread, which would stop every later test that runs a loop of its own; so it is
    package-scoped and stopped as soon as the last browser test is done.
    """
    if sync_playwright is None:
        browser_unavailable("the 'playwright' package is not installed (pip install playwright)")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def chromium_executable() -> str:
    return chromium_path()


@pytest.fixture
def launch_chromium(playwright_driver: Any, chromium_executable: str) -> Iterator[Any]:
    """``launch(*extra_args, executable=None)``: a browser of its own, closed after the test."""
    browsers: list[Any] = []

    def launch(*extra_args: str, executable: str | None = None) -> Any:
        browser = start_chromium(
            lambda: playwright_driver.chromium.launch(
                executable_path=executable or chromium_executable,
                args=[*CHROMIUM_ARGS, *extra_args],
                headless=True,
            )
        )
        browsers.append(browser)
        return browser

    yield launch
    for browser in browsers:
        browser.close()


@pytest.fixture(scope="package")
def browser(playwright_driver: Any, chromium_executable: str) -> Iterator[Any]:
    """One headless Chromium shared by this package's tests; each gets a fresh context."""
    shared = start_chromium(
        lambda: playwright_driver.chromium.launch(
            executable_path=chromium_executable, args=list(CHROMIUM_ARGS), headless=True
        )
    )
    yield shared
    shared.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    """A fresh browser context: an empty cookie jar, like a new incognito window."""
    ctx = browser.new_context()
    ctx.set_default_timeout(TIMEOUT_MS)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A page of ``context``; screenshotted to ``test-artifacts/browser/failures/`` on failure."""
    tab = context.new_page()
    yield tab
    if request.node.stash.get(_FAILED_CALL, False):
        _save_failure_screenshot(tab, request.node.name)


class Profile:
    """A Chromium user-data-dir that can be launched, closed and launched again.

    Closing the persistent context shuts Chromium down the ordinary way, so it writes
    its cookie database as a real browser does on exit: persistent cookies are kept,
    session cookies are not.
    """

    def __init__(self, driver: Any, executable: str, user_data_dir: Path) -> None:
        self._driver = driver
        self._executable = executable
        self.user_data_dir = user_data_dir
        self.context: Any = None

    def start(self) -> Any:
        """Launch Chromium on this profile; returns the persistent context."""
        assert self.context is None, "the profile is already open"
        self.context = start_chromium(
            lambda: self._driver.chromium.launch_persistent_context(
                str(self.user_data_dir),
                executable_path=self._executable,
                args=list(CHROMIUM_ARGS),
                headless=True,
            )
        )
        self.context.set_default_timeout(TIMEOUT_MS)
        return self.context

    def page(self) -> Any:
        """The open window's first tab (a persistent context starts with one)."""
        assert self.context is not None
        pages = self.context.pages
        return pages[0] if pages else self.context.new_page()

    def close(self) -> None:
        if self.context is not None:
            context, self.context = self.context, None
            context.close()

    def restart(self) -> Any:
        """Quit the browser and start it again on the same profile."""
        self.close()
        return self.start()


@pytest.fixture
def profile(playwright_driver: Any, chromium_executable: str, tmp_path: Path) -> Iterator[Profile]:
    """A persistent Chromium profile in a temporary directory; see :class:`Profile`."""
    prof = Profile(playwright_driver, chromium_executable, tmp_path / "chromium-profile")
    yield prof
    prof.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call" and report.failed:
        item.stash[_FAILED_CALL] = True
    return report


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives a real Chromium (tests/browser)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.browser)


# -- screenshots ------------------------------------------------------------------


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")


@pytest.fixture(scope="package", autouse=True)
def _no_stale_failure_screenshots() -> None:
    """Failure screenshots are of this run only."""
    shutil.rmtree(ARTIFACTS / "failures", ignore_errors=True)


def _save_failure_screenshot(tab: Any, test_name: str) -> None:
    folder = ARTIFACTS / "failures"
    folder.mkdir(parents=True, exist_ok=True)
    # The page may be gone; the test's own failure is what matters.
    with contextlib.suppress(PlaywrightError):
        tab.screenshot(path=str(folder / f"{_safe_name(test_name)}.png"), full_page=True)


@pytest.fixture
def screenshot() -> Callable[[Any, str, str], Path]:
    """``screenshot(page, folder, step)`` saves ``test-artifacts/browser/<folder>/<step>.png``."""

    def save(tab: Any, folder: str, step: str) -> Path:
        directory = ARTIFACTS / _safe_name(folder)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{_safe_name(step)}.png"
        path.unlink(missing_ok=True)
        tab.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 0, f"empty screenshot {path}"
        return path

    return save


# -- talking to the app without a browser -------------------------------------------


@dataclass(frozen=True)
class Replay:
    """The answer to a raw ``GET /whoami`` (``user``, ``visits``, ``basket``, ``new``) and any
    ``Set-Cookie`` headers."""

    status: int
    body: dict[str, Any]
    set_cookies: list[str]


@dataclass(frozen=True)
class Received:
    """One request as the server received it."""

    method: str
    path: str
    cookie_header: str
    origin: str | None
    fetch_site: str | None

    def cookies(self) -> dict[str, str]:
        """The request's cookies by name (a name sent twice keeps its first value)."""
        jar: dict[str, str] = {}
        for chunk in self.cookie_header.split(";"):
            name, eq, value = chunk.strip().partition("=")
            if eq:
                jar.setdefault(name, value)
        return jar


class Recorder:
    """Every request the app finished, recorded by Tornado's ``log_function`` setting."""

    def __init__(self) -> None:
        self._items: list[Received] = []
        self._changed = threading.Condition()

    def __call__(self, handler: tornado.web.RequestHandler) -> None:
        request = handler.request
        entry = Received(
            request.method or "",
            request.path,
            ", ".join(request.headers.get_list("Cookie")),
            request.headers.get("Origin"),
            request.headers.get("Sec-Fetch-Site"),
        )
        with self._changed:
            self._items.append(entry)
            self._changed.notify_all()

    def mark(self) -> int:
        """A position: :meth:`wait_for` looks only at requests received after it."""
        with self._changed:
            return len(self._items)

    def wait_for(self, method: str, path: str, since: int, timeout: float = 5.0) -> Received:
        """The first ``method path`` request received after ``since`` (waits for it)."""

        def find() -> Received | None:
            for entry in self._items[since:]:
                if entry.method == method and entry.path == path:
                    return entry
            return None

        with self._changed:
            found = self._changed.wait_for(find, timeout)
        assert found is not None, f"the server never received {method} {path}"
        return found


class AppEndpoint:
    """An example app reachable at ``base_url``, with its cookie name."""

    def __init__(
        self, base_url: str, cookie_name: str, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.base_url = base_url
        self.cookie_name = cookie_name
        self.host = base_url.split("://", 1)[1].split(":", 1)[0]
        self._ssl_context = ssl_context

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def browser_cookie(self, context: Any) -> dict[str, Any] | None:
        """The session cookie the browser holds for this app, as the browser stores it."""
        found = [c for c in context.cookies(self.base_url) if c["name"] == self.cookie_name]
        assert len(found) <= 1, f"the browser holds {len(found)} session cookies: {found}"
        return found[0] if found else None

    @staticmethod
    def id_of(cookie: dict[str, Any] | str) -> str:
        """The session id inside a signed cookie value (``<id>.<signature>``)."""
        value = cookie if isinstance(cookie, str) else cookie["value"]
        return value.rpartition(".")[0]

    def log_in(
        self, page: Any, *, user: str = "alice", remember: bool = False, navigate: bool = True
    ) -> None:
        """Fill and submit the login form of ``/`` (opened first unless ``navigate=False``)."""
        if navigate:
            page.goto(self.url("/"))
        page.fill("#user", user)
        page.fill("#password", "secret")
        if remember:
            page.check("#remember")
        page.click("#login")
        page.locator("#who").wait_for()
        assert page.text_content("#who") == user

    def add_to_basket(self, page: Any, item: str = "pear", *, navigate: bool = True) -> None:
        """Press "Add <item>" on ``/``: the demo's way to start a session without logging in."""
        if navigate:
            page.goto(self.url("/"))
        page.click(f"#add-{item}")
        page.locator("#basket").wait_for()
        assert item in (page.text_content("#basket") or "")

    def replay(self, cookie_value: str | None, path: str = "/whoami") -> Replay:
        """``GET path`` sent by hand (no browser), carrying ``cookie_value`` if given."""
        port = int(self.base_url.rsplit(":", 1)[1])
        connection: http.client.HTTPConnection
        if self._ssl_context is not None:
            connection = http.client.HTTPSConnection(
                self.host, port, timeout=5, context=self._ssl_context
            )
        else:
            connection = http.client.HTTPConnection(self.host, port, timeout=5)
        headers = {"Cookie": f"{self.cookie_name}={cookie_value}"} if cookie_value else {}
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            body = response.read()
            return Replay(
                response.status,
                json.loads(body) if path == "/whoami" else {},
                response.headers.get_all("Set-Cookie") or [],
            )
        finally:
            connection.close()


# -- the example app, in-process ----------------------------------------------------


def load_example_app() -> Any:
    """``examples/app.py`` as a module (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location("tornado_sessions_example_app", EXAMPLE_APP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class CrossSitePage(tornado.web.RequestHandler):
    """A page of another site: a form that POSTs to the app, and a plain link to it."""

    def get(self) -> None:
        target = html.escape(self.get_argument("target"))
        self.write(
            "<!doctype html><title>another site</title>"
            f'<form id="cross-post" method="post" action="{target}/logout">'
            '<input type="hidden" name="_xsrf" value="forged">'
            '<button id="post" type="submit">POST to the app</button></form>'
            f'<p><a id="link" href="{target}/whoami">a link to the app</a></p>'
        )


class ServerThread:
    """Tornado applications served on 127.0.0.1 by a thread running its own event loop."""

    def __init__(self, apps: dict[str, tornado.web.Application]) -> None:
        self._apps = apps
        self.ports: dict[str, int] = {}
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="browser-suite-servers")

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the test servers did not start within 10 s")
        if self._error is not None:
            raise RuntimeError("the test servers failed to start") from self._error

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        servers: list[tornado.httpserver.HTTPServer] = []
        try:
            for name, app in self._apps.items():
                sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
                server = tornado.httpserver.HTTPServer(app)
                server.add_sockets(sockets)
                servers.append(server)
                self.ports[name] = sockets[0].getsockname()[1]
        except Exception as exc:
            self._error = exc
        self._ready.set()
        if self._error is None:
            await self._stop.wait()
        for server in servers:
            server.stop()
            await server.close_all_connections()


class DemoServer(AppEndpoint):
    """The example app on http://127.0.0.1, plus a page of another site on http://localhost."""

    def __init__(self, base_url: str, other_site_url: str, recorder: Recorder) -> None:
        super().__init__(base_url, "sessionid")
        #: A page on ``localhost``: a different site from ``127.0.0.1`` for SameSite.
        self.other_site_page = f"{other_site_url}/?target={base_url}"
        self.received = recorder


@pytest.fixture(scope="package")
def demo_server() -> Iterator[DemoServer]:
    """``make_app()`` of examples/app.py (memory store, xsrf on) served in-process."""
    recorder = Recorder()
    example = load_example_app()
    servers = ServerThread(
        {
            "app": example.make_app(log_function=recorder),
            "other": tornado.web.Application([(r"/", CrossSitePage)]),
        }
    )
    servers.start()
    try:
        yield DemoServer(
            f"http://127.0.0.1:{servers.ports['app']}",
            f"http://localhost:{servers.ports['other']}",
            recorder,
        )
    finally:
        servers.stop()


@pytest.fixture
def serve_example() -> Iterator[Callable[..., AppEndpoint]]:
    """``serve_example(options)``: examples/app.py's ``make_app(options)`` for this test only."""
    example = load_example_app()
    threads: list[ServerThread] = []

    def serve(options: Any) -> AppEndpoint:
        servers = ServerThread({"app": example.make_app(options)})
        threads.append(servers)
        servers.start()
        return AppEndpoint(f"http://127.0.0.1:{servers.ports['app']}", options.name)

    yield serve
    for servers in threads:
        servers.stop()


# -- the example app as a script, over https ----------------------------------------


@dataclass(frozen=True)
class Certificate:
    """A throwaway self-signed certificate for 127.0.0.1 and its SPKI pin."""

    cert: Path
    key: Path
    spki_sha256: str  # base64 of SHA-256 over the DER SubjectPublicKeyInfo


def make_certificate(directory: Path) -> Certificate:
    """A P-256 certificate for 127.0.0.1/localhost, valid two days, made with openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        browser_unavailable("the https test needs the openssl command (apt-get install openssl)")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    spki = subprocess.run(
        [openssl, "pkey", "-in", str(key), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    return Certificate(cert, key, base64.b64encode(hashlib.sha256(spki).digest()).decode())


class ScriptServer(AppEndpoint):
    """``python examples/app.py`` in a subprocess, polled until ``/health`` answers."""

    def __init__(self, args: list[str], cookie_name: str, certificate: Certificate) -> None:
        # Trusts exactly the throwaway certificate, for the readiness poll and replays.
        context = ssl.create_default_context(cafile=str(certificate.cert))
        super().__init__("https://127.0.0.1:0", cookie_name, context)  # port chosen in start()
        self.certificate = certificate
        self._args = args
        self._process: subprocess.Popen[bytes] | None = None
        self._log_path = ARTIFACTS / "https-server.log"

    def start(self, attempts: int = 3) -> None:
        """Start on a free port (another if that one is taken meanwhile)."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        )
        for _ in range(attempts):
            port = free_port()
            self.base_url = f"https://127.0.0.1:{port}"
            with self._log_path.open("wb") as log:
                self._process = subprocess.Popen(
                    [sys.executable, str(EXAMPLE_APP), "--port", str(port), *self._args],
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            if self._wait_ready(port):
                return
            self.stop()
        raise RuntimeError(
            f"examples/app.py did not start; its output:\n{self._log_path.read_text()}"
        )

    def _wait_ready(self, port: int, deadline_s: float = 15.0) -> bool:
        assert self._process is not None
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            connection = http.client.HTTPSConnection(
                "127.0.0.1", port, timeout=1, context=self._ssl_context
            )
            try:
                connection.request("GET", "/health")
                if connection.getresponse().status == 200:
                    return True
            except (OSError, http.client.HTTPException):
                time.sleep(0.05)  # polling interval while the process starts
            finally:
                connection.close()
        return False

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@pytest.fixture(scope="package")
def https_host_cookie_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScriptServer]:
    """examples/app.py run as ``--https CERT KEY --cookie-name __Host-sessionid``."""
    certificate = make_certificate(tmp_path_factory.mktemp("tls"))
    name = "__Host-sessionid"
    server = ScriptServer(
        ["--https", str(certificate.cert), str(certificate.key), "--cookie-name", name],
        name,
        certificate,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()
