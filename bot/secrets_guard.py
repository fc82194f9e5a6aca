"""One lockout for every check of a secret a person types or sends: the dashboard login form and
POST /admin/reload today (both compare the admin token), personal passwords and API tokens later.

Why one: with a throttle per endpoint (or none, as /admin/reload had) a guesser simply uses the endpoint
that does not stop them; the issue measured 1,000 guesses in 0.4 s on /admin/reload while the login page
already said 429. So every check goes through `check_secret` on the application's one SecretThrottle
(app[THROTTLE], created by `shared_throttle(app)` at setup), and while a client is locked out its secret is
not even compared: the right one gets 429 (with Retry-After) from every endpoint, like a wrong one. A check
that does not compare a plain secret (a password hash, later) uses the same throttle around its own
verification: `retry_after(key)` first, then `failed(key)` or `succeeded(key)`, with key = client_key(...).

Who is locked out: the guessing client, not the officials.
- The key is the real client address: request.remote, which bot.clientinfo's middleware sets from a
  trusted proxy's X-Forwarded-For (and leaves as the TCP peer for everyone else). An IPv6 client is keyed
  on its /64, the block one household or server gets, so that rotating addresses inside it buys nothing.
  A guesser at one address never locks out an official at another.
- A session cookie is not a secret that is guessed: it is a 256-bit random id, so an unknown one is a
  lapsed session (after a restart, an idle timeout, a logout) and counts for nothing. An official who is
  logged in keeps working even from the guesser's own address (one office behind one NAT): sessions are
  checked apart from the throttle.
- The lockout grows while a client keeps failing: LIMIT failures within PER seconds lock it for LOCKOUT
  seconds, and every further lockout doubles, up to MAX_LOCKOUT (60 s, 2, 4, 8... min, then an hour: about
  ten guesses an hour in the long run, against 10 a minute for ever with a fixed minute). An official who
  mistypes a few times and then gets it right starts clean (a success forgets the record); a guesser's
  strikes are forgotten after FORGET seconds without a failure.
- Bounded memory: at most MAX_KEYS records (least recently failed dropped first; stale ones go as new
  failures come). Whoever has that many addresses has that many budgets anyway.
- The global safety net locks out nobody who has not failed: while GLOBAL_LIMIT failures or more arrive
  within PER seconds from all clients together (many addresses guessing at once), a client is locked after
  its first failure instead of its LIMIT-th. A client with no failure of its own is never refused, so an
  official who types the right token always gets in; one who mistypes during such an attack waits a minute.
- The login form refuses a cross-site POST before the token is checked (analytics.web.auth), so another
  site cannot make officials' own browsers spend their budget.
"""

from __future__ import annotations

import hmac
import logging
import math
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from ipaddress import IPv6Address, ip_network

from aiohttp import web

from .clientinfo import parse_address

log = logging.getLogger("digiguide.security")

LIMIT, PER = 10, 60.0  # failures per client within PER seconds before a lockout
LOCKOUT, MAX_LOCKOUT = 60.0, 3600.0  # the first lockout; each further one doubles, up to MAX_LOCKOUT
FORGET = 24 * 3600.0  # a client's lockouts are forgotten after this long without a failure
MAX_KEYS = 20_000  # clients remembered at most
GLOBAL_LIMIT = 100  # failures from all clients within PER seconds that mean "many addresses guess at once"
IPV6_PREFIX = 64


@dataclass
class _Record:
    failures: deque = field(default_factory=deque)  # times of recent failures (within PER)
    strikes: int = 0  # lockouts so far
    locked_until: float = 0.0
    last: float = 0.0  # time of the last failure


