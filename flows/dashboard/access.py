"""Who may use the dashboard: the bind policy and the token check.

Bound to a loopback address, only this machine can connect, and a Host-header check stops
web pages from reaching it through DNS rebinding. Bound anywhere else, every request
(pages and static files alike) must carry the token: an `Authorization: Bearer` header, a
`thresher_token` cookie, or once a `?token=` in the URL, which sets the cookie and
redirects to the same page without it (so the token does not stay in the address bar).
"""

from __future__ import annotations

import hmac
import ipaddress
from urllib.parse import parse_qsl, urlencode

from starlette.responses import PlainTextResponse, RedirectResponse

from thresher.scorers.errors import UserError

COOKIE = "thresher_token"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    if not is_loopback(host) and not token:
        raise UserError(
            f"--host {host} lets other machines connect: set a token with --token or "
            "THRESHER_DASHBOARD_TOKEN (or bind 127.0.0.1)"
        )


class TokenGate:
    """ASGI middleware: refuse (401) any HTTP request without the token."""

    def __init__(self, app, token: str):
        self.app, self.token = app, token

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        if self._matches(query.get("token")):
            rest = urlencode({k: v for k, v in query.items() if k != "token"})
            path = "/" + scope["path"].lstrip("/")  # never "//host": a redirect elsewhere
            response = RedirectResponse(path + (f"?{rest}" if rest else ""), 303)
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict")
            return await response(scope, receive, send)
        bearer = headers.get("authorization", "").removeprefix("Bearer ").strip()
        if self._matches(bearer) or self._matches(_cookie(headers.get("cookie", ""))):
            return await self.app(scope, receive, send)
        refused = PlainTextResponse(
            "401: this dashboard needs its token (open it with ?token=... once)",
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
        return await refused(scope, receive, send)

    def _matches(self, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(given.encode(), self.token.encode())


def _cookie(header: str) -> str | None:
    for part in header.split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE:
            return value
    return None
