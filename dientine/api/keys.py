"""API keys with scopes, stored hashed (salted scrypt, RFC 7914), and the FastAPI auth dependency.

A key is ``dtn_`` + 43 url-safe characters (256 random bits, :func:`secrets.token_urlsafe`). The catalog keeps
``key_id`` (the first 16 hex digits of the key's SHA-256, used for lookup), a random 16-byte salt and
``scrypt(key, salt, n=2**14, r=8, p=1)``; the key itself is shown once, at creation. Verified keys are cached
in memory for ``cache_ttl_s`` (keyed by the key's SHA-256) so the request path pays the scrypt cost once;
revoking through this process drops the cache entry at once.

Scopes: ``read`` (GET), ``decide`` (evaluate, solve), ``control`` (telemetry, outcomes, jobs, twins),
``admin`` (thresholds, policies, keys). ``admin`` implies every other scope.

Admin bootstrap (see :func:`ensure_admin`): if ``DIENTINE_ADMIN_KEY`` (or ``Settings.admin_key``) is set, that
key is registered with the admin scope; otherwise, when the catalog holds no key at all, one admin key is created
and printed once to stderr at first start.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from dientine.store import NotFound, Store, StoreError

SCOPES = ("read", "decide", "control", "admin")
KEY_PREFIX = "dtn_"
ENV_ADMIN_KEY = "DIENTINE_ADMIN_KEY"
# scrypt cost: n=2**14, r=8, p=1 are the interactive-login parameters recommended in RFC 7914 §2 / Percival 2009.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


@dataclass(frozen=True)
class KeyInfo:
    key_id: str
    name: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes


def key_id_of(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _digest(key: str, salt: bytes) -> bytes:
    return hashlib.scrypt(key.encode(), salt=salt, maxmem=64 * 1024 * 1024, **_SCRYPT)


def check_scopes(scopes: Iterable[str]) -> list[str]:
    out = sorted(set(scopes))
    bad = [s for s in out if s not in SCOPES]
    if bad or not out:
        raise StoreError(f"scopes: expected a non-empty subset of {list(SCOPES)}, found {sorted(scopes)}")
    return out


def register_key(store: Store, key: str, name: str, scopes: Iterable[str]) -> KeyInfo:
    """Store the hash of a given key (used for bootstrap keys); the key must be at least 16 characters."""
    if len(key) < 16:
        raise StoreError("key: must be at least 16 characters")
    sc = check_scopes(scopes)
    salt = secrets.token_bytes(16)
    kid = key_id_of(key)
    store.insert_key(kid, name, sc, salt, _digest(key, salt))
    return KeyInfo(kid, name, frozenset(sc))


def create_key(store: Store, name: str, scopes: Iterable[str]) -> tuple[str, KeyInfo]:
    """Create a new random key; returns ``(plaintext_key, info)``. The plaintext is not stored anywhere."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    return key, register_key(store, key, name, scopes)


def revoke_key(store: Store, key_id: str) -> None:
    store.revoke_key(key_id)


class KeyVerifier:
    """Verifies presented keys against the catalog, with a short in-memory cache of successful checks."""

    def __init__(self, store: Store, cache_ttl_s: float = 30.0) -> None:
        self.store = store
        self.cache_ttl_s = cache_ttl_s
        self._cache: dict[bytes, tuple[KeyInfo, float]] = {}
        self._lock = threading.Lock()

    def cached(self, key: str) -> KeyInfo | None:
        """The key's info if it was verified within the TTL (no hashing beyond one SHA-256)."""
        hit = self._cache.get(hashlib.sha256(key.encode()).digest())
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        return None

    def verify(self, key: str) -> KeyInfo | None:
        hit = self.cached(key)
        if hit is not None:
            return hit
        h = hashlib.sha256(key.encode()).digest()
        now = time.monotonic()
        try:
            row = self.store.get_key(h.hex()[:16])
        except NotFound:
            return None
        if row["revoked"] or not hmac.compare_digest(_digest(key, row["salt"]), row["hash"]):
            return None
        info = KeyInfo(row["key_id"], row["name"], frozenset(row["scopes"]))
        with self._lock:
            self._cache[h] = (info, now + self.cache_ttl_s)
        return info

    def revoke(self, key_id: str) -> None:
        self.store.revoke_key(key_id)
        with self._lock:
            for h, (info, _) in list(self._cache.items()):
                if info.key_id == key_id:
                    del self._cache[h]


def ensure_admin(store: Store, admin_key: str | None, *, announce: bool = True) -> str | None:
    """Bootstrap: register ``admin_key`` if given and unknown; else create and print one if no key exists.

    Returns the plaintext of a newly created key (None when nothing was created).
    """
    if admin_key:
        try:
            store.get_key(key_id_of(admin_key))
        except NotFound:
            register_key(store, admin_key, "bootstrap-admin", ["admin"])
        return None
    if store.list_keys():
        return None
    key, _info = create_key(store, "bootstrap-admin", ["admin"])
    if announce:
        print(
            f"dientine: created the first admin API key (shown only once, store it now):\n  {key}",
            file=sys.stderr,
        )
    return key