class SecretThrottle:
    """Failed checks of a secret per client key, with growing lockouts (see the module docstring).

    `retry_after(key)` whole seconds the key is still locked out (0: it may try); `failed(key)` records a
    wrong secret and returns the lockout it caused (0: none yet); `succeeded(key)` forgets the key. `now`
    (time.monotonic() by default) is there for tests."""

    def __init__(self, limit: int = LIMIT, per: float = PER, lockout: float = LOCKOUT, max_lockout: float = MAX_LOCKOUT, *,
                 forget: float = FORGET, max_keys: int = MAX_KEYS, global_limit: int = GLOBAL_LIMIT):
        self.limit, self.per, self.lockout, self.max_lockout = limit, per, lockout, max_lockout
        self.forget, self.max_keys, self.global_limit = forget, max_keys, global_limit
        self._records: OrderedDict[str, _Record] = OrderedDict()  # least recently failed first
        self._recent: deque[float] = deque(maxlen=max(global_limit, 1))  # the last failures from anyone

    def __len__(self) -> int:
        return len(self._records)

    def retry_after(self, key: str, now: float | None = None) -> int:
        record = self._records.get(key)
        if record is None:
            return 0
        left = record.locked_until - (time.monotonic() if now is None else now)
        return math.ceil(left) if left > 0 else 0

    def failed(self, key: str, now: float | None = None) -> int:
        now = time.monotonic() if now is None else now
        record = self._touch(key, now)
        record.failures.append(now)
        record.last = now
        self._recent.append(now)
        if len(record.failures) >= self._limit(now):
            record.strikes += 1
            record.locked_until = now + self.lockout_for(record.strikes)
            record.failures.clear()
        self._evict(now)
        return self.retry_after(key, now)

    def succeeded(self, key: str) -> None:
        self._records.pop(key, None)

    def lockout_for(self, strikes: int) -> float:
        """The n-th lockout's length: LOCKOUT, doubled for each earlier one, at most MAX_LOCKOUT."""
        return min(self.lockout * 2 ** min(strikes - 1, 32), self.max_lockout)

    def under_attack(self, now: float) -> bool:
        """More than global_limit failures from all clients within `per` seconds (global_limit 0: never)."""
        return self.global_limit > 0 and len(self._recent) >= self.global_limit and now - self._recent[0] <= self.per

    def _limit(self, now: float) -> int:
        return 1 if self.under_attack(now) else self.limit

    def _touch(self, key: str, now: float) -> _Record:
        """The key's record, moved to the newest end, with failures older than `per` dropped and its
        strikes forgotten after `forget` quiet seconds."""
        record = self._records.pop(key, None) or _Record()
        self._records[key] = record
        while record.failures and now - record.failures[0] > self.per:
            record.failures.popleft()
        if record.strikes and now - record.last > self.forget and now >= record.locked_until:
            record.strikes = 0
        return record

    def _evict(self, now: float) -> None:
        """Drop stale records from the oldest end, then the oldest ones over max_keys."""
        while self._records:
            record = next(iter(self._records.values()))
            if now - record.last <= max(self.per, self.forget if record.strikes else 0) or now < record.locked_until:
                break
            self._records.popitem(last=False)
        while len(self._records) > self.max_keys:
            self._records.popitem(last=False)


THROTTLE = web.AppKey("secret_throttle", SecretThrottle)


def shared_throttle(app: web.Application) -> SecretThrottle:
    """The application's one throttle, created by the first part of the server that asks (before start)."""
    if THROTTLE not in app:
        app[THROTTLE] = SecretThrottle()
    return app[THROTTLE]


def client_key(remote: str | None) -> str:
    """The throttle's key for a client address: the address, or its /64 network for IPv6; "?" without one."""
    address = parse_address(remote or "")
    if address is None:
        return "?"
    if isinstance(address, IPv6Address):
        return str(ip_network(f"{address}/{IPV6_PREFIX}", strict=False))
    return str(address)


def secret_matches(supplied: str | None, expected: str) -> bool:
    """Constant-time comparison; an unset secret never matches, and neither does an empty answer."""
    if not expected or not supplied:
        return False
    return hmac.compare_digest(supplied.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


def bearer_credential(header: str | None) -> str | None:
    """The token of `Authorization: Bearer <token>` (RFC 6750; the scheme is case-insensitive, RFC 7235):
    one credential after the scheme, nothing else. None for anything else, "<token>" alone included."""
    if not header:
        return None
    scheme, _, credential = header.partition(" ")
    credential = credential.strip(" ")
    if scheme.lower() != "bearer" or not credential or any(c.isspace() for c in credential):
        return None
    return credential


@dataclass(frozen=True)
class Verdict:
    """The outcome of one check: `ok`, or refused; `retry_after` > 0 means locked out (answer 429 with
    Retry-After and say so), else a refusal is a wrong secret."""

    ok: bool
    retry_after: int = 0

    @property
    def locked(self) -> bool:
        return self.retry_after > 0


def check_secret(request: web.Request, supplied: str | None, expected: str, what: str) -> Verdict:
    """Check a secret the client supplied against the expected one, through the application's throttle.

    `supplied` None means the client sent none at all (no Authorization header): refused, but no guess
    was made, so it does not count. An unset `expected` refuses everything without counting (there is
    nothing to guess). `what` names the check in the log line of a failure."""
    throttle = request.app[THROTTLE]
    key = client_key(request.remote)
    wait = throttle.retry_after(key)
    if wait:
        return Verdict(False, wait)
    if not expected or supplied is None:
        return Verdict(False)
    if secret_matches(supplied, expected):
        throttle.succeeded(key)
        return Verdict(True)
    locked = throttle.failed(key)
    if locked:
        log.warning("%s: wrong secret from %s; locked out for %d s", what, key, locked)
    else:
        log.warning("%s: wrong secret from %s", what, key)
    return Verdict(False)


def check_bearer(request: web.Request, expected: str, what: str) -> Verdict:
    """check_secret for `Authorization: Bearer <token>`. A header in any other form is a failed guess
    (it supplied something); no header, or an empty one, is not."""
    header = request.headers.get("Authorization", "").strip()
    if not header:
        return check_secret(request, None, expected, what)
    return check_secret(request, bearer_credential(header) or "", expected, what)
