"""Who is really on the other end: the client IP and scheme behind a trusted proxy, and
the session cookie's Secure flag that follows that scheme.

Behind a reverse proxy every request comes from the proxy's address over plain HTTP: rate
limits and network bans would hit every visitor at once, and a Secure cookie set on a
plain-HTTP port would never come back. Forwarding headers are believed only from the
proxies named in `ARENA_TRUSTED_PROXIES` (none by default: anyone can send the headers).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from starlette.datastructures import Headers
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    """A set of networks (or everything, for "*") whose forwarding headers are believed."""

    def __init__(self, spec: str) -> None:
        items = [part.strip() for part in spec.split(",") if part.strip()]
        self.any = "*" in items
        self.networks: list[Network] = [
            ipaddress.ip_network(item, strict=False) for item in items if item != "*"
        ]

    def __bool__(self) -> bool:
        return self.any or bool(self.networks)

    def __contains__(self, host: str) -> bool:
        if self.any:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)


def forwarded_client(values: Iterable[str], trusted: TrustedProxies) -> str | None:
    """The client address from a forwarding header's values: the rightmost one that is not
    a trusted proxy (entries left of it could have been written by the client itself)."""
    hops = [hop.strip() for value in values for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        if hop not in trusted:
            return hop
    return hops[0] if hops else None


class TrustedProxyMiddleware:
    """Rewrites the ASGI scope's client and scheme from a trusted proxy's headers, so that
    everything downstream (IP hashes, rate limits, bans, cookie flags) sees the visitor."""

    def __init__(self, app: ASGIApp, *, trusted: str, ip_header: str) -> None:
        self.app = app
        self.trusted = TrustedProxies(trusted)
        self.ip_header = ip_header.lower()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.trusted:
            peer = scope.get("client")
            if peer and peer[0] in self.trusted:
                scope = dict(scope)
                headers = Headers(scope=scope)
                client = forwarded_client(headers.getlist(self.ip_header), self.trusted)
                if client:
                    scope["client"] = (client, 0)
                proto = headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
                if proto in ("http", "https"):
                    scope["scheme"] = (
                        proto if scope["type"] == "http" else {"http": "ws", "https": "wss"}[proto]
                    )
        await self.app(scope, receive, send)


def cookie_secure(setting: bool | None, scheme: str) -> bool:
    """The Secure flag: forced by the setting, else whether the request came over TLS."""
    return setting if setting is not None else scheme in ("https", "wss")


class SchemeSessionMiddleware:
    """Starlette's signed-cookie session whose Secure flag follows each request's scheme
    (or the `ARENA_COOKIE_SECURE` setting): one inner middleware per flag, chosen per
    request, since Starlette fixes the flag when the middleware is built."""

    def __init__(self, app: ASGIApp, *, secure: bool | None, **options: Any) -> None:
        self.plain = SessionMiddleware(app, https_only=bool(secure), **options)
        self.tls = (
            self.plain if secure is not None else SessionMiddleware(app, https_only=True, **options)
        )
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        secure = cookie_secure(self.secure, scope.get("scheme", "http"))
        await (self.tls if secure else self.plain)(scope, receive, send)
