"""The example app (``make demo``): log in, count, log out, as a browser-like client would."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

import pytest
import tornado.httpclient
import tornado.web

from examples.app import make_app
from tornado_sessions import SessionOptions


@pytest.fixture
def app() -> tornado.web.Application:
    return make_app(SessionOptions(secret="e" * 32))


class Browser:
    """Keeps every cookie it is given (the session's and the XSRF one)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.jar: dict[str, str] = {}
        self.http = tornado.httpclient.AsyncHTTPClient()

    async def fetch(self, path: str, form: dict[str, str] | None = None) -> Any:
        headers = {}
        if self.jar:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.jar.items())
        body = None
        if form is not None:
            body = urlencode({**form, "_xsrf": self.jar.get("_xsrf", "")})
        response = await self.http.fetch(
            self.base_url + path,
            method="POST" if form is not None else "GET",
            body=body,
            headers=headers,
            raise_error=False,
            follow_redirects=False,
        )
        for header in response.headers.get_list("Set-Cookie"):
            name, value = header.split(";")[0].split("=", 1)
            if "Max-Age=0" in header:
                self.jar.pop(name, None)
            else:
                self.jar[name] = value
        return response


def count(response: Any) -> int:
    match = re.search(rb'id="count">(\d+)<', response.body)
    assert match, response.body
    return int(match.group(1))


@pytest.mark.gen_test
async def test_log_in_count_log_out(http_server: Any, base_url: str) -> None:
    browser = Browser(base_url)
    assert count(await browser.fetch("/")) == 1
    assert count(await browser.fetch("/")) == 2
    anonymous_id = browser.jar["sessionid"]

    response = await browser.fetch("/login", {"user": "alice", "password": "secret"})
    assert response.code == 302
    assert browser.jar["sessionid"] != anonymous_id  # regenerated on login
    page = await browser.fetch("/")
    assert b'id="who">alice<' in page.body and count(page) == 3  # data kept across login

    response = await browser.fetch("/logout", {})
    assert response.code == 302 and "sessionid" not in browser.jar
    page = await browser.fetch("/")
    assert b"Not logged in" in page.body and count(page) == 1


@pytest.mark.gen_test
async def test_wrong_password_is_refused(http_server: Any, base_url: str) -> None:
    browser = Browser(base_url)
    await browser.fetch("/")
    response = await browser.fetch("/login", {"user": "alice", "password": "nope"})
    assert response.code == 403
    assert b"Not logged in" in (await browser.fetch("/")).body


@pytest.mark.gen_test
async def test_remember_me_sets_a_long_lived_cookie_and_default_is_browser_session(
    http_server: Any, base_url: str
) -> None:
    browser = Browser(base_url)
    await browser.fetch("/")
    response = await browser.fetch("/login", {"user": "a", "password": "secret", "remember": "on"})
    (cookie,) = [h for h in response.headers.get_list("Set-Cookie") if h.startswith("sessionid=")]
    assert "Max-Age=2591999" in cookie or "Max-Age=2592000" in cookie
    other = Browser(base_url)
    await other.fetch("/")
    response = await other.fetch("/login", {"user": "b", "password": "secret"})
    (cookie,) = [h for h in response.headers.get_list("Set-Cookie") if h.startswith("sessionid=")]
    assert "Max-Age" not in cookie


@pytest.mark.gen_test
async def test_health_check_never_touches_the_session(http_server: Any, base_url: str) -> None:
    response = await Browser(base_url).fetch("/health")
    assert response.body == b"ok"
    assert response.headers.get_list("Set-Cookie") == []
