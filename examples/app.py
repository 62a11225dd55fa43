"""The tornado-sessions demo (``make demo``): log in, a basket, flash messages, log out.

Run it with ``python examples/app.py [--port 8000] [--store URL] [--https CERT KEY]``
and open http://127.0.0.1:8000/.  Pages are Tornado templates with plain CSS
(``examples/demo/``), no build step.  It shows the moves every app makes:

- **no session until one is needed**: an anonymous visitor who only looks
  around gets no session, no cookie and no store write (``save_uninitialized``
  stays ``False`` and nothing is put in the session), so a flood of anonymous
  requests cannot fill the store and evict logged-in users, and a store outage
  does not fail a first visit;
- **something that needs a session**: adding to the basket stores one, for an
  anonymous visitor too; emptying it ends that session again
  (``unset="destroy"``);
- **log in**: check the password, then ``await session.regenerate()`` so that an
  id planted before login is worthless after it (session fixation), then store
  the user; "remember me" picks the cookie's lifetime with ``set_max_age()``.
  A wrong password shows the form again with the error, and stores nothing;
- **flash messages**: ``session.flash()`` before a redirect, ``session.flashes()``
  on the page it leads to;
- **log out**: ``await session.destroy()`` deletes the record and clears the cookie;
- **your devices** (``/devices``): login sets ``session.owner = user``, so the page
  lists the user's sessions with ``sessions_of()`` and ends one (``end_session()``,
  always with ``owner=``) or all the others (``end_sessions(keep=session)``);
- every page shows what the session holds, when it expires on the server and
  how long the browser keeps its cookie.

The password check is a placeholder: any user name, password ``"secret"``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import ssl
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import tornado.web

from tornado_sessions import (
    Session,
    SessionMixin,
    SessionOptions,
    close_sessions,
    end_session,
    end_sessions,
    open_sessions,
    sessions_of,
)

HERE = Path(__file__).resolve().parent / "demo"
PASSWORD = "secret"  # the placeholder password, shown on the login form
REMEMBER_ME = 30 * 24 * 3600  # "remember me": the cookie (and the session) last 30 idle days
PORT = 8000
FRUIT = ("apple", "pear", "plum")


def demo_options(**overrides: Any) -> SessionOptions:
    """The demo's session options: the defaults, plus ``unset="destroy"``."""
    settings: dict[str, Any] = {
        "secret": os.environ.get("SESSION_SECRET", "demo-secret-" * 4),
        # A session a request leaves empty (an emptied basket) is deleted, cookie and all.
        "unset": "destroy",
        **overrides,
    }
    return SessionOptions(**settings)


class Page(SessionMixin, tornado.web.RequestHandler):
    """Base of the HTML pages: the session is loaded in ``prepare()``.

    Loading costs no store call for a visitor without a session cookie, and
    reading a session never writes one: only pages that put something in it do.
    """

    preload_session = True

    def get_current_user(self) -> str | None:
        user = self.session.get("user")
        return user if isinstance(user, str) else None

    def render_page(self, template: str, **values: Any) -> None:
        """Render ``template`` with the flashed messages and a view of the session."""
        session = self.session
        messages = session.flashes()  # read once: gone from the session after this page
        defaults = {"logged_out": False, "next_url": "/", "error": None, "typed_user": ""}
        self.render(
            template,
            messages=messages,
            panel=session_panel(session, self.settings["sessions"]),
            user=self.current_user,
            password_hint=PASSWORD,
            fruit=FRUIT,
            basket=list(session.get("basket", [])),
            **{**defaults, **values},
        )


class Home(Page):
    """The home page: the login form or the logged-in user, the basket, the session."""

    def get(self) -> None:
        if self.current_user:
            # A logged-in session changes on every page: this counter is written each time.
            self.session["visits"] = self.session.get("visits", 0) + 1
        self.render_page("home.html", logged_out=self.get_argument("logged_out", None) is not None)


class Login(Page):
    """GET: the login form (where ``@authenticated`` sends visitors).  POST: log in."""

    def get(self) -> None:
        self.render_page("login.html", next_url=self.next_url())

    async def post(self) -> None:
        user = self.get_argument("user", "").strip()
        if not user or self.get_argument("password", "") != PASSWORD:
            # Shown in the form; nothing is stored for a failed attempt.
            self.set_status(403)
            self.render_page(
                "login.html",
                next_url=self.next_url(),
                error="Wrong user name or password.",
                typed_user=user,
            )
            return
        session = self.session
        await session.regenerate()  # the defence against session fixation; the basket stays
        remember = self.get_argument("remember", None) is not None
        session["user"] = user
        session.owner = user  # indexes the session under the user: the "your devices" page
        session["remember_me"] = remember
        session["visits"] = 0
        session.set_max_age(REMEMBER_ME if remember else None)  # None: a browser-session cookie
        session.flash(f"Welcome, {user}. You are logged in.", "success")
        self.redirect(self.next_url())

    def next_url(self) -> str:
        """Where to go after login: a path on this site only (no open redirect)."""
        target = self.get_argument("next", "/")
        parts = urlsplit(target)
        if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
            return "/"
        return target


class Logout(Page):
    """Deletes the session and clears its cookie."""

    async def post(self) -> None:
        await self.session.destroy()
        # No flash here: it would store a new session for a visitor who just left.
        self.redirect("/?logged_out=1")


