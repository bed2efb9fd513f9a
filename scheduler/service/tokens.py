"""Bearer tokens: shown once, stored only as SHA-256 hashes.

The tokens carry 256 bits of randomness, so an unsalted fast hash is enough: nobody can
brute-force the preimage, and a hash lookup keeps authentication a single indexed query.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

PREFIX_DEPARTMENT = "scd_"
PREFIX_AGENT = "sca_"


def new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same_token(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())
