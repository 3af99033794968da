"""Where import formats parse: in a child process by default.

Parsing is most of an import's Python work. In a child process it runs on the machine's second
core, beside the IOLoop that plans and writes the batches, and never competes with it for the
GIL, so status requests stay fast during a large import. The child keeps each import's parse
generator between calls and hands over one batch per call; the next batch is always requested
before the current one is applied, so parsing and writing overlap.

With ``in_process=False`` the same functions run in one worker thread instead (for hosts that
cannot start processes).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import multiprocessing
import multiprocessing.util
import os
import signal
import threading
import traceback
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing.process import BaseProcess

from lms_outcomes_plugin.formats import FormatOptions, ImportFormat
from lms_outcomes_plugin.records import DataFormatError, FormatOutput, ParsedItem, Progress

log = logging.getLogger("lms_outcomes_plugin.imports")


@dataclass(frozen=True, slots=True)
class ParsedBatch:
    items: list[ParsedItem]
    #: How far the format has read the file, in bytes, and the file's size (for progress).
    position: int
    size: int

    @property
    def progress(self) -> int:
        """A percentage below 100: 100 is set when the import ends."""
        return min(99, self.position * 100 // self.size) if self.size else 0


class _WorkerFile(io.BufferedReader):
    """The upload as a format sees it. A format may close it, or let a wrapper close it (an
    ``io.TextIOWrapper`` closes its buffer when it is collected, at the end of the format's
    generator): the file stays open for the worker, which reads its position for progress and
    closes it with :meth:`release`."""

    def close(self) -> None:
        """Leaves the file open (see the class)."""

    def _dealloc_warn(self, source: object) -> None:
        """A wrapper collected before its buffer is closed has CPython warn that the file was
        left open (ResourceWarning): here that is the point, so no warning."""

    def release(self) -> None:
        super().close()


@dataclass(slots=True)
class _Job:
    source: _WorkerFile
    items: Iterator[FormatOutput]
    batch_size: int
    size: int
    #: The format's latest Progress; while it has reported none, progress is bytes read.
    progress: Progress | None = None

    def take(self) -> list[ParsedItem]:
        """The next ``batch_size`` items the engine applies, noting Progress on the way."""
        batch: list[ParsedItem] = []
        for item in self.items:
            if isinstance(item, Progress):
                self.progress = item
                continue
            batch.append(item)
            if len(batch) >= self.batch_size:
                break
        return batch

    def position(self) -> tuple[int, int]:
        """How far the format is, and out of how much (for progress)."""
        if self.progress is None:
            return self.source.tell(), self.size
        return self.progress.done, self.progress.total


#: The worker's CPU priority below the host's. When both want a core, the host gets it: its
#: IOLoop and threads (planning, writing, answering requests) are an import's critical path,
#: while the worker, a batch ahead, parses in the time left over.
WORKER_NICENESS = 10
#: A Unix socket's path holds at most 107 bytes (Linux); the forkserver's socket is
#: ``/listener-XXXXXXXX`` in multiprocessing's temporary folder.
MAX_SOCKET_PATH = 107
FORKSERVER_SOCKET_NAME = len("/listener-XXXXXXXX")

#: The jobs of this process (the worker's, or the host's in thread mode), by id.
_jobs: dict[str, _Job] = {}


def open_upload(path: str) -> _WorkerFile:
    """The upload at ``path``, as formats get it."""
    return _WorkerFile(io.FileIO(path, "rb"))


def _start(job_id: str, import_format: ImportFormat, path: str, options: FormatOptions,
           batch_size: int) -> None:
    source = open_upload(path)
    try:
        _jobs[job_id] = _Job(source, import_format.parse(source, options), batch_size,
                             os.fstat(source.fileno()).st_size)
    except BaseException:
        source.release()
        raise


class ParseFailed(Exception):
    """A format raised something other than DataFormatError (its type and traceback are in
    the message: the exception itself may not survive the trip between processes)."""


def _next(job_id: str) -> ParsedBatch | None:
    """The job's next batch (the first call raises the format's DataFormatError, if any).

    Whatever a format raises crosses back as a plain DataFormatError or ParseFailed: an
    exception that cannot be unpickled would break the worker for every running import.
    """
    job = _jobs[job_id]
    try:
        items = job.take()
    except DataFormatError as error:
        raise DataFormatError(str(error)) from None
    except Exception:
        raise ParseFailed(traceback.format_exc()) from None
    return ParsedBatch(items, *job.position()) if items else None


def _load(formats: list[ImportFormat]) -> None:
    """Nothing to do: unpickling the formats imported their modules into the worker."""


def _close(job_id: str) -> None:
    job = _jobs.pop(job_id, None)
    if job is not None:
        job.source.release()


def _start_worker() -> None:
    """The worker's initializer."""
    if hasattr(os, "nice"):
        os.nice(WORKER_NICENESS)
    _exit_with_parent()


def _exit_with_parent() -> None:
    """A SIGKILLed host cannot shut its worker down, so the worker ends itself when the host
    does rather than live on as an orphan."""
    parent = multiprocessing.parent_process()
    if parent is not None:
        watch = threading.Thread(
            target=_exit_after, args=(parent,), daemon=True, name="lms-outcomes-parent-watch"
        )
        watch.start()


