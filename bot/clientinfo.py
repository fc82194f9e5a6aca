"""Who is really asking: the client's address and scheme when the server sits behind a trusted reverse proxy.

Behind nginx or a load balancer every request arrives from the proxy's address, so everything keyed on
`request.remote` (the lockout of secret guessers, the web chat's rate limits) would treat every citizen and
every official as one client, and `request.secure` would be False though the browser used https (no
`Secure` cookie). The proxy reports the real client in X-Forwarded-For and the browser's scheme in
X-Forwarded-Proto, but anybody can send those headers: they are believed only when the TCP peer is one of
the proxies named in DIGIGUIDE_TRUSTED_PROXIES (addresses or CIDR networks; empty, the default, believes no
proxy header at all and the middleware is not even installed).

    parse_networks("127.0.0.1, 10.0.0.0/8")   -> tuple of ip networks (ValueError names a bad entry)
    forwarded_middleware(trusted)             aiohttp middleware: request.clone(remote=..., scheme=...)
    resolve(peer, headers, trusted)           the pure rule it applies -> Forwarded(remote, scheme) or None

The middleware rewrites the request with aiohttp's own `request.clone(remote=..., scheme=...)` before any
handler runs, so the rest of the server just reads request.remote and request.secure. It must come first in
`app.middlewares` (build_app puts it there).

The rule (what nginx's real_ip_recursive and aiohttp-remotes' XForwardedFiltered do, but only for a
trusted peer):
- the peer is not trusted: nothing changes, whatever headers it sent (a forged X-Forwarded-For from a
  citizen's machine is ignored, never an error: some browsers' forward proxies add one);
- the peer is trusted: walk X-Forwarded-For from the right (each proxy appends the address it saw) past
  trusted proxies to the first address that is not one: that is the client. Everything left of it was
  written by the client itself and is not believed. If every hop is trusted, the leftmost is the client.
  An entry that is not an address ("unknown", garbage) stops the walk: the last trusted hop is then the
  client, as it is for a trusted peer that sent no X-Forwarded-For (a health check from the proxy host);
- X-Forwarded-Proto from a trusted peer sets the scheme: the value the proxy that reported the client
  wrote (proxies that append), or the leftmost one (proxies that overwrite it with a single value); only
  "http" and "https" are taken. X-Forwarded-Host is not used: the proxy passes Host through.

Why not aiohttp-remotes (aio-libs, 1.4.0 on PyPI; read from its source): XForwardedStrict needs exactly one
X-Forwarded-For entry per configured hop and answers 400 (logged at ERROR) to a direct request from a
non-proxy address, to a request from the proxy host without the header, and to a citizen whose own forward
proxy already sent X-Forwarded-For; XForwardedFiltered and XForwardedRelaxed never look at the TCP peer, so
they believe a header forged by anybody. None gives "trusted peer: believe, anyone else: ignore", which is
thirty lines here.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

from aiohttp import hdrs, web
from multidict import CIMultiDictProxy

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SCHEMES = ("http", "https")
_WITH_PORT = re.compile(r"^\[(?P<v6>[^\]]+)\](?::\d+)?$|^(?P<v4>\d{1,3}(?:\.\d{1,3}){3}):\d+$")  # [v6]:port, v4:port


@dataclass(frozen=True)
class Forwarded:
    """What a trusted proxy says about the request: the client's address and the browser's scheme."""

    remote: str
    scheme: str | None  # None: keep the connection's own scheme


def parse_networks(text: str | Iterable[str]) -> tuple[IPNetwork, ...]:
    """Comma-separated (or listed) addresses and CIDR networks; a bare address is a one-address network.
    Raises ValueError naming the first entry that is neither."""
    items = text.split(",") if isinstance(text, str) else text
    networks = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        try:
            networks.append(ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or network (e.g. 127.0.0.1 or 10.0.0.0/8)") from None
    return tuple(networks)


def parse_address(text: str) -> IPAddress | None:
    """An address as proxies write it (bare, "v4:port" or "[v6]:port"); IPv4-mapped IPv6 becomes IPv4."""
    text = text.strip()
    try:
        address = ip_address(text)
    except ValueError:
        match = _WITH_PORT.match(text)
        if match is None:
            return None
        try:
            address = ip_address(match.group("v6") or match.group("v4"))
        except ValueError:
            return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_trusted(address: IPAddress | None, trusted: Sequence[IPNetwork]) -> bool:
    return address is not None and any(address.version == net.version and address in net for net in trusted)


def _header_list(headers: CIMultiDictProxy[str], name: str) -> list[str]:
    """All values of a header, in order, as one list (several headers count as one comma-joined list)."""
    return [part.strip() for value in headers.getall(name, ()) for part in value.split(",")]


def resolve(peer: str | None, headers: CIMultiDictProxy[str], trusted: Sequence[IPNetwork]) -> Forwarded | None:
    """The client and scheme a trusted peer reports (see the module's rule), or None when the peer is not
    trusted (then the request stands as it came)."""
    last = parse_address(peer or "")
    if not is_trusted(last, trusted):
        return None
    hops = 0  # trusted proxies passed, the peer first
    client = last
    for entry in reversed(_header_list(headers, hdrs.X_FORWARDED_FOR)):
        address = parse_address(entry)
        if address is None:
            break
        client = address
        hops += 1
        if not is_trusted(address, trusted):
            break
    return Forwarded(str(client), _scheme(_header_list(headers, hdrs.X_FORWARDED_PROTO), hops))


def _scheme(protos: list[str], hops: int) -> str | None:
    """The X-Forwarded-Proto value written by the proxy that reported the client (the hops-th from the
    right), else the leftmost; None unless it is http or https."""
    if not protos:
        return None
    value = protos[-hops] if 0 < hops <= len(protos) else protos[0]
    value = value.lower()
    return value if value in SCHEMES else None


def forwarded_middleware(trusted: Sequence[IPNetwork]) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """The aiohttp middleware applying `resolve`: a request from a trusted proxy continues as a clone with
    the client's address as request.remote and the browser's scheme (so request.secure); any other request
    continues unchanged."""
    networks = tuple(trusted)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        forwarded = resolve(request.remote, request.headers, networks)
        if forwarded is not None:
            changes: dict[str, str] = {"remote": forwarded.remote}
            if forwarded.scheme is not None:
                changes["scheme"] = forwarded.scheme
            request = request.clone(**changes)
        return await handler(request)

    return middleware
