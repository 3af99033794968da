"""The signature a receiver checks: HMAC-SHA256 of the exact body bytes, keyed by the secret."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-LMS-Outcomes-Signature"
DELIVERY_HEADER = "X-LMS-Outcomes-Delivery"


def sign(body: bytes, secret: str) -> str:
    """The ``X-LMS-Outcomes-Signature`` value of ``body``: ``sha256=<hex digest>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, secret: str, signature: str) -> bool:
    """Whether ``signature`` (the header's value) is ``body``'s with ``secret``, compared in
    constant time."""
    return hmac.compare_digest(sign(body, secret), signature)
