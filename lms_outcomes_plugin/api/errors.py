"""Canvas's error bodies, to the letter (Canvas clients branch on them)."""

from __future__ import annotations

from typing import Any

WWW_AUTHENTICATE = 'Bearer realm="canvas-lms"'

UNAUTHENTICATED = {
    "status": "unauthenticated",
    "errors": [{"message": "user authorization required"}],
}
INVALID_TOKEN = {"errors": [{"message": "Invalid access token."}]}
UNAUTHORIZED = {
    "status": "unauthorized",
    "errors": [{"message": "user not authorized to perform that action"}],
}
NOT_FOUND = {"errors": [{"message": "The specified resource does not exist."}]}


def generic_error(status_code: int, reason: str) -> dict[str, Any]:
    """Canvas's body for any other failure: ``An error occurred.`` with a status code name."""
    code = reason.lower().replace(" ", "_") if reason else "error"
    return {"errors": [{"message": "An error occurred.", "error_code": code}]}