class Basket(Page):
    """Adds to the basket: something that needs a session, even without logging in."""

    def post(self) -> None:
        item = self.get_argument("item")
        if item not in FRUIT:
            raise tornado.web.HTTPError(400, reason="unknown item")
        self.session.setdefault("basket", []).append(item)
        self.session.flash(f"Added {item} to your basket.")
        self.redirect("/")


class EmptyBasket(Page):
    """Empties the basket; an anonymous session left empty is deleted (``unset="destroy"``)."""

    def post(self) -> None:
        self.session.pop("basket", None)
        if self.current_user:
            self.session.flash("Your basket is empty.")
        self.redirect("/")


class Members(Page):
    """A page for logged-in users only: ``@authenticated`` redirects to ``/login?next=...``."""

    @tornado.web.authenticated
    def get(self) -> None:
        self.render_page("members.html")


class Devices(Page):
    """ "Your devices": every session of the logged-in user, each other one with an end button."""

    @tornado.web.authenticated
    async def get(self) -> None:
        user = self.current_user
        assert user is not None  # @authenticated
        listed = await sessions_of(self.application, user, current=self.session)
        devices = [
            {
                "handle": info.handle,
                "current": info.current,
                "created": timestamp(info.created_at),
                "last_active": f"{duration(time.time() - info.last_active)} ago",
                "expires": timestamp(info.expires_at),
            }
            for info in listed
        ]
        self.render_page("devices.html", devices=devices)


class EndDevice(Page):
    """Ends one other session of the user, named by the handle the devices page sent."""

    @tornado.web.authenticated
    async def post(self) -> None:
        user = self.current_user
        assert user is not None  # @authenticated
        handle = self.get_argument("handle")
        if handle == self.session.handle:
            self.session.flash("This is the device you are using: log out instead.", "info")
        # owner=user: a handle comes from the browser, so only this user's sessions can end.
        elif await end_session(self.application, handle, owner=user):
            self.session.flash("That device is logged out.", "success")
        else:
            self.session.flash("No such device (it may have logged out already).", "info")
        self.redirect("/devices")


class EndOtherDevices(Page):
    """ "Log out everywhere else": ends every session of the user but this one."""

    @tornado.web.authenticated
    async def post(self) -> None:
        user = self.current_user
        assert user is not None  # @authenticated
        ended = await end_sessions(self.application, user, keep=self.session)
        self.session.flash(
            f"Logged out {ended} other device{'s' if ended != 1 else ''}.", "success"
        )
        self.redirect("/devices")


class Whoami(SessionMixin, tornado.web.RequestHandler):
    """JSON view of the session, for scripts and tests.  Reads only: writes nothing."""

    async def get(self) -> None:
        session = await self.get_session()
        self.write(
            {
                "user": session.get("user"),
                "visits": session.get("visits", 0),
                "basket": list(session.get("basket", [])),
                "new": session.is_new,
            }
        )


class Health(SessionMixin, tornado.web.RequestHandler):
    """Never asks for the session: costs no store call."""

    def get(self) -> None:
        self.write("ok")


def session_panel(session: Session, options: SessionOptions) -> dict[str, Any] | None:
    """What the page shows about the session: ``None`` when there is none."""
    if session.is_new:
        return None
    left = session.max_age or 0.0
    if session.get("user") is None:
        cookie = f"kept by the browser for {duration(options.max_age)} (the max_age option)"
    elif session.get("remember_me"):
        cookie = f'kept by the browser for {duration(REMEMBER_ME)} ("remember me")'
    else:
        cookie = "a browser-session cookie: deleted when the browser closes"
    return {
        "values": {key: session[key] for key in sorted(session)},
        "created": timestamp(session.created_at),
        "expires": timestamp(session.expires_at),
        "expires_in": duration(left),
        "cookie": cookie,
    }


def timestamp(when: float) -> str:
    """A Unix time as ``2026-12-06 14:05 UTC``."""
    moment = datetime.datetime.fromtimestamp(when, datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def duration(seconds: float) -> str:
    """``seconds`` in words, to the two largest units: ``13 days 23 hours``."""
    remaining = int(seconds)
    parts = []
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count} {unit}{'s' if count != 1 else ''}")
    return " ".join(parts[:2]) or "less than a second"


def make_app(options: SessionOptions | None = None, **settings: Any) -> tornado.web.Application:
    """The demo application; ``options`` default to :func:`demo_options` (memory store)."""
    return tornado.web.Application(
        [
            (r"/", Home),
            (r"/login", Login),
            (r"/logout", Logout),
            (r"/basket", Basket),
            (r"/basket/empty", EmptyBasket),
            (r"/members", Members),
            (r"/devices", Devices),
            (r"/devices/end", EndDevice),
            (r"/devices/end-others", EndOtherDevices),
            (r"/whoami", Whoami),
            (r"/health", Health),
        ],
        sessions=options or demo_options(),
        template_path=str(HERE / "templates"),
        static_path=str(HERE / "static"),
        login_url="/login",
        xsrf_cookies=True,
        **settings,
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=PORT)
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
    app = make_app(demo_options(store=args.store, name=args.cookie_name, cookie_secure=secure))
    await open_sessions(app)  # a wrong option or an unreachable store fails here, not later
    server = app.listen(args.port, args.address, ssl_options=ssl_context)
    scheme = "https" if args.https else "http"
    print(f"serving on {scheme}://{args.address}:{args.port}/", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        server.stop()
        await close_sessions(app)


if __name__ == "__main__":
    asyncio.run(main())
