"""The random values of an authorization request: state and the PKCE pair.

``state`` binds the redirect back to the session that started it (256 random
bits, above the 128 the specification asks). The code verifier is 64
random bytes in base64url (86 characters, within RFC 7636's 43..128), and
the challenge is its S256 hash. Comparisons of secrets are constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

__all__ = ["new_state", "new_code_verifier", "code_challenge", "states_match"]

STATE_BYTES = 32
VERIFIER_BYTES = 64


def new_state() -> str:
    return secrets.token_urlsafe(STATE_BYTES)


def new_code_verifier() -> str:
    return secrets.token_urlsafe(VERIFIER_BYTES)


def code_challenge(verifier: str) -> str:
    """``BASE64URL(SHA256(verifier))`` without padding (the S256 method)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def states_match(expected: str | None, received: str | None) -> bool:
    """Constant-time equality of two state values; False if either is missing."""
    if not expected or not received or not isinstance(received, str):
        return False
    return hmac.compare_digest(expected.encode("utf-8"), received.encode("utf-8"))
