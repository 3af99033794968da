"""Canvas's Outcome Imports API: create (streamed upload), show, created_group_ids; and ours:
every error of an import, as pages of JSON or as one streamed CSV file."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import mimetypes
import re
import secrets
import time
from contextlib import aclosing
from datetime import timedelta
from encodings import normalize_encoding
from encodings.aliases import aliases
from typing import Any, Protocol

import tornado.ioloop
import tornado.iostream
import tornado.web

from lms_hooks.host import IMPORT_OUTCOMES, MANAGE_OUTCOMES, LmsHost
from lms_outcomes_plugin.api import errors
from lms_outcomes_plugin.api.base import CONTEXT, CONTEXT_TYPES, ApiHandler, parse_id
from lms_outcomes_plugin.api.mediatype import media_type, parameters
from lms_outcomes_plugin.api.multipart import FormLimitError, FormParserError, MultipartUpload
from lms_outcomes_plugin.formats import DEFAULT_IMPORT_TYPE, ImportFormatRegistry
from lms_outcomes_plugin.formats.encoding import ENCODINGS
from lms_outcomes_plugin.models import (
    DEFAULT_ENCODING,
    Attachment,
    ContextRef,
    NewImport,
    OutcomeImport,
    utcnow,
)
from lms_outcomes_plugin.settings import PluginSettings
from lms_outcomes_plugin.storage import (
    AttachmentWriter,
    ImportQueueFull,
    KeyClaim,
    KeyedRequest,
    KeyTakenOver,
    Store,
    StoredKey,
)

RAW_UPLOAD_EXTENSIONS = {"text/plain": "csv", "text/csv": "csv"}
DEFAULT_FILENAME = "outcome_import.csv"
INVALID_MULTIPART = "Invalid multipart/form-data body"
#: Tornado's own per-request body limit for uploads: out of reach, so the plugin's cap (a
#: setting) always decides and answers 413 itself.
TORNADO_BODY_LIMIT = 1 << 62
#: ``dry_run``'s values (ours: exactly these two).
DRY_RUN_VALUES = {"true": True, "false": False}
#: Python's names of the codecs a raw upload's ``charset`` may name besides UTF-8, for each
#: ``encoding`` (``auto`` and ``utf-8`` name none).
CHARSET_CODECS = {
    "windows-1252": {"cp1252"},
    "iso-8859-1": {"latin_1"},
    "utf-16": {"utf_16", "utf_16_le", "utf_16_be"},
}
#: Errors read per query while errors.csv streams.
ERRORS_CSV_CHUNK = 1000
#: An ``Idempotency-Key``: 1 to 255 visible ASCII characters (as Stripe's).
IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")
#: How long a key answers with the import its first request created.
KEY_LIFETIME = timedelta(hours=24)
#: A first request renews its key this often while its body arrives; one not renewed for
#: KEY_ABANDONED_AFTER stopped without an answer (its process died), and frees the key.
KEY_RENEWAL_SECONDS = 30.0
KEY_ABANDONED_AFTER = timedelta(seconds=120)


class ImportQueue(Protocol):
    """Where a create request hands its upload over (the plugin's service)."""

    def expect_import(self) -> None:
        """An upload has started: get ready to parse it."""

    async def create_import(
        self,
        new: NewImport,
        attachment: Attachment,
        key: tuple[KeyClaim, KeyedRequest] | None = None,
    ) -> OutcomeImport:
        """Queue the import (ImportQueueFull past the root account's limit), binding the
        request's ``Idempotency-Key`` to it."""
        ...


class UploadRefused(Exception):
    """The body broke a limit or was not valid multipart: answer ``status`` with ``body``."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status, body)
        self.status, self.body = status, body


class Upload:
    """One create request's body on its way into the store's attachment space: whole (a raw
    upload) or the ``attachment`` part of a multipart form, counted against the cap as it
    arrives (chunked bodies declare no length). Nothing stays behind unless it is committed.

    Without a writer the file is only counted and hashed (a keyed request answered by an
    earlier import's). ``digest`` is the file's SHA-256 when asked for (not the multipart
    body's: a client's retry may choose another boundary)."""

    def __init__(
        self,
        writer: AttachmentWriter | None,
        form: MultipartUpload | None,
        cap: int,
        digest: bool = False,
    ) -> None:
        self.writer, self.form, self.cap = writer, form, cap
        self.received = 0
        self.digest = hashlib.sha256() if digest else None
        #: Committed or discarded: nothing more to do with the writer.
        self.settled = False
        # Writes, the commit and the abort take turns: no part file appears after an abort.
        self._turn = asyncio.Lock()

    async def feed(self, chunk: bytes) -> None:
        self.received += len(chunk)
        if self.received > self.cap:
            raise UploadRefused(413, too_large(self.cap))
        try:
            pieces = self.form.feed(chunk) if self.form is not None else [chunk]
        except FormLimitError as limit:
            raise UploadRefused(400, {"error": str(limit)}) from None
        except FormParserError:
            raise UploadRefused(400, {"error": INVALID_MULTIPART}) from None
        if self.digest is not None:
            for piece in pieces:
                self.digest.update(piece)
        if self.writer is None:
            return
        async with self._turn:
            for piece in pieces:
                await self.writer.write(piece)

    async def commit(self, filename: str, content_type: str) -> Attachment:
        assert self.writer is not None
        async with self._turn:
            attachment = await self.writer.commit(filename, content_type)
            self.settled = True
        return attachment

    def discard(self) -> None:
        """Forget what was written, unless it was committed (after any write in flight)."""
        if not self.settled:
            self.settled = True
            tornado.ioloop.IOLoop.current().add_callback(self._abort)

    async def _abort(self) -> None:
        if self.writer is None:
            return
        async with self._turn:
            await self.writer.abort()


class ImportHandler(ApiHandler):
    """The import routes' handlers: the store, the plugin's settings and formats, the queue."""

    def initialize(  # type: ignore[override]
        self,
        host: LmsHost,
        store: Store,
        settings: PluginSettings,
        formats: ImportFormatRegistry,
        queue: ImportQueue,
    ) -> None:
        super().initialize(host)
        self.store, self.plugin_settings = store, settings
        self.formats, self.queue = formats, queue

    async def find_import(
        self,
        segment: str,
        context_id: str,
        import_id: str,
        permissions: tuple[str, ...] = (IMPORT_OUTCOMES, MANAGE_OUTCOMES),
    ) -> OutcomeImport:
        # The import is read while the host authorizes, from the context the URL names (the
        # two do not depend on each other; a status is polled while its import runs, and each
        # wait in turn counts). What it found is used only once the request is authorized, and
        # only when the host's context is the one guessed. The read is always awaited (not
        # cancelled: cancelling a PostgreSQL query costs more than the query), so that no task
        # outlives its request and its store.
        guess = context_of(segment, context_id)
        early = asyncio.ensure_future(self._read_import(guess, import_id)) if guess else None
        try:
            await self.authorize(segment, context_id, *permissions)
        except BaseException:
            await _settle(early)
            raise
        context = ContextRef.of(self.context)
        if early is not None and context == guess:
            found = await early
        else:
            await _settle(early)
            found = await self._read_import(context, import_id)
        if found is None:
            self.fail(404, {"message": f"Couldn't find OutcomeImport with 'id'={import_id}"})
        return found

    async def _read_import(self, context: ContextRef, import_id: str) -> OutcomeImport | None:
        if import_id == "latest":
            return await self.store.get_latest_import(context)
        key = parse_id(import_id)
        return await self.store.get_import(context, key) if key else None

    def queue_full(self) -> dict[str, Any]:
        """The 429's body: the root account has ``max_queued_imports`` imports waiting (a
        revert waits in the same queue, and is counted as one)."""
        return {"errors": [{"message": (
            f"Too many outcome imports are waiting in this root account (the limit is "
            f"{self.plugin_settings.max_queued_imports}); try again once some have finished"
        )}]}

    async def import_json(self, outcome_import: OutcomeImport) -> dict[str, Any]:
        body = outcome_import.as_json()
        if outcome_import.user_id is not None:
            user = await self.host.user_json(outcome_import.user_id)
            if user is not None:
                body["user"] = dict(user)
        return body


@tornado.web.stream_request_body
class CreateImportHandler(ImportHandler):
    """``POST /api/v1/:context/outcome_imports[/group/:learning_outcome_group_id]``.

    Everything that can refuse the request from its headers is checked in ``prepare()``, before
    a byte of the body is read; the body then streams into the store's attachment space, either
    whole (a raw upload) or through :class:`MultipartUpload` (Canvas's ``attachment`` field).
    Whatever refuses the request stores nothing: the attachment writer is aborted.

    Headers come from any authenticated client and are read on the IOLoop: their total size is
    capped (the ``max_header_bytes`` setting) before anything else is done with them, and their
    parameters are parsed in linear time (:mod:`lms_outcomes_plugin.api.mediatype`). The cap is
    the plugin's own, whatever the host's server allows: the embedded host keeps Tornado's
    ``max_header_size`` (64 KiB), since past it Tornado drops the connection without an answer
    rather than the 400 that says which limit was passed.
    """

    upload: Upload | None = None
    #: The request's claim on its ``Idempotency-Key``, until an import is created with it.
    key_claim: KeyClaim | None = None
    key_renewed_at = 0.0
    #: The key's earlier request, whose import answers this one if it asks the same.
    replayed: StoredKey | None = None
    #: Set once the request was answered while its body was still arriving.
    refused = False
    #: Set when post() starts: Tornado calls it only once the whole body was read.
    body_read = False

    async def prepare(self) -> None:
        # Our cap (decision 9) is stricter than Tornado's limit and must answer first:
        # Tornado's would cut the connection with a bare 400 instead of our 413.
        self.request.connection.set_max_body_size(TORNADO_BODY_LIMIT)  # type: ignore[union-attr]
        self._check_header_size()
        segment, context_id, group_id = self.path_args
        await self.authorize(segment, context_id, IMPORT_OUTCOMES)
        # The query wins over the form, as in Rails' params; a form value is checked in post().
        self.import_type = self.get_query_argument("import_type", None)
        if self.import_type is not None:
            self._check_import_type(self.import_type)
        self.encoding = self._checked_encoding(self.get_query_argument("encoding", None))
        self.dry_run = self._checked_dry_run(self.get_query_argument("dry_run", None))
        form = self._multipart_form()
        if form is None:
            self._check_charset()
        self.target_group_id = await self._target_group(group_id)
        await self._reserve_key()
        if self.replayed is None:
            await self._check_queue()
        self._check_content_length()
        keyed = "Idempotency-Key" in self.request.headers
        if self.replayed is not None:
            self.upload = Upload(None, form, self._cap, digest=True)
            return
        self.upload = Upload(self.store.attachment_writer(), form, self._cap, digest=keyed)
        self.queue.expect_import()

    def _check_header_size(self) -> None:
        """Headers (names and values) over the setting are refused before anything parses them
        and before the body is read."""
        limit = self.plugin_settings.max_header_bytes
        headers = self.request.headers.get_all()
        if sum(len(name) + len(value) for name, value in headers) > limit:
            self.fail(400, {"error": f"The request headers are larger than the limit of "
                                     f"{limit} bytes"})

    @property
    def _content_type(self) -> str:
        return self.request.headers.get("Content-Type", "")

    def _check_import_type(self, import_type: str) -> None:
        """Our decision 1: an unknown type is 400 naming the valid ones (Canvas: 500)."""
        if import_type not in self.formats:
            valid = ", ".join(self.formats.names())
            self.fail(400, {"error": f"Invalid import_type {import_type!r}; "
                                     f"valid import types: {valid}"})

    def _checked_encoding(self, encoding: str | None) -> str | None:
        """An ``encoding`` other than ours is 400 naming the valid ones (as import_type is);
        case does not matter."""
        if encoding is None:
            return None
        if encoding.lower() not in ENCODINGS:
            self.fail(400, {"error": f"Invalid encoding {encoding!r}; valid encodings: "
                                     f"{', '.join(ENCODINGS)}"})
        return encoding.lower()

    def _checked_dry_run(self, value: str | None) -> bool | None:
        """``true`` or ``false`` (exactly); anything else is 400 naming them."""
        if value is None:
            return None
        if value not in DRY_RUN_VALUES:
            self.fail(400, {"error": f"Invalid dry_run {value!r}; valid values: "
                                     f"{', '.join(DRY_RUN_VALUES)}"})
        return DRY_RUN_VALUES[value]

    def _check_charset(self) -> None:
        """Canvas refuses a raw upload whose charset is present and not UTF-8; we also accept
        one that names the ``encoding`` the client chose (``charset=windows-1252`` with
        ``encoding=windows-1252``)."""
        charset = parameters(self._content_type).get("charset")
        if charset is None or charset.lower() == "utf-8":
            return
        chosen = CHARSET_CODECS.get(self.encoding or DEFAULT_ENCODING)
        if chosen is None:
            self.fail(400, {"error": "Invalid content type, UTF-8 required"})
        if _codec_name(charset) not in chosen:
            self.fail(400, {"error": f"Invalid content type, UTF-8 or {self.encoding} required"})

    def _multipart_form(self) -> MultipartUpload | None:
        """The parser of a ``multipart/form-data`` body; None for a raw upload."""
        if not self._content_type or media_type(self._content_type) != "multipart/form-data":
            return None
        boundary = parameters(self._content_type).get("boundary", "").rstrip()
        if not boundary:
            self.fail(400, {"error": INVALID_MULTIPART})
        try:
            return MultipartUpload(boundary)
        except FormParserError:  # e.g. a boundary longer than RFC 2046 allows
            self.fail(400, {"error": INVALID_MULTIPART})

    async def _target_group(self, group_id: str | None) -> int | None:
        """Our decision 2: a missing, deleted or foreign target group is 404 at POST."""
        if group_id is None:
            return None
        group_key = parse_id(group_id)
        group = await self.store.get_group(group_key) if group_key else None
        if (
            group is None
            or group.workflow_state == "deleted"
            or group.context != ContextRef.of(self.context)
        ):
            self.fail(404, errors.NOT_FOUND)
        return group.id

    async def _reserve_key(self) -> None:
        """An ``Idempotency-Key`` is the user's for a day: reserve it for this request, or
        find the earlier request's import. While that request still uploads: 409; when it
        was made in another context or for another target group: 422 before the body is read
        (the parameters and the file are compared once it has been)."""
        key = self.request.headers.get("Idempotency-Key")
        if key is None:
            return
        if not IDEMPOTENCY_KEY.fullmatch(key):
            self.fail(400, {"error": "Invalid Idempotency-Key: it must be 1 to 255 visible "
                                     "ASCII characters"})
        claim = KeyClaim(self.user.id, key, secrets.token_hex(16))
        request = KeyedRequest(ContextRef.of(self.context), self.target_group_id)
        now = utcnow()
        held = await self.store.reserve_key(
            claim, request, now - KEY_LIFETIME, now - KEY_ABANDONED_AFTER
        )
        if held is None:
            self.key_claim, self.key_renewed_at = claim, time.monotonic()
            return
        if held.outcome_import_id is None:
            self.fail(409, {"errors": [{"message": (
                "A request with this Idempotency-Key is still uploading; retry once it has "
                "been answered"
            )}]})
        self.replayed = held
        self._check_same_request(held.request, request)

    def _check_same_request(self, held: KeyedRequest, request: KeyedRequest) -> None:
        """422 naming the first thing in which ``request`` differs from the key's first one
        (the parameters and the file only once both are known)."""
        differences = (
            ("context", held.context != request.context),
            ("target group", held.learning_outcome_group_id != request.learning_outcome_group_id),
            ("import_type, encoding or dry_run", request.parameters is not None
                and held.parameters != request.parameters),
            ("file", request.body_sha256 is not None and held.body_sha256 != request.body_sha256),
        )
        for what, differs in differences:
            if differs:
                self.fail(422, {"errors": [{"message": (
                    f"This Idempotency-Key was used for a different request (another {what})"
                )}]})

    async def _check_queue(self) -> None:
        """Past ``max_queued_imports`` waiting in the root account: 429 before the body is
        read. post() checks again as it queues, where concurrent uploads are counted too."""
        root = self.context.root_account_id
        if await self.store.count_queued_imports(root) >= self.plugin_settings.max_queued_imports:
            self.fail(429, self.queue_full())

    def _check_content_length(self) -> None:
        """A declared length over the cap is refused before the body is read; a chunked body
        is counted as it arrives (``data_received``)."""
        length = self.request.headers.get("Content-Length")
        # Over 19 digits is over any cap (and int() refuses 4,300 digits).
        if length is not None and length.isdigit() and (
            len(length) > 19 or int(length) > self._cap
        ):
            self.fail(413, too_large(self._cap))

    @property
    def _cap(self) -> int:
        return self.plugin_settings.max_upload_bytes


    async def data_received(self, chunk: bytes) -> None:
        if self.refused:
            return
        assert self.upload is not None
        try:
            await self.upload.feed(chunk)
        except UploadRefused as refused:
            # Answer while the body is still arriving. Tornado then closes the connection
            # rather than read the rest; raising here instead would only be logged.
            self.refused = True
            self.send_json(refused.body, refused.status)
            return
        if self.key_claim is not None:
            await self._renew_key(self.key_claim)

    async def _renew_key(self, claim: KeyClaim) -> None:
        now = time.monotonic()
        if now - self.key_renewed_at >= KEY_RENEWAL_SECONDS:
            self.key_renewed_at = now
            await self.store.renew_key(claim)

    def finish(self, chunk: str | bytes | dict[Any, Any] | None = None) -> asyncio.Future[None]:
        # An answer before the whole body was read (any refusal of prepare() or _refuse, a
        # write_error) makes Tornado close the connection rather than read the rest: say so
        # (RFC 9112 section 9.6), or a keep-alive client sends its next request into a
        # closed socket. Tornado adds the header itself only when it knew before answering.
        if not self.body_read:
            self.set_header("Connection", "close")
        return super().finish(chunk)

    async def post(self, *_: str) -> None:
        self.body_read = True
        if self.refused:
            return
        assert self.upload is not None
        if self.upload.form is not None:
            self._finish_form(self.upload.form)
        import_type = self.import_type or DEFAULT_IMPORT_TYPE
        keyed = self._keyed_request(import_type)
        if self.replayed is not None:
            await self._answer_replay(self.replayed, keyed)
            return
        attachment = await self.upload.commit(*self._upload_name(self.upload.form))
        new = NewImport(
            context=ContextRef.of(self.context),
            root_account_id=self.context.root_account_id,
            import_type=import_type,
            user_id=self.user.id,
            learning_outcome_group_id=self.target_group_id,
            encoding=self.encoding or DEFAULT_ENCODING,
            dry_run=bool(self.dry_run),
        )
        key = (self.key_claim, keyed) if self.key_claim is not None else None
        try:
            outcome_import = await self.queue.create_import(new, attachment, key)
        except ImportQueueFull:
            await self.store.delete_attachment(attachment.id)
            self.fail(429, self.queue_full())
        except KeyTakenOver:
            await self.store.delete_attachment(attachment.id)
            self.key_claim = None  # not ours any more: nothing to release
            self.fail(409, {"errors": [{"message": (
                "This request's upload stalled and another request took over its "
                "Idempotency-Key; nothing was stored"
            )}]})
        self.key_claim = None  # bound to the import: nothing to release
        self.send_json(await self.import_json(outcome_import))

    def _keyed_request(self, import_type: str) -> KeyedRequest:
        """The whole request, as an ``Idempotency-Key`` compares it."""
        assert self.upload is not None
        parameters = json.dumps({
            "dry_run": bool(self.dry_run),
            "encoding": self.encoding or DEFAULT_ENCODING,
            "import_type": import_type,
        }, sort_keys=True)
        digest = self.upload.digest
        return KeyedRequest(
            ContextRef.of(self.context),
            self.target_group_id,
            parameters,
            digest.hexdigest() if digest is not None else None,
        )

    async def _answer_replay(self, replayed: StoredKey, request: KeyedRequest) -> None:
        """The same request again: the import the first one created, as it is now."""
        self._check_same_request(replayed.request, request)
        assert replayed.outcome_import_id is not None
        found = await self.store.get_import(request.context, replayed.outcome_import_id)
        if found is None:  # its context's imports cannot be deleted: not expected
            self.fail(404, {"message": "The import of this Idempotency-Key is gone"})
        self.send_json(await self.import_json(found))

    def _finish_form(self, form: MultipartUpload) -> None:
        """What only the whole multipart body tells: that it was complete, and its
        ``import_type`` and ``encoding`` fields when the query had none."""
        if not form.complete:
            self.fail(400, {"error": INVALID_MULTIPART})
        if self.import_type is None and "import_type" in form.fields:
            self.import_type = form.fields["import_type"]
            self._check_import_type(self.import_type)
        if self.encoding is None:
            self.encoding = self._checked_encoding(form.fields.get("encoding"))
        if self.dry_run is None:
            self.dry_run = self._checked_dry_run(form.fields.get("dry_run"))

    def _upload_name(self, form: MultipartUpload | None) -> tuple[str, str]:
        """The stored filename and content type.

        Multipart: the ``attachment`` part's. A multipart body without that part stores an
        empty file (the import then fails ``File has no data``): Canvas would store the raw
        multipart bytes instead, which is never what the client meant. Raw: Canvas's
        ``outcome_import.<extension>`` and the type guessed from it, or the request's media
        type without parameters.
        """
        if form is not None:
            return (
                form.filename or DEFAULT_FILENAME,
                form.content_type or "application/octet-stream",
            )
        extension = self.get_query_argument("extension", None)
        if extension is not None:
            filename = f"outcome_import.{extension}"
            return filename, mimetypes.guess_type(filename)[0] or "application/octet-stream"
        raw_type = (
            media_type(self._content_type) if self._content_type else "application/octet-stream"
        )
        return f"outcome_import.{RAW_UPLOAD_EXTENSIONS.get(raw_type, 'csv')}", raw_type

    def on_finish(self) -> None:
        self._discard_upload()

    def on_connection_close(self) -> None:
        super().on_connection_close()  # fails the body future, so _execute stops waiting
        self._discard_upload()

    def _discard_upload(self) -> None:
        if self.upload is not None:
            self.upload.discard()
        if self.key_claim is not None:  # refused, failed or left before an import was made
            claim, self.key_claim = self.key_claim, None
            tornado.ioloop.IOLoop.current().add_callback(self.store.release_key, claim)


class ShowImportHandler(ImportHandler):
    """``GET /api/v1/:context/outcome_imports/:id`` (``:id`` may be ``latest``); its route is
    ``api.undo``'s, which adds ``DELETE``."""

    async def get(self, segment: str, context_id: str, import_id: str) -> None:
        outcome_import = await self.find_import(segment, context_id, import_id)
        self.send_json(await self.import_json(outcome_import))


class CreatedGroupIdsHandler(ShowImportHandler):
    """``GET /api/v1/:context/outcome_imports/:id/created_group_ids``."""

    async def get(self, segment: str, context_id: str, import_id: str) -> None:
        outcome_import = await self.find_import(segment, context_id, import_id)
        if outcome_import.workflow_state == "failed":
            self.fail(404, {"message": "Import has failed"})
        if outcome_import.workflow_state != "succeeded":
            self.fail(404, {"message": "Import is still being processed"})
        # A dry run's stamps were rolled back: it created nothing.
        group_ids = [] if outcome_import.dry_run else (
            await self.store.created_group_ids(outcome_import.id)
        )
        self.send_json([str(group_id) for group_id in group_ids])


class ImportErrorsHandler(ShowImportHandler):
    """``GET /api/v1/:context/outcome_imports/:id/errors``: every ``[row, message]`` pair, by
    row, a page at a time (the read API's pagination). Found and authorized as the status is."""

    async def get(self, segment: str, context_id: str, import_id: str) -> None:
        outcome_import = await self.find_import(segment, context_id, import_id)
        page = self.page()
        found, total = await self.store.import_errors(outcome_import.id, page.slice)
        self.send_page([[row, message] for row, message in found], page, total)


class ImportErrorsCsvHandler(ShowImportHandler):
    """``GET /api/v1/:context/outcome_imports/:id/errors.csv``: every error as a CSV file,
    streamed: a chunk of errors is read, written and flushed (which waits for the client)
    before the next is read, so memory holds one chunk however many errors there are."""

    async def get(self, segment: str, context_id: str, import_id: str) -> None:
        outcome_import = await self.find_import(segment, context_id, import_id)
        self.set_header("Content-Type", "text/csv; charset=utf-8")
        self.set_header(
            "Content-Disposition",
            f'attachment; filename="outcome_import_{outcome_import.id}_errors.csv"',
        )
        text = io.StringIO()
        rows = csv.writer(text)
        rows.writerow(("row", "message"))
        chunks = self.store.import_error_chunks(outcome_import.id, ERRORS_CSV_CHUNK)
        try:
            async with aclosing(chunks):
                async for chunk in chunks:
                    rows.writerows(chunk)
                    self.write(text.getvalue())
                    text.seek(0)
                    text.truncate()
                    await self.flush()
        except tornado.iostream.StreamClosedError:
            return  # the client left: nothing more to send
        self.finish(text.getvalue())


def context_of(segment: str, context_id: str) -> ContextRef | None:
    """The context a URL names, when its id is a plain one (the host may resolve others)."""
    key = parse_id(context_id)
    return ContextRef(CONTEXT_TYPES[segment], key) if key else None


async def _settle(read: asyncio.Future[Any] | None) -> None:
    """Wait for a read whose answer is not needed, whatever it ends with."""
    if read is not None:
        await asyncio.gather(read, return_exceptions=True)


def too_large(cap: int) -> dict[str, str]:
    return {"error": f"The upload is larger than the limit of {cap} bytes"}


def _codec_name(charset: str) -> str:
    """The name of Python's codec a charset names (``latin1`` and ``ISO-8859-1`` are both
    ``latin_1``), from the standard library's table of aliases. Not ``codecs.lookup``: it
    caches every spelling it resolves, and these come from clients."""
    name = normalize_encoding(charset.lower())
    return aliases.get(name, name)


ROUTES = [
    (rf"{CONTEXT}/outcome_imports(?:/group/([^/]+))?", CreateImportHandler),
    (rf"{CONTEXT}/outcome_imports/([^/]+)/created_group_ids", CreatedGroupIdsHandler),
    (rf"{CONTEXT}/outcome_imports/([^/]+)/errors", ImportErrorsHandler),
    (rf"{CONTEXT}/outcome_imports/([^/]+)/errors\.csv", ImportErrorsCsvHandler),
]
