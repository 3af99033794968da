"""The client's HTTP: requests, with errors that name the problem.

requests (over urllib3) streams an upload from a file object with its ``Content-Length``, a
block at a time, so the upload's progress is what the file object has been read; and when a
server answers before it has read the whole body (413, 401), urllib3 still reads that answer
instead of failing on the connection the server closed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

import requests

#: Seconds to wait for the server to connect and, then, for each answer.
TIMEOUT = (10, 300)


class ClientError(Exception):
    """A connection or HTTP error: its message names the problem (exit status 2)."""


@dataclass(frozen=True)
class Context:
    """An account or a course, as the routes name it."""

    kind: str  # "account" or "course"
    id: str

    @property
    def path(self) -> str:
        return f"/api/v1/{self.kind}s/{self.id}"


class Upload:
    """A file read a block at a time, reporting each block: what requests streams."""

    def __init__(self, source: BinaryIO, size: int, progress: Callable[[int], None]) -> None:
        self._source = source
        self._size = size
        self._progress = progress

    def __len__(self) -> int:
        return self._size

    def read(self, size: int = -1) -> bytes:
        block = self._source.read(size)
        if block:
            self._progress(len(block))
        return block


class Server:
    """One server and one token."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self._session = requests.Session()
        self._session.headers["Authorization"] = f"Bearer {token}"

    def request(self, method: str, path: str, context: Context, *, what: str = "",
                **kwargs: Any) -> requests.Response:
        """The answer, when it is a success; else a ClientError naming the problem (``what``
        names what else than the context Canvas's plain 404 may mean: a target group)."""
        try:
            response = self._session.request(method, self.url + path, timeout=TIMEOUT, **kwargs)
        except requests.ConnectionError as error:
            raise ClientError(f"server not reachable at {self.url} ({_reason(error)})") from None
        except requests.Timeout:
            raise ClientError(f"no answer from {self.url} within {TIMEOUT[1]} s") from None
        if response.status_code >= 400:
            raise ClientError(self._refusal(response, context, what))
        return response

    def json(self, method: str, path: str, context: Context, **kwargs: Any) -> Any:
        return self.request(method, path, context, **kwargs).json()

    def create_import(self, context: Context, path: str, source: BinaryIO, size: int,
                      params: Mapping[str, str], progress: Callable[[int], None],
                      what: str = "") -> Any:
        """POST the file as a raw ``text/csv`` body, streamed."""
        return self.json("POST", path, context, what=what, params=params,
                         data=Upload(source, size, progress),
                         headers={"Content-Type": "text/csv"})

    def stream(self, path: str, context: Context, what: str = "") -> tuple[str, Iterator[bytes]]:
        """A download's ``Content-Disposition`` filename and its body, a block at a time."""
        response = self.request("GET", path, context, what=what, stream=True)
        disposition = response.headers.get("Content-Disposition", "")
        filename = disposition.partition('filename="')[2].rstrip('"') or "download"
        return filename, response.iter_content(65536)

    def _refusal(self, response: requests.Response, context: Context, what: str) -> str:
        status = response.status_code
        message = _message(response)
        if status == 401 and message == "Invalid access token.":
            return f"token refused by {self.url} (401 {message})"
        if status == 401 and message == "user authorization required":
            return f"{self.url} asks for a token (401): pass --token or set LMS_OUTCOMES_TOKEN"
        if status == 401:
            return (f"the token's user may not do this in {context.kind} {context.id} "
                    f"(401 {message})")
        if status == 404 and message == "The specified resource does not exist.":
            return f"unknown {context.kind} {context.id}{what and ' or ' + what} (404)"
        if status == 404:
            return f"{message} (404)"
        if status == 413:
            return f"the file is larger than {self.url} accepts (413: {message})"
        return f"{self.url} answered {status}: {message}"


def _message(response: requests.Response) -> str:
    """The message of a Canvas error body (``{"errors": [{"message"}]}``, ``{"message"}``,
    ``{"error"}``), else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return str(errors[0].get("message", errors[0]))
        for key in ("message", "error"):
            if key in body:
                return str(body[key])
    return str(body)[:200]


def _reason(error: requests.ConnectionError) -> str:
    """The innermost cause (e.g. "[Errno 111] Connection refused")."""
    cause: BaseException = error
    while cause.__context__ is not None or cause.__cause__ is not None:
        cause = cause.__cause__ or cause.__context__  # type: ignore[assignment]
    text = str(cause)
    return text.split(": ", 1)[-1] if "Failed to establish" in text else text