def _exit_after(parent: BaseProcess) -> None:
    # Blocks on multiprocessing's parent sentinel: a pipe whose write end only the host holds,
    # so it reads end-of-file once the host is gone, however it died.
    parent.join()
    os._exit(1)


def _start_method() -> str:
    """forkserver where there is one: a worker is then a fork of a single-threaded server
    started once per host process, which has imported the host's main module already, so a
    later worker (another host's in the process, or one after a crash) starts sooner than a
    spawned one, which imports everything again. Never a plain fork: the host has threads
    (aiosqlite's) that a fork would copy mid-lock. Elsewhere, spawn; and spawn too where the
    forkserver's socket would not fit in a Unix socket's path (a long TMPDIR), where it cannot
    start."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return "spawn"
    folder = os.fsencode(multiprocessing.util.get_temp_dir())
    return "forkserver" if len(folder) + FORKSERVER_SOCKET_NAME <= MAX_SOCKET_PATH else "spawn"


def _report_warm_up(done: Future[None]) -> None:
    # A format that cannot be pickled fails here and again, with a clear error, at its import.
    if not done.cancelled() and done.exception() is not None:
        log.debug("warming up the parse worker failed", exc_info=done.exception())


class Parsers:
    """The plugin's parse worker: one child process (or thread), started at the first import
    and shut down with the plugin."""

    def __init__(self, in_process: bool = True) -> None:
        self._in_process = in_process
        self._executor: Executor | None = None
        #: The worker process's id, asked of it first thing (to kill it if it hangs).
        self._worker_pid: Future[int] | None = None
        #: Done once the current worker process has started with the formats' modules; and
        #: those formats, to warm up the worker that replaces a hung one.
        self._warm: Future[None] | None = None
        self._formats: list[ImportFormat] = []

    def _worker(self) -> Executor:
        if self._executor is None:
            if self._in_process:
                context = multiprocessing.get_context(_start_method())
                self._executor = ProcessPoolExecutor(
                    1, mp_context=context, initializer=_start_worker
                )
                self._worker_pid = self._executor.submit(os.getpid)
            else:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="lms-outcomes-parse")
        return self._executor

    def warm_up(self, formats: Iterable[ImportFormat]) -> None:
        """Start the worker process now, with the formats' modules imported (an upload is on
        its way), so the first import does not wait for the worker to start."""
        if self._in_process and self._executor is None:
            self._formats = list(formats)
            self._warm = self._worker().submit(_load, self._formats)
            self._warm.add_done_callback(_report_warm_up)

    async def ready(self) -> None:
        """Wait for a worker process that is starting (warmed up for an upload, or replacing
        a hung one) to have started: the runner claims an import only then, so that the
        import's time without progress (the stall watchdog's) does not count the start."""
        if self._executor is not None and self._warm is not None:
            await asyncio.gather(asyncio.wrap_future(self._warm), return_exceptions=True)

    async def batches(self, import_format: ImportFormat, path: str, options: FormatOptions,
                      batch_size: int) -> AsyncIterator[ParsedBatch]:
        """The file's records a batch at a time; close it (``contextlib.aclosing``) to stop."""
        loop, worker, job = asyncio.get_running_loop(), self._worker(), uuid.uuid4().hex
        pending: asyncio.Future[ParsedBatch | None] | None = None
        try:
            await loop.run_in_executor(worker, _start, job, import_format, path, options,
                                       batch_size)
            pending = loop.run_in_executor(worker, _next, job)
            while (batch := await pending) is not None:
                pending = loop.run_in_executor(worker, _next, job)  # parse while applying
                yield batch
        except BrokenProcessPool:
            self._executor = None  # a worker died: the next import starts a new one
            raise
        finally:
            await self._finish(worker, job, pending)

    async def _finish(self, worker: Executor, job: str,
                      pending: asyncio.Future[ParsedBatch | None] | None) -> None:
        loop = asyncio.get_running_loop()
        if pending is not None:
            await asyncio.gather(pending, return_exceptions=True)
        if worker is not self._executor:
            return
        if pending is not None and pending.cancelled():
            # The import was cancelled (shutdown, or the stall watchdog) while the worker may be
            # inside this job for good: a format that never returns would hold every later
            # import's parsing. Replace the worker.
            self._replace_worker()
            return
        await loop.run_in_executor(worker, _close, job)

    def _replace_worker(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            self._kill_worker()
            executor.shutdown(wait=False, cancel_futures=True)
            self.warm_up(self._formats)  # the next import should not wait for it

    async def close(self, kill_after: float | None = None) -> None:
        """Shut the worker down; a worker still busy after ``kill_after`` seconds (a format
        that never returns) is killed."""
        if self._executor is None:
            return
        executor, self._executor = self._executor, None
        shutdown = asyncio.ensure_future(
            asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)
        )
        done, _ = await asyncio.wait({shutdown}, timeout=kill_after)
        if not done:
            log.warning("the parse worker did not stop within %ss: killing it", kill_after)
            self._kill_worker()
            await shutdown

    def _kill_worker(self) -> None:
        pid = self._worker_pid
        if pid is not None and pid.done() and not pid.exception():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid.result(), signal.SIGKILL)
