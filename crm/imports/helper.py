"""A forked process that cleans a share of a job's rows while the worker cleans the rest.

Cleaning rows is Python, one core's work; the machine has two (PostgreSQL, storing the checked rows, needs less
than one). The helper is forked from the worker once the job's rows are ready to be read, so it has everything
the worker has (the resource's context, the shared strings of the workbook), and writes the COPY text of its rows
to an unnamed temporary file, which the worker reads as it grows: only the worker talks to the database, and the
rows go into the worker's one COPY and transaction, as if it had cleaned them itself. (A pipe read by a thread of
the worker's was tried first: that thread got the interpreter only every few milliseconds, the pipe filled, and
the helper waited a third of its time.)

The helper holds none of the worker's files and connections (crm.imports.services refuses any query during the
COPY anyway), leaves with os._exit, so that nothing of the worker's is closed or flushed by the copy of it, and is
killed when the worker dies.
"""

import ctypes
import gc
import os
import signal
import struct
import tempfile
import time
from collections.abc import Callable, Iterator

from .files import FileProblem

_FRAME = struct.Struct("<qq")  # length of the text, rows in it (or one of the marks below)
_END, _PROBLEM, _FAILURE = -1, -2, -3


class Helper:
    """``produce()`` runs in a forked process; its (COPY text, row count) pairs come back through ready() and
    rest()."""

    def __init__(self, produce: Callable[[], Iterator[tuple[str, int]]]):
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        self._read = 0  # how far the worker has read the file
        self._pending = b""  # a frame read in part
        self._done = self._reaped = False
        self.pid = os.fork()
        if self.pid == 0:  # the helper
            # No cyclic garbage collection: the rows' objects are freed as they go, and a collection would walk,
            # and so copy page by page, the whole heap inherited from the worker.
            gc.disable()
            _cut_loose(self._file.fileno())
            _run(produce, self._file.fileno())

    def ready(self) -> Iterator[tuple[bytes, int]]:
        """The frames the helper has written so far."""
        if self._done:
            return
        data = os.pread(self._file.fileno(), 1 << 26, self._read)
        self._read += len(data)
        data, offset = self._pending + data, 0
        while len(data) - offset >= _FRAME.size:
            length, count = _FRAME.unpack_from(data, offset)
            end = offset + _FRAME.size + max(length, 0)
            if end > len(data):
                break
            text, offset = data[offset + _FRAME.size:end], end
            if self._finished(text, count):
                break
            yield text, count
        self._pending = data[offset:]

    def rest(self) -> Iterator[tuple[bytes, int]]:
        """Every frame still to come, until the helper is done."""
        while not self._done:
            yield from self.ready()
            if self._done:
                break
            pid, _status = os.waitpid(self.pid, os.WNOHANG)
            if pid:  # ended: what it wrote is all there is
                self._reaped = True
                yield from self.ready()
                if not self._done:
                    raise RuntimeError("the import's helper process stopped before it was done")
                break
            time.sleep(0.002)

    def stop(self) -> None:
        """End the helper, done or not (the worker gave up on the rows), and drop its file."""
        if not self._reaped:  # once reaped, its number may belong to another process
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass
            self._reaped = True
        self._file.close()

    def _finished(self, text: bytes, count: int) -> bool:
        if count == _PROBLEM:
            raise FileProblem(text.decode())
        if count == _FAILURE:
            raise RuntimeError(f"the import's helper process failed: {text.decode()[-2000:]}")
        self._done = count == _END
        return self._done


def _cut_loose(keep: int) -> None:
    """In the helper: hold none of the worker's files and connections but its own file, so that the worker's
    database session ends with the worker, and end with the worker too."""
    os.closerange(3, keep)
    os.closerange(keep + 1, os.sysconf("SC_OPEN_MAX"))
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: killed when the worker dies (Linux)
    except (OSError, AttributeError):
        pass


def _run(produce, fd: int) -> None:
    status = 0

    def write(data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]

    try:
        try:
            batch, size = [], 0
            for text, count in produce():
                data = text.encode()
                batch.append(_FRAME.pack(len(data), count) + data)
                size += len(data)
                if size >= 1 << 20:  # a megabyte at a time: fewer, larger writes
                    write(b"".join(batch))
                    batch, size = [], 0
            write(b"".join(batch) + _FRAME.pack(0, _END))
        except FileProblem as problem:
            message = str(problem).encode()
            write(_FRAME.pack(len(message), _PROBLEM) + message)
        except Exception as error:  # noqa: BLE001 - reported to the worker, which fails the job
            message = repr(error).encode()
            write(_FRAME.pack(len(message), _FAILURE) + message)
    except BaseException:  # noqa: BLE001 - nothing left to tell anyone (the disk is full, the worker gone)
        status = 1
    finally:
        os._exit(status)  # never return into the worker's code, nor close its connections
