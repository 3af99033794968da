"""Webhooks for lms-outcomes: each URL of the ``webhooks`` setting gets a signed POST when an
import ends, retried with growing delays for up to 24 hours, the pending ones kept in the
plugin's store. See README.md."""

from lms_outcomes_webhooks.signing import SIGNATURE_HEADER, sign, verify

__all__ = ["SIGNATURE_HEADER", "sign", "verify"]
