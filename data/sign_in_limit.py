"""Limit on failed sign-in attempts per user name (brute-force guessing through the sign-in form).

After ``max_failures`` failed attempts for one user name within ``window``, that name is locked for
``lockout``: every attempt is refused without checking the password (so a right password does not get
through either), and the lock ends on its own. A successful sign-in clears the name's failures.

Keyed by the user name (lower-cased, stripped), unknown names included, so a lock does not reveal whether
an account exists. Streamlit does not give the app a reliable client address, so there is no per-address
limit: someone can lock a known name for ``lockout`` by failing on purpose — the usual trade-off of
per-account locks (docs/SECURITY.md). State lives in this process only (a restart clears it); the app
serves all sessions from one process, so one :class:`SignInThrottle` per process covers every browser tab.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_FAILURES = 5
WINDOW_S = 15 * 60.0
LOCKOUT_S = 15 * 60.0


def _key(username: str) -> str:
    return username.strip().lower()


@dataclass
class SignInThrottle:
    """Failed attempts per user name, thread-safe (Streamlit runs each session in its own thread)."""

    max_failures: int = MAX_FAILURES
    window_s: float = WINDOW_S
    lockout_s: float = LOCKOUT_S
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, list[float]] = field(default_factory=dict, repr=False)
    _locked_until: dict[str, float] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.max_failures < 1 or self.window_s <= 0 or self.lockout_s <= 0:
            raise ValueError("need max_failures >= 1 and positive window and lockout")

    def seconds_locked(self, username: str) -> float:
        """Seconds until ``username`` may try again (0: it may try now)."""
        key, now = _key(username), self.clock()
        with self._lock:
            until = self._locked_until.get(key)
            if until is None:
                return 0.0
            if until <= now:
                del self._locked_until[key]
                self._failures.pop(key, None)
                return 0.0
            return until - now

    def record_failure(self, username: str) -> float:
        """Count a failed attempt; return the seconds of the lock it starts (0: not locked yet)."""
        key, now = _key(username), self.clock()
        with self._lock:
            recent = [t for t in self._failures.get(key, []) if now - t < self.window_s]
            recent.append(now)
            if len(recent) >= self.max_failures:
                self._failures.pop(key, None)
                self._locked_until[key] = now + self.lockout_s
                return self.lockout_s
            self._failures[key] = recent
            return 0.0

    def record_success(self, username: str) -> None:
        with self._lock:
            self._failures.pop(_key(username), None)
            self._locked_until.pop(_key(username), None)
