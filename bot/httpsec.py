"""Security headers for everything this server sends to a browser (the web chat; meant for the dashboard too).

A strict Content-Security-Policy: scripts, styles, images and requests only from this server (images also
as data: URLs), no plugins, no <base>, forms post only here, and no framing. With no inline script allowed,
injected markup cannot run; the other headers stop MIME sniffing, referrers and clickjacking.

    secure(response)                   SECURITY_HEADERS on any aiohttp response; returns it
    secure(response, {**SECURITY_HEADERS, "Referrer-Policy": "same-origin"})   a page that needs other values
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TypeVar

from aiohttp import web

R = TypeVar("R", bound=web.StreamResponse)

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS: Mapping[str, str] = MappingProxyType(  # read-only: build variants with {**SECURITY_HEADERS, ...}
    {
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
    }
)


def secure(response: R, headers: Mapping[str, str] = SECURITY_HEADERS) -> R:
    """Set `headers` (by default SECURITY_HEADERS) on `response` and return it."""
    response.headers.update(headers)
    return response
