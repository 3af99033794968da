"""Canvas's Outcome Imports API: create (streamed upload), show, created_group_ids."""

from __future__ import annotations

import mimetypes
from email.message import Message
from typing import Any

import tornado.ioloop
import tornado.web

from hooks.host import IMPORT_OUTCOMES, MANAGE_OUTCOMES
from lms_outcomes_plugin.api import errors
from lms_outcomes_plugin.api.base import ApiHandler
from lms_outcomes_plugin.formats import DEFAULT_IMPORT_TYPE
from lms_outcomes_plugin.models import ContextRef, NewImport, OutcomeImport
from lms_outcomes_plugin.storage import AttachmentWriter

CONTEXT = r"/api/v1/(accounts|courses)/([^/]+)"
RAW_UPLOAD_EXTENSIONS = {"text/plain": "csv", "text/csv": "csv"}


class ImportJsonMixin(ApiHandler):
    async def import_json(self, outcome_import: OutcomeImport) -> dict[str, Any]:
        body = outcome_import.as_json()
        if outcome_import.user_id is not None:
            user = await self.service.host.user_json(outcome_import.user_id)
            if user is not None:
                body["user"] = dict(user)
        return body


@tornado.web.stream_request_body
class CreateImportHandler(ImportJsonMixin):
    """``POST /api/v1/:context/outcome_imports[/group/:learning_outcome_group_id]``.

    Everything that can refuse the request is checked in ``prepare()``, before a byte of the
    body is read; the body then streams into the store's attachment space.
    """

    writer: AttachmentWriter | None = None
    committed = False

    async def prepare(self) -> None:
        segment, context_id, group_id = self.path_args
        await self.authorize(segment, context_id, IMPORT_OUTCOMES)
        self.import_type = self.get_query_argument("import_type", DEFAULT_IMPORT_TYPE)
        if self.import_type not in self.service.formats:
            valid = ", ".join(self.service.formats.names())
            self.fail(400, {"error": f"Invalid import_type {self.import_type!r}; "
                                     f"valid import types: {valid}"})
        self.extension = self.get_query_argument("extension", None)
        if self.extension is None and not _charset_is_utf8(self.request.headers):
            self.fail(400, {"error": "Invalid content type, UTF-8 required"})
        self.target_group_id = await self._target_group(group_id)
        self._limit_body_size()
        self.writer = self.service.store.attachment_writer()

    async def _target_group(self, group_id: str | None) -> int | None:
        """SPEC decision 2: a missing, deleted or foreign target group is 404 at POST."""
        if group_id is None:
            return None
        group = await self.service.store.get_group(int(group_id)) if group_id.isdigit() else None
        if (
            group is None
            or group.workflow_state == "deleted"
            or group.context != ContextRef.of(self.context)
        ):
            self.fail(404, errors.NOT_FOUND)
        return group.id

    def _limit_body_size(self) -> None:
        cap = self.service.settings.max_upload_bytes
        length = self.request.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > cap:
            self.fail(413, {"error": f"The upload is larger than the limit of {cap} bytes"})
        self.request.connection.set_max_body_size(cap)  # type: ignore[union-attr]

    async def data_received(self, chunk: bytes) -> None:
        assert self.writer is not None
        await self.writer.write(chunk)

    async def post(self, *_: str) -> None:
        assert self.writer is not None
        filename, content_type = self._upload_name()
        attachment = await self.writer.commit(filename, content_type)
        self.committed = True
        outcome_import = await self.service.create_import(
            NewImport(
                context=ContextRef.of(self.context),
                root_account_id=self.context.root_account_id,
                import_type=self.import_type,
                user_id=self.user.id,
                learning_outcome_group_id=self.target_group_id,
            ),
            attachment,
        )
        self.send_json(await self.import_json(outcome_import))

    def _upload_name(self) -> tuple[str, str]:
        """Canvas's names for a raw upload: ``outcome_import.<extension>`` and the type."""
        if self.extension is not None:
            filename = f"outcome_import.{self.extension}"
            return filename, mimetypes.guess_type(filename)[0] or "application/octet-stream"
        media_type = _media_type(self.request.headers) or "application/octet-stream"
        return f"outcome_import.{RAW_UPLOAD_EXTENSIONS.get(media_type, 'csv')}", media_type

    def on_finish(self) -> None:
        self._discard_upload()

    def on_connection_close(self) -> None:
        self._discard_upload()

    def _discard_upload(self) -> None:
        if self.writer is not None and not self.committed:
            writer, self.writer = self.writer, None
            tornado.ioloop.IOLoop.current().add_callback(writer.abort)


class ShowImportHandler(ImportJsonMixin):
    """``GET /api/v1/:context/outcome_imports/:id`` (``:id`` may be ``latest``)."""

    async def get(self, segment: str, context_id: str, import_id: str) -> None:
        outcome_import = await self.find_import(segment, context_id, import_id)
        self.send_json(await self.import_json(outcome_import))

    async def find_import(self, segment: str, context_id: str, import_id: str) -> OutcomeImport:
        await self.authorize(segment, context_id, IMPORT_OUTCOMES, MANAGE_OUTCOMES)
        context = ContextRef.of(self.context)
        store = self.service.store
        if import_id == "latest":
            found = await store.get_latest_import(context)
        else:
            found = await store.get_import(context, int(import_id)) if import_id.isdigit() else None
        if found is None:
            self.fail(404, {"message": f"Couldn't find OutcomeImport with 'id'={import_id}"})
        return found


class CreatedGroupIdsHandler(ShowImportHandler):
    """``GET /api/v1/:context/outcome_imports/:id/created_group_ids``."""

    async def get(self, segment: str, context_id: str, import_id: str) -> None:
        outcome_import = await self.find_import(segment, context_id, import_id)
        if outcome_import.workflow_state == "failed":
            self.fail(404, {"message": "Import has failed"})
        if outcome_import.workflow_state != "succeeded":
            self.fail(404, {"message": "Import is still being processed"})
        group_ids = await self.service.store.created_group_ids(outcome_import.id)
        self.send_json([str(group_id) for group_id in group_ids])


def _content_type(headers: Any) -> Message | None:
    """The Content-Type header parsed by the standard library (media type and parameters)."""
    value = headers.get("Content-Type")
    if not value:
        return None
    message = Message()
    message["Content-Type"] = value
    return message


def _media_type(headers: Any) -> str | None:
    parsed = _content_type(headers)
    return parsed.get_content_type() if parsed else None


def _charset_is_utf8(headers: Any) -> bool:
    """Canvas refuses a raw upload whose charset parameter is present and not UTF-8."""
    parsed = _content_type(headers)
    charset = parsed.get_param("charset") if parsed else None
    return not isinstance(charset, str) or charset.lower() == "utf-8"


ROUTES = [
    (rf"{CONTEXT}/outcome_imports(?:/group/([^/]+))?", CreateImportHandler),
    (rf"{CONTEXT}/outcome_imports/([^/]+)", ShowImportHandler),
    (rf"{CONTEXT}/outcome_imports/([^/]+)/created_group_ids", CreatedGroupIdsHandler),
]
