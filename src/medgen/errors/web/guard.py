"""The eyeballing app's guards: Host check, form tokens, same-origin check, headers, the socket.

A state-changing request passes three independent checks: the Host header names the address
and port the app is bound to (DNS rebinding); the form carries the token of the browser's
session, an HMAC of a random session id kept in a SameSite=Strict cookie (cross-site request
forgery, whatever headers the request has); and Origin / Sec-Fetch-Site, where sent, say the
request comes from the app's own pages. Forms carry the token; the app's script posts nothing
by itself.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import ipaddress
import re
import secrets
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from medgen.exceptions import InputError

LOOPBACK_HOSTS = ("127.0.0.1", "localhost")
HTTP_PORT = 80  # the port of a Host header that names none
HOST_HEADER = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::([0-9]{1,5}))?")
SESSION_COOKIE = "medgen_session"
SESSION_ID = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)
TOKEN_FIELD = "csrf_token"  # the form field carrying the session's token
SECURITY_HEADERS = (
    (
        b"content-security-policy",
        b"default-src 'none'; img-src 'self'; style-src 'self'; "
        b"script-src 'self'; form-action 'self'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),  # no-referrer would make form posts send Origin: null
    (b"cache-control", b"no-store"),
)


# ---- the Host header ------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def allowed_hosts_for(host: str, port: int) -> list[str]:
    """The Host headers ('name:port') to accept when bound to host:port; any when exposed."""
    if not is_loopback(host):
        return ["*"]
    names = [host, "127.0.0.1"] if host == "localhost" else [bracketed(host), "localhost"]
    return [f"{name}:{port}" for name in names]


def bracketed(host: str) -> str:
    """An IPv6 address in brackets, as URLs and Host headers write it; other hosts as they are."""
    return f"[{host}]" if ":" in host else host


def host_and_port(value: str) -> tuple[str, int] | None:
    """(lower-case name, port) of a Host header; port 80 if it names none; None if malformed."""
    found = HOST_HEADER.fullmatch(value)
    if found is None:
        return None
    return found.group(1).lower(), int(found.group(2) or HTTP_PORT)


class HostGuard:
    """ASGI middleware refusing (400) a request whose Host is not an allowed name *and* port."""

    def __init__(self, app: ASGIApp, allowed_hosts: Sequence[str]) -> None:
        self.app = app
        self.any = "*" in allowed_hosts
        self.allowed = {host_and_port(h) for h in allowed_hosts} - {None}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        checked = scope["type"] in ("http", "websocket") and not self.any
        if checked and host_and_port(Headers(scope=scope).get("host", "")) not in self.allowed:
            await PlainTextResponse("Invalid host header", 400)(scope, receive, send)
            return
        await self.app(scope, receive, send)


# ---- form tokens ----------------------------------------------------------------------------


def new_form_key() -> bytes:
    """The key a server signs session ids with; new at each start, so old pages' forms expire."""
    return secrets.token_bytes(32)


def session_of(request: Request) -> str | None:
    """The session id of the request's cookie, or None if it has none (or a malformed one)."""
    session = request.cookies.get(SESSION_COOKIE, "")
    return session if SESSION_ID.fullmatch(session) else None


def new_session() -> str:
    """A fresh random session id."""
    return secrets.token_urlsafe(32)


def form_token(key: bytes, session: str) -> str:
    """The form token of `session`: its HMAC-SHA256 under the server's key (unforgeable)."""
    return hmac.new(key, session.encode(), hashlib.sha256).hexdigest()


def token_matches(key: bytes, session: str | None, token: str) -> bool:
    """True if `token` is the form token of `session` (constant-time compare)."""
    expected = form_token(key, session).encode() if session is not None else b""
    return bool(expected) and hmac.compare_digest(expected, token.encode())  # bytes: any text


def set_session_cookie(response: Response, session: str) -> None:
    """Give the browser its session id: script cannot read it, other sites cannot send it."""
    response.set_cookie(SESSION_COOKIE, session, path="/", httponly=True, samesite="strict")


def same_origin(request: Request) -> bool:
    """False for a cross-site form post (another site's page posting to this app)."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.headers.get("host", "")


# ---- response headers -----------------------------------------------------------------------


class SecurityHeaders:
    """ASGI middleware adding a strict content security policy and no-store to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


# ---- the listening socket -------------------------------------------------------------------


def listen_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to host:port and listening (InputError naming the address if not)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # not a live listener's port
        sock.bind((host, port))
        sock.listen()
    except OSError as err:
        sock.close()
        reason = err.strerror or str(err)
        if err.errno == errno.EADDRINUSE:
            reason = f"{reason.lower()} (another server? pick another --port)"
        raise InputError(f"{bracketed(host)}:{port}", f"cannot listen: {reason}") from None
    return sock
