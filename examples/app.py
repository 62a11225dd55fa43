"""A small login / counter / logout app: the example served by ``make demo``.

Run it with ``python examples/app.py [--port 8888] [--store URL] [--https CERT KEY]``.
It shows the three moves every app makes with sessions:

- log in: check the password, then ``await session.regenerate()`` so that an id
  planted before login is worthless after it (session fixation), then store the
  user;
- use the session: a per-visitor counter that survives reloads and restarts of
  the browser within ``max_age``; "remember me" picks the cookie's lifetime with
  ``set_max_age()``;
- log out: ``await session.destroy()`` deletes the record and clears the cookie.

The password check is a placeholder (any user, password ``"secret"``).
"""

from __future__ import annotations

import argparse
import asyncio
import html
import os
import ssl
from typing import Any

import tornado.web

from tornado_sessions import SessionMixin, SessionOptions

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>tornado-sessions demo</title></head>
<body>
<h1>tornado-sessions demo</h1>
{body}
</body></html>"""

LOGIN_FORM = """
<p>Not logged in. Visits this session: <span id="count">{count}</span></p>
<form method="post" action="/login">
  {xsrf}
  <label>User <input name="user" id="user" value="alice"></label>
  <label>Password <input name="password" id="password" type="password"></label>
  <label><input type="checkbox" name="remember" id="remember"> Remember me</label>
  <button id="login" type="submit">Log in</button>
</form>"""

WELCOME = """
<p>Logged in as <b id="who">{user}</b>. Visits this session: <span id="count">{count}</span></p>
<form method="post" action="/logout">
  {xsrf}<button id="logout" type="submit">Log out</button>
</form>"""

REMEMBER_ME = 30 * 24 * 3600


class Home(SessionMixin, tornado.web.RequestHandler):
    """Counts visits; shows the login form or the logged-in user."""

    async def get(self) -> None:
        session = await self.get_session()
        session["count"] = session.get("count", 0) + 1
        template = WELCOME if "user" in session else LOGIN_FORM
        body = template.format(
            user=html.escape(str(session.get("user", ""))),
            count=session["count"],
            xsrf=self.xsrf_form_html(),
        )
        self.write(PAGE.format(body=body))


class Login(SessionMixin, tornado.web.RequestHandler):
    """Checks the password, regenerates the session id, stores the user."""

    async def post(self) -> None:
        user = self.get_argument("user", "").strip()
        if not user or self.get_argument("password", "") != "secret":
            self.set_status(403)
            self.write(PAGE.format(body='<p id="error">Wrong user or password.</p>'))
            return
        session = await self.get_session()
        await session.regenerate()  # the defence against session fixation
        session["user"] = user
        session.set_max_age(REMEMBER_ME if self.get_argument("remember", None) else None)
        self.redirect("/")


class Logout(SessionMixin, tornado.web.RequestHandler):
    """Deletes the session and clears its cookie."""

    async def post(self) -> None:
        session = await self.get_session()
        await session.destroy()
        self.redirect("/")


class Whoami(SessionMixin, tornado.web.RequestHandler):
    """JSON view of the session, for scripts and tests."""

    async def get(self) -> None:
        session = await self.get_session()
        self.write(
            {"user": session.get("user"), "count": session.get("count", 0), "new": session.is_new}
        )


class Health(SessionMixin, tornado.web.RequestHandler):
    """Never asks for the session: costs no store call."""

    def get(self) -> None:
        self.write("ok")


def make_app(options: SessionOptions | None = None, **settings: Any) -> tornado.web.Application:
    """The demo application; ``options`` default to the memory store."""
    if options is None:
        options = SessionOptions(secret=os.environ.get("SESSION_SECRET", "demo-secret-" * 4))
    return tornado.web.Application(
        [
            (r"/", Home),
            (r"/login", Login),
            (r"/logout", Logout),
            (r"/whoami", Whoami),
            (r"/health", Health),
        ],
        sessions=options,
        xsrf_cookies=True,
        **settings,
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8888)
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--store", default="memory://", help="a store URL, e.g. redis://...")
    parser.add_argument(
        "--https",
        nargs=2,
        metavar=("CERT", "KEY"),
        help="serve https with this certificate and key",
    )
    parser.add_argument("--cookie-name", default="sessionid")
    args = parser.parse_args()
    secure: bool | str = "auto"
    ssl_context = None
    if args.https:
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(*args.https)
        secure = True
    options = SessionOptions(
        secret=os.environ.get("SESSION_SECRET", "demo-secret-" * 4),
        store=args.store,
        name=args.cookie_name,
        cookie_secure=secure,  # type: ignore[arg-type]
    )
    app = make_app(options)
    app.listen(args.port, args.address, ssl_options=ssl_context)
    scheme = "https" if args.https else "http"
    print(f"serving on {scheme}://{args.address}:{args.port}/", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
