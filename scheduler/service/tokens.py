"""Bearer tokens: shown once, stored only as SHA-256 hashes in the one token table.

The tokens carry 256 bits of randomness, so an unsalted fast hash is enough: nobody can
brute-force the preimage, and a hash lookup keeps authentication a single indexed query.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from scheduler.domain.security import Principal, Role, TokenInfo
from scheduler.state import Tx

PREFIX_DEPARTMENT = "scd_"
PREFIX_AGENT = "sca_"
PREFIX_PRINCIPAL = "scp_"
# Longer than any token we issue; longer input is refused before it is hashed.
MAX_TOKEN_LEN = 256


def new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same_token(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def issue_token(tx: Tx, holder: Principal, now: datetime, created_by: str) -> tuple[str, TokenInfo]:
    """Stores a new token for `holder` in `tx`; returns the secret (shown once) and its metadata."""
    prefix = {Role.DEPARTMENT: PREFIX_DEPARTMENT, Role.AGENT: PREFIX_AGENT}.get(
        holder.role, PREFIX_PRINCIPAL
    )
    token = new_token(prefix)
    info = tx.tokens.add("tok_" + secrets.token_hex(8), holder, hash_token(token), now, created_by)
    return token, info
