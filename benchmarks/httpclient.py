"""A minimal HTTP/1.1 client over asyncio streams, for the load generator.

It sends ``GET`` requests on one kept-alive connection and reads responses
framed by ``Content-Length`` (what Tornado sends for a finished response),
reopening the connection if the server closes it.  It keeps only what the suite
needs: the status, the ``Set-Cookie`` values and the body.  A general client
(Tornado's ``AsyncHTTPClient``) spends several times more CPU per request, and
the load generator must stay far from being the bottleneck.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

__all__ = ["Connection", "Response"]


@dataclass
class Response:
    """What the suite reads from a response."""

    status: int
    body: bytes
    set_cookies: list[str] = field(default_factory=list)


class Connection:
    """One keep-alive connection to ``host:port``."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        """Connect (asyncio sets TCP_NODELAY on TCP sockets)."""
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None

    async def get(self, path: str, cookie: str | None = None) -> Response:
        """Send ``GET path`` with an optional ``Cookie`` header and read the response."""
        if self._writer is None:
            await self.open()
        reader, writer = self._reader, self._writer
        assert reader is not None and writer is not None
        head = f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
        if cookie:
            head += f"Cookie: {cookie}\r\n"
        writer.write(f"{head}\r\n".encode("latin-1"))
        raw = await reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = 0
        cookies: list[str] = []
        close = False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "set-cookie":
                cookies.append(value.strip())
            elif name == "connection" and value.strip().lower() == "close":
                close = True
        body = await reader.readexactly(length) if length else b""
        if close:
            self.close()
        return Response(status, body, cookies)
