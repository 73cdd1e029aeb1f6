"""Accounts and logins of a team server (``autocode serve``).

* Passwords are hashed with argon2id (:class:`argon2.PasswordHasher`'s defaults) and rehashed at
  login when those defaults have moved on; a password shorter than :data:`MIN_PASSWORD` is refused.
* A login is a fresh random token (a new one on every login, so a token planted before login is
  worth nothing) and a CSRF token. The store keeps only the token's sha256, with an absolute
  expiry (:data:`LOGIN_LIFETIME`); a disabled account's logins end at once.
* A wrong password and an unknown name get the same :class:`WrongPassword` (and both cost one
  argon2 verification), so the answer does not tell which names have accounts.
* Failed logins are counted per account and per client (:class:`Throttle`); over the limit a
  login is refused with :class:`TooManyAttempts` and a retry-after, whatever the password.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ..errors import AutocodeError, InputError
from ..store import Store, now
from ..store.store import ROLES

#: The shortest password accepted.
MIN_PASSWORD = 10
#: How long a login lasts, however active (absolute expiry).
LOGIN_LIFETIME = timedelta(hours=12)

_hasher = PasswordHasher()
# verified against when the name has no account, so an unknown name costs what a known one does
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class LoginError(AutocodeError):
    """A login refused (the web page shows the message)."""


class WrongPassword(LoginError):
    """Wrong name or password: one message for both."""

    def __init__(self) -> None:
        super().__init__("wrong name or password")


class AccountDisabled(LoginError):
    """The password was right, but the account is disabled."""

    def __init__(self) -> None:
        super().__init__("this account is disabled; ask the project's owner")


class TooManyAttempts(LoginError):
    """Too many failed logins for this account or from this client; ``retry_after`` in seconds."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        minutes = max(1, -(-retry_after // 60))
        super().__init__(f"too many failed logins; try again in {minutes} minute{'s' if minutes != 1 else ''}")


class Throttle:
    """Failed logins in the last ``window`` seconds, per account name and per client address.

    Kept in memory, per server process: a restart forgets them, which is acceptable for a server
    one team runs (a restart is rare and visible), and it needs no store writes on every failure.
    An attacker can lock one account out for ``window`` by failing on purpose; the owner sees it
    (the account's person cannot log in) and the lock lifts by itself. The per-client limit is
    higher than the per-account one: behind one office NAT, a team shares an address.
    """

    def __init__(self, per_account: int = 5, per_client: int = 20, window: float = 15 * 60) -> None:
        self.per_account, self.per_client, self.window = per_account, per_client, window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, at: float) -> deque[float]:
        kept = self._failures.get(key, deque())
        while kept and kept[0] <= at - self.window:
            kept.popleft()
        return kept

    def check(self, name: str, client: str) -> None:
        """Raise :class:`TooManyAttempts` when either limit is reached."""
        at = time.monotonic()
        with self._lock:
            for key, limit in ((f"account:{name}", self.per_account), (f"client:{client}", self.per_client)):
                kept = self._recent(key, at)
                if len(kept) >= limit:
                    raise TooManyAttempts(int(kept[0] + self.window - at) + 1)

    def failed(self, name: str, client: str) -> None:
        at = time.monotonic()
        with self._lock:
            if len(self._failures) > 10_000:  # names made up by an attacker: forget the stale ones
                self._failures = {k: v for k, v in self._failures.items() if self._recent(k, at)}
            for key in (f"account:{name}", f"client:{client}"):
                kept = self._recent(key, at)
                kept.append(at)
                self._failures[key] = kept

    def succeeded(self, name: str) -> None:
        """A right password clears the account's failures (not the client's)."""
        with self._lock:
            self._failures.pop(f"account:{name}", None)


def token_hash(token: str) -> str:
    """What the store keeps of a login token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def hash_password(password: str) -> str:
    """The argon2id hash of ``password``, refusing a short one."""
    if len(password) < MIN_PASSWORD:
        raise InputError(f"the password is {len(password)} characters; use at least {MIN_PASSWORD}",
                         hint="a few words make a long password that is easy to type")
    return _hasher.hash(password)


def add_user(store: Store, name: str, role: str, password: str) -> None:
    """Give ``name`` an account with ``role`` (owner or coder)."""
    name = name.strip()
    if not name:
        raise InputError("an account needs a name")
    if role not in ROLES:
        raise InputError(f"unknown role {role!r}", hint=f"use one of {', '.join(ROLES)}")
    store.add_account(name, role, hash_password(password))


def disable_user(store: Store, name: str) -> None:
    """Disable ``name``'s account; its logins end at once."""
    store.update_account(name, disabled=True)


def enable_user(store: Store, name: str) -> None:
    """Let a disabled account log in again."""
    store.update_account(name, disabled=False)


def set_password(store: Store, name: str, password: str) -> None:
    """Give ``name`` a new password; their logins end (they log in again with it)."""
    hashed = hash_password(password)
    store.update_account(name, password_hash=hashed, disabled=True)
    store.update_account(name, disabled=False)


def set_role(store: Store, name: str, role: str) -> None:
    """Make ``name`` an owner or a coder."""
    store.update_account(name, role=role)


def list_users(store: Store) -> list[dict[str, Any]]:
    """``{name, role, disabled, created_at}`` of every account."""
    return store.accounts()


def login(store: Store, name: str, password: str, client_ip: str, *, throttle: Throttle | None = None,
          lifetime: timedelta = LOGIN_LIFETIME) -> tuple[str, str]:
    """Check ``name``'s password and start a login: ``(token, csrf)``; the cookie carries the token.

    Raises :class:`TooManyAttempts` (checked first, so a locked account's right password is
    refused too), :class:`WrongPassword` or :class:`AccountDisabled`."""
    if throttle is not None:
        throttle.check(name, client_ip)
    account = store.account(name)
    try:
        _hasher.verify(account["password_hash"] if account else _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        account = None
    if account is None:
        if throttle is not None:
            throttle.failed(name, client_ip)
        raise WrongPassword()
    if throttle is not None:
        throttle.succeeded(name)
    if account["disabled"]:
        raise AccountDisabled()
    if _hasher.check_needs_rehash(account["password_hash"]):
        store.update_account(name, password_hash=_hasher.hash(password))
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    expires = (datetime.now(UTC) + lifetime).isoformat(timespec="seconds")
    store.end_expired_logins(now())
    store.add_login(token_hash(token), name, csrf, expires)
    return token, csrf


def current(store: Store, token: str | None) -> dict[str, Any] | None:
    """``{name, role, csrf, expires_at}`` of the login with this token, or None when there is none,
    it has expired, or its account is disabled (then the login is ended)."""
    if not token:
        return None
    key = token_hash(token)
    found = store.login(key)
    if found is None:
        return None
    if found["disabled"] or found["expires_at"] <= now():
        store.end_login(key)
        return None
    return {"name": found["name"], "role": found["role"], "csrf": found["csrf"], "expires_at": found["expires_at"]}


def logout(store: Store, token: str | None) -> None:
    """End the login with this token (nothing when there is none)."""
    if token:
        store.end_login(token_hash(token))
