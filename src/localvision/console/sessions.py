"""Console logins: server-side sessions behind an opaque cookie, each with its CSRF token.

Logging in with an API key starts a session; the browser then holds only a random token (never
the key, never anything derived from it), in a cookie that scripts cannot read (``HttpOnly``)
and that other sites' pages never send (``SameSite=Strict``). The server keeps, per session,
whose key it was (its ``sha256:`` id), whether that key is read-only, when the session expires,
its CSRF token, and notices waiting to be shown on the next page. Tokens are stored hashed, so
the table itself holds nothing a browser could present.

Expired sessions are remembered a while longer, so a user coming back is told their session
expired rather than sent silently to the login page. Sessions live in the server's memory: a
restart logs everyone out, which is what one expects of a server restart.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Notice", "Session", "Sessions"]

MOST_SESSIONS = 10_000
"""Sessions kept at once; the oldest go first (a bound on memory, whatever callers do)."""


@dataclass(frozen=True)
class Notice:
    """A message for the next page: ``kind`` is ``ok`` or ``error``."""

    kind: str
    text: str


@dataclass
class Session:
    """One login."""

    key_id: str | None
    """Whose key (``sha256:<hex>``); None when the server has no keys and the console is open."""
    read_only: bool
    expires: float
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    notices: list[Notice] = field(default_factory=list)

    def csrf_matches(self, offered: str | None) -> bool:
        """Whether ``offered`` is this session's CSRF token (compared in constant time)."""
        return bool(offered) and hmac.compare_digest(self.csrf, str(offered))

    def take_notices(self) -> list[Notice]:
        """The notices waiting for this page, removed from the session."""
        taken, self.notices = self.notices, []
        return taken


class Sessions:
    """The table of live (and recently expired) sessions; safe to share between threads.

    ``lifetime`` is read on every login, so a settings change applies to the next one.
    """

    def __init__(
        self, lifetime: Callable[[], float], *, clock: Callable[[], float] = time.time
    ) -> None:
        self.lifetime = lifetime
        self.clock = clock
        self._lock = threading.Lock()
        self._table: OrderedDict[str, Session] = OrderedDict()

    def start(self, key_id: str | None, *, read_only: bool) -> tuple[str, Session]:
        """A new session; returns the token for the cookie and the session."""
        token = secrets.token_urlsafe(32)
        session = Session(key_id, read_only, self.clock() + self.lifetime())
        with self._lock:
            self._forget_old()
            self._table[_digest(token)] = session
        return token, session

    def find(self, token: str | None) -> Session | None:
        """The live session ``token`` names, or None (unknown, ended or expired)."""
        session = self._lookup(token)
        if session is None or session.expires <= self.clock():
            return None
        return session

    def expired(self, token: str | None) -> bool:
        """Whether ``token`` names a session that has expired (not one that never was)."""
        session = self._lookup(token)
        return session is not None and session.expires <= self.clock()

    def end(self, token: str | None) -> None:
        """Log out: the token names nothing afterwards."""
        if token:
            with self._lock:
                self._table.pop(_digest(token), None)

    def _lookup(self, token: str | None) -> Session | None:
        if not token:
            return None
        with self._lock:
            return self._table.get(_digest(token))

    def _forget_old(self) -> None:
        """Drop sessions expired for longer than a lifetime, then the oldest past the bound.
        Call with the lock held."""
        cutoff = self.clock() - self.lifetime()
        for digest in [d for d, s in self._table.items() if s.expires < cutoff]:
            del self._table[digest]
        while len(self._table) >= MOST_SESSIONS:
            self._table.popitem(last=False)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
